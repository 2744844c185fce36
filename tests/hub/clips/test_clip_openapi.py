"""The clip routes of the OpenAPI document against a running add-on: every documented status
of every clip route is produced, each answer matching the document (PROTOCOL.md section 7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from rtcc_hub.timefmt import rfc3339
from tests.hub.city.test_openapi import load_document, operations
from tests.hub.city.test_openapi_live import Prober
from tests.support.faults import DISK_FULL

from .conftest import EPOCH
from .test_clip_api import Clips, clips  # noqa: F401 - the fixture

DOCUMENT = load_document()
CLIP_ROUTES = {(method, path) for method, path, _ in operations(DOCUMENT) if "/clips" in path}


@pytest.fixture
async def prober(clips: Clips) -> AsyncIterator[Prober]:  # noqa: F811
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Prober(session, clips.url)


async def _ready(prober: Prober, base: str, clip_id: str, token: str) -> dict[str, Any]:
    for _ in range(600):
        status, body = await prober.call("GET", f"{base}/clips/{clip_id}", token=token)
        assert status == 200
        answer: dict[str, Any] = __import__("json").loads(body)
        if answer["status"] != "preparing":
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError("never finished")


async def test_every_documented_clip_status_is_produced(clips: Clips, prober: Prober) -> None:  # noqa: F811
    import json

    call = prober.call
    await clips.policy()
    unlock = await clips.unlock()
    token, base = unlock["access_token"], f"/api/v1/unlocks/{unlock['unlock_id']}"
    front, garden = (c["id"] for c in unlock["cameras"])
    post = f"{base}/cameras/{front}/clips"

    # 400, 401, 404 (a camera without clip), 403 (no clip in the granted scope).
    assert (await call("POST", post, token=token, json={"start": "when"}))[0] == 400
    assert (await call("POST", post, token="wrong"))[0] == 401
    assert (await call("POST", f"{base}/cameras/{garden}/clips", token=token))[0] == 404
    snapshot_only = await clips.unlock(scope=["snapshot"])
    other = f"/api/v1/unlocks/{snapshot_only['unlock_id']}/cameras/{snapshot_only['cameras'][0]['id']}/clips"
    assert (await call("POST", other, token=snapshot_only["access_token"]))[0] == 403

    # 202, then 200 (status) and 200 (video) once ready; 401, 404 for status.
    status, body = await call("POST", post, token=token, json={"end": rfc3339(EPOCH + 20)})
    assert status == 202
    ready = await _ready(prober, base, json.loads(body)["clip_id"], token)
    assert ready["status"] == "ready"
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}/video", token=token))[0] == 200
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}", token="wrong"))[0] == 401
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}/video", token="wrong"))[0] == 401
    assert (await call("GET", f"{base}/clips/k_nope", token=token))[0] == 404

    # 404 for the video of a clip with nothing recorded.
    nothing = await clips.unlock(footage={"start": int(EPOCH) + 100, "end": int(EPOCH) + 160})
    nothing_base = f"/api/v1/unlocks/{nothing['unlock_id']}"
    status, body = await call(
        "POST",
        f"{nothing_base}/cameras/{nothing['cameras'][0]['id']}/clips",
        token=nothing["access_token"],
    )
    empty = await _ready(prober, nothing_base, json.loads(body)["clip_id"], nothing["access_token"])
    assert empty["status"] == "no_footage"
    assert (
        await call(
            "GET", f"{nothing_base}/clips/{empty['clip_id']}/video", token=nothing["access_token"]
        )
    )[0] == 404

    # 503: a write the request needs fails (the request's and the download's entries).
    clips.faults.error = DISK_FULL
    try:
        assert (await call("POST", post, token=token, json={"end": rfc3339(EPOCH + 14)}))[0] == 503
        assert (await call("GET", f"{base}/clips/{ready['clip_id']}/video", token=token))[0] == 503
    finally:
        clips.faults.error = None

    # 409 not ready and 429 busy while the recorder hangs.
    clips.frigate.set_mode("front_door", "hang")
    first = json.loads(
        (await call("POST", post, token=token, json={"end": rfc3339(EPOCH + 11)}))[1]
    )
    await call("POST", post, token=token, json={"end": rfc3339(EPOCH + 12)})
    assert (await call("POST", post, token=token, json={"end": rfc3339(EPOCH + 13)}))[0] == 429
    assert (await call("GET", f"{base}/clips/{first['clip_id']}/video", token=token))[0] == 409
    clips.frigate.set_mode("front_door", "ok")

    # 403 while paused, for status and video.
    await clips.policy(paused_until=rfc3339(clips.clock() + 3600))
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}", token=token))[0] == 403
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}/video", token=token))[0] == 403
    await clips.policy()

    # 410 once the unlock ended, on every clip route.
    assert (await call("DELETE", base, token=token))[0] == 204
    assert (await call("POST", post, token=token))[0] == 410
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}", token=token))[0] == 410
    assert (await call("GET", f"{base}/clips/{ready['clip_id']}/video", token=token))[0] == 410

    documented = {
        (method, path, status)
        for method, path, operation in operations(DOCUMENT)
        if (method, path) in CLIP_ROUTES
        for status in operation["responses"]
    }
    assert documented - prober.seen == set()
