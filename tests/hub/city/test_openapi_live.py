"""The OpenAPI document against the add-on itself: its routing table, and a running add-on
that must produce every documented status of every route, each answer matching the document
(Cache-Control, error code, and, where jsonschema is installed, the response schema)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from rtcc_hub.city.tokens import Area
from tests.hub.city.conftest import BACK, FRONT, LiveHub
from tests.hub.city.test_openapi import error_codes, load_document, operations, resolve

DOCUMENT = load_document()
DISK_FULL = "database or disk is full"


def _template_of(path: str) -> str:
    """The documented path template a concrete request path belongs to."""
    for template in DOCUMENT["paths"]:
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"undocumented path {path}")


@dataclass
class Prober:
    session: aiohttp.ClientSession
    base: str
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    async def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, headers=headers, **kwargs
        ) as response:
            if "multipart" in response.headers.get("Content-Type", ""):
                body = await response.content.readexactly(64)  # a first chunk is enough
            else:
                body = await response.read()
            check_against_document(method, path, response, body)
            self.seen.add((method.lower(), _template_of(path), str(response.status)))
            return response.status, body


def check_against_document(
    method: str, path: str, response: aiohttp.ClientResponse, body: bytes
) -> None:
    template = _template_of(path)
    documented = DOCUMENT["paths"][template][method.lower()]["responses"]
    status = str(response.status)
    assert status in documented, f"{method} {path} answered undocumented {status}: {body[:200]!r}"
    assert response.headers.get("Cache-Control") == "no-store"
    assert "Server" not in response.headers  # nothing names the software (section 3)
    spec = resolve(DOCUMENT, documented[status])
    for header in spec.get("headers", {}):
        assert header in response.headers, f"{method} {path} {status} lacks {header}"
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if "content" not in spec:
        assert body == b"", f"{method} {path} {status} must have no body"
        return
    assert media_type in spec["content"], f"{method} {path} {status}: {media_type}"
    if media_type != "application/json":
        return
    document = json.loads(body)
    schema = spec["content"][media_type]["schema"]
    if int(status) >= 400:
        codes = error_codes(DOCUMENT, spec)
        assert document["error"] in codes, (method, path, status, document)
        assert isinstance(document["message"], str)
    jsonschema = pytest.importorskip("jsonschema")
    wrapped = {"components": DOCUMENT["components"], **schema}
    jsonschema.Draft202012Validator(
        wrapped, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)


@pytest.fixture
async def prober(live_hub: LiveHub) -> AsyncIterator[Prober]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield Prober(session, live_hub.url)


async def test_routing_table_matches_the_document(live_hub: LiveHub) -> None:
    routes = {
        (route.method.value.lower(), "/" + "/".join(route.pattern))
        for route in live_hub.hub.router.routes
    }
    documented = {(method, path) for method, path, _ in operations(DOCUMENT)}
    assert routes == documented


async def test_served_document_is_this_document(prober: Prober) -> None:
    status, body = await prober.call("GET", "/api/v1/openapi.json")
    assert status == 200
    assert json.loads(body) == DOCUMENT


def _camera(unlock: dict[str, Any], label: str) -> str:
    return next(c["id"] for c in unlock["cameras"] if c["label"] == label)


async def test_every_documented_status_is_produced(live_hub: LiveHub, prober: Prober) -> None:
    call = prober.call
    assert (await call("GET", "/api/v1/health"))[0] == 200
    assert (await call("GET", "/api/v1/openapi.json"))[0] == 200

    # POST /unlocks: 400, 401, 201.
    assert (await call("POST", "/api/v1/unlocks", data=b"not json"))[0] == 400
    assert (await call("POST", "/api/v1/unlocks", data=b"x" * (17 * 1024)))[0] == 400
    assert (await call("POST", "/api/v1/unlocks", json={"token": "a.b.c"}))[0] == 401
    status, body = await call("POST", "/api/v1/unlocks", json={"token": live_hub.token()})
    assert status == 201
    snap_only = json.loads(body)
    assert snap_only["status"] == "active"
    uid, token = snap_only["unlock_id"], snap_only["access_token"]
    front = _camera(snap_only, "Front door")
    unlock_path = f"/api/v1/unlocks/{uid}"
    camera_path = f"{unlock_path}/cameras/{front}"

    # GET /unlocks/{id}: 200 (no ended_reason before the end), 401.
    status, body = await call("GET", unlock_path, token=token)
    assert status == 200 and "ended_reason" not in json.loads(body)
    assert (await call("GET", unlock_path, token="not-the-token"))[0] == 401

    # Snapshot: 200, 401, 404, 503; stream: 401, 403 (no stream in scope), 404.
    status, jpeg = await call("GET", camera_path + "/snapshot", token=token)
    assert status == 200
    assert jpeg.startswith(b"\xff\xd8")
    assert (await call("GET", camera_path + "/snapshot", token="wrong"))[0] == 401
    assert (await call("GET", f"{unlock_path}/cameras/c_nope/snapshot", token=token))[0] == 404
    assert (await call("GET", camera_path + "/stream", token="wrong"))[0] == 401
    assert (await call("GET", camera_path + "/stream", token=token))[0] == 403
    assert (await call("GET", f"{unlock_path}/cameras/c_nope/stream", token=token))[0] == 404
    live_hub.ha.set_mode(FRONT, "error")
    assert (await call("GET", camera_path + "/snapshot", token=token))[0] == 503
    live_hub.ha.set_mode(FRONT, "ok")

    # A live unlock: stream 200, and 503 when Home Assistant has no image.
    status, body = await call(
        "POST", "/api/v1/unlocks", json={"token": live_hub.token(scope=("snapshot", "stream"))}
    )
    live = json.loads(body)
    live_path = f"/api/v1/unlocks/{live['unlock_id']}/cameras/{_camera(live, 'Back yard')}"
    status, first = await call("GET", live_path + "/stream", token=live["access_token"])
    assert status == 200
    assert first.startswith(b"--")
    live_hub.ha.set_mode(BACK, "error")
    stream_503 = call("GET", live_path + "/stream", token=live["access_token"])
    assert (await asyncio.wait_for(stream_503, 15))[0] == 503
    live_hub.ha.set_mode(BACK, "ok")

    # 429 busy: a fifth stream of one camera in one unlock while four are open.
    async with contextlib.AsyncExitStack() as streams:
        for _ in range(4):
            response = await streams.enter_async_context(
                prober.session.get(
                    live_hub.url + live_path + "/stream",
                    headers={"Authorization": f"Bearer {live['access_token']}"},
                )
            )
            assert response.status == 200
        assert (await call("GET", live_path + "/stream", token=live["access_token"]))[0] == 429
    for _ in range(100):  # the add-on notices the clients gone at their next frame
        if not live_hub.hub.access.sessions:
            break
        await asyncio.sleep(0.05)

    # 503 unavailable: a write the request needs fails; nothing changes.
    live_hub.faults.error = DISK_FULL
    try:
        assert (await call("POST", "/api/v1/unlocks", json={"token": live_hub.token()}))[0] == 503
        for kind in ("snapshot", "stream"):
            status, body = await call("GET", f"{live_path}/{kind}", token=live["access_token"])
            assert (status, json.loads(body)["error"]) == (503, "unavailable")
        assert (await call("DELETE", unlock_path, token=token))[0] == 503
    finally:
        live_hub.faults.error = None
    assert json.loads((await call("GET", unlock_path, token=token))[1])["status"] == "active"

    # Declined: no access token, no cameras (PROTOCOL.md 3.1).
    status, body = await call(
        "POST", "/api/v1/unlocks", json={"token": live_hub.token(area=Area(0.0, 0.0, 500))}
    )
    declined = json.loads(body)
    assert status == 201 and declined["status"] == "declined"
    assert set(declined) == {"unlock_id", "status", "expires_at"}

    # Suspended (sharing paused): 403 not_active for snapshot and stream.
    until = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await live_hub.set_policy(paused_until=until)
    for kind in ("snapshot", "stream"):
        answer = await call("GET", f"{live_path}/{kind}", token=live["access_token"])
        assert answer[0] == 403
    await live_hub.set_policy()

    # DELETE: 401, 204; afterwards 410 gone.
    assert (await call("DELETE", unlock_path, token="wrong"))[0] == 401
    assert (await call("DELETE", unlock_path, token=token))[0] == 204
    assert (await call("GET", camera_path + "/snapshot", token=token))[0] == 410
    ended = json.loads((await call("GET", unlock_path, token=token))[1])
    assert (ended["status"], ended["ended_reason"]) == ("ended", "hub_closed")
    status, body = await call("DELETE", f"/api/v1/unlocks/{live['unlock_id']}",
                              token=live["access_token"])  # fmt: skip
    assert status == 204
    assert (await call("GET", live_path + "/stream", token=live["access_token"]))[0] == 410

    # Quota: 429 with Retry-After.
    await live_hub.set_policy(max_unlocks_per_week=1)
    status, _ = await call("POST", "/api/v1/unlocks", json={"token": live_hub.token()})
    assert status == 429

    documented = {
        (method, path, status)
        for method, path, operation in operations(DOCUMENT)
        if "/clips" not in path  # tests/hub/clips/test_clip_openapi.py produces those
        for status in operation["responses"]
    }
    assert documented - prober.seen == set()
