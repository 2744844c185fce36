"""Clips over the city API (PROTOCOL.md section 7): the table's statuses, the receipt, the
audit entries, deletion with the unlock, and clean-up after a crash. The add-on in-process on
loopback, recordings from the stand-in Frigate."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from rtcc_hub.app import AddOn
from rtcc_hub.city.receipts import verify_receipt
from rtcc_hub.options import parse_options
from rtcc_hub.timefmt import rfc3339
from tests.hub.unit.conftest import options_dict
from tests.hub.unit.fakes import Clock, FakeCameras, FakeProcessor
from tests.hub.unit.helpers import policy_doc
from tests.support import footage as ft
from tests.support.city import CityHub
from tests.support.faults import FaultyConnect
from tests.support.standin_frigate import StandinFrigate

from .conftest import EPOCH

CONTROL = "control-token-" + "c" * 24
MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
FOOTAGE = {"start": int(EPOCH), "end": int(EPOCH) + 40}


@dataclass
class Clips:
    addon: AddOn
    city: CityHub
    clock: Clock
    session: aiohttp.ClientSession
    frigate: StandinFrigate
    data_dir: Path
    faults: FaultyConnect = field(default_factory=FaultyConnect)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.addon.city_port}"

    async def policy(self, **overrides: Any) -> None:
        cameras = [
            {
                "entity_id": "camera.front_door",
                "label": "Front door",
                "share": True,
                "masks": [MASK],
                "max_width": 240,
                "recorder": {"source": "frigate", "camera": "front_door"},
            },
            {"entity_id": "camera.garden", "label": "Garden", "share": True},
        ]
        doc = policy_doc(
            **{"allow_clips": True, "cameras": cameras, "max_clip_age_s": 86400, **overrides}
        )
        async with self.session.put(
            f"http://127.0.0.1:{self.addon.control_port}/control/v1/policy",
            json=doc,
            headers={"Authorization": f"Bearer {CONTROL}"},
        ) as response:
            assert response.status == 200, await response.text()

    async def unlock(self, scope: list[str] | None = None, **claims: Any) -> dict[str, Any]:
        claims.setdefault("area", {"lat": 32.2988, "lon": -90.1848, "radius_m": 500})
        claims.setdefault("incident", {"id": "I-9", "case_number": "C-1", "offense": "burglary"})
        scope = scope or ["snapshot", "clip"]
        if "clip" in scope:
            claims.setdefault("footage", FOOTAGE)
        token = self.city.token(self.addon.home_id, now=self.clock(), scope=scope, **claims)
        async with self.session.post(f"{self.url}/api/v1/unlocks", json={"token": token}) as r:
            body = await r.json()
            assert r.status == 201, body
            return dict(body)

    async def call(
        self, method: str, path: str, unlock: dict[str, Any], body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": f"Bearer {unlock['access_token']}"}
        data = b"" if body is None else json.dumps(body).encode()
        async with self.session.request(method, self.url + path, data=data, headers=headers) as r:
            raw = await r.read()
            is_json = r.content_type == "application/json"
            return r.status, json.loads(raw) if is_json else raw, dict(r.headers)

    async def request(self, unlock: dict[str, Any], body: Any = None, camera: int = 0) -> Any:
        camera_id = unlock["cameras"][camera]["id"]
        path = f"/api/v1/unlocks/{unlock['unlock_id']}/cameras/{camera_id}/clips"
        return await self.call("POST", path, unlock, body)

    async def status(self, unlock: dict[str, Any], clip_id: str) -> Any:
        return await self.call(
            "GET", f"/api/v1/unlocks/{unlock['unlock_id']}/clips/{clip_id}", unlock
        )

    async def video(self, unlock: dict[str, Any], clip_id: str) -> Any:
        path = f"/api/v1/unlocks/{unlock['unlock_id']}/clips/{clip_id}/video"
        return await self.call("GET", path, unlock)

    async def wait(self, unlock: dict[str, Any], clip_id: str, timeout_s: float = 60) -> Any:
        seen: list[float] = []
        for _ in range(int(timeout_s * 10)):
            status, body, _ = await self.status(unlock, clip_id)
            assert status == 200, body
            seen.append(body["progress"])
            if body["status"] != "preparing":
                return body, seen
            await asyncio.sleep(0.1)
        raise AssertionError("the clip never finished")

    async def entries(self) -> list[dict[str, Any]]:
        return await self.addon.owner.history(0, 10**9)


@pytest.fixture
async def clips(
    tmp_path: Path, recording: ft.Recording, frigate: StandinFrigate
) -> AsyncIterator[Clips]:
    city = CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")
    clock = Clock(EPOCH + 600)
    options = parse_options(options_dict(city, control_token=CONTROL, frigate_url=frigate.url))
    data_dir = tmp_path / "data"
    faults = FaultyConnect()
    addon = await AddOn.create(
        options,
        data_dir,
        clock=clock,
        image_processor=FakeProcessor(),  # type: ignore[arg-type]
        fetch_still=FakeCameras(),
        connect=faults,
    )
    await addon.start()
    async with aiohttp.ClientSession() as session:
        harness = Clips(addon, city, clock, session, frigate, data_dir, faults)
        try:
            yield harness
        finally:
            await harness.addon.stop()


async def test_a_clip_is_made_masked_received_with_its_receipt_and_audited(clips: Clips) -> None:
    await clips.policy()
    unlock = await clips.unlock()
    assert unlock["cameras"][0]["capabilities"] == ["snapshot", "clip"]
    assert unlock["cameras"][1]["capabilities"] == ["snapshot"]  # no recorder, no clip
    status, body, _ = await clips.request(
        unlock, {"start": rfc3339(EPOCH + 10), "end": rfc3339(EPOCH + 25)}
    )
    assert status == 202, body
    assert body["status"] == "preparing" and body["camera_id"] == unlock["cameras"][0]["id"]
    assert (body["start"], body["end"]) == (rfc3339(EPOCH + 10), rfc3339(EPOCH + 25))
    clip_id = body["clip_id"]
    status, _, _ = await clips.video(unlock, clip_id)
    assert status in (409, 200)  # 409 not_ready while preparing (it may be quick)
    ready, progress = await clips.wait(unlock, clip_id)
    assert ready["status"] == "ready", ready
    assert progress == sorted(progress) and ready["progress"] == 1.0
    status, video, headers = await clips.video(unlock, clip_id)
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    assert headers["Cache-Control"] == "no-store"
    assert ready["sha256"] == hashlib.sha256(video).hexdigest() and ready["bytes"] == len(video)
    assert headers["RTCC-Receipt"] == ready["receipt"]  # one receipt per clip
    view = (await clips.call("GET", f"/api/v1/unlocks/{unlock['unlock_id']}", unlock))[1]
    receipt = verify_receipt(
        load_pem_public_key(view["receipt_key"].encode()), video, ready["receipt"]
    )  # type: ignore[arg-type]
    claims = receipt.claims
    assert (claims["kind"], claims["start"], claims["end"]) == ("clip", EPOCH + 10, EPOCH + 25)
    entries = await clips.entries()
    [prepared] = [e for e in entries if e["event"] == "clip_prepared"]
    assert (claims["audit_seq"], claims["audit_hash"]) == (prepared["seq"], prepared["hash"])
    assert prepared["detail"]["sha256"] == claims["sha256"] == ready["sha256"]
    assert prepared["detail"]["source_sha256"] == claims["source_sha256"]
    assert [e["event"] for e in entries if e["event"].startswith("clip_")] == [
        "clip_requested",
        "clip_prepared",
        "clip_served",
    ]
    # Every decoded frame black inside the mask, no audio, inside the window asked for.
    path = clips.data_dir / "clip.mp4"
    path.write_bytes(video)
    decoded = ft.decode_clip(path)
    assert decoded.stream_types == ["video"]
    inside = ft.inside_polygon(tuple(map(tuple, MASK)), decoded.width, decoded.height)  # type: ignore[arg-type]
    for y in decoded.luma:
        assert int(np.max(y[inside])) <= 20
    # The same window again is the same clip (made once); downloads are each audited.
    status, again, _ = await clips.request(
        unlock, {"start": rfc3339(EPOCH + 10), "end": rfc3339(EPOCH + 25)}
    )
    assert status == 202 and again["clip_id"] == clip_id and again["status"] == "ready"
    assert (await clips.video(unlock, clip_id))[0] == 200
    served = [e for e in await clips.entries() if e["event"] == "clip_served"]
    assert len(served) == 2


async def test_the_table_of_section_7(clips: Clips) -> None:
    await clips.policy()
    snapshot_only = await clips.unlock(scope=["snapshot"])
    status, body, _ = await clips.request(snapshot_only)
    assert (status, body["error"]) == (403, "not_active")  # no clip in the granted scope
    unlock = await clips.unlock()
    status, body, _ = await clips.request(unlock, camera=1)
    assert (status, body["error"]) == (404, "not_found")  # a camera without clip
    for window in (
        {"start": rfc3339(EPOCH - 5), "end": rfc3339(EPOCH + 5)},
        {"start": rfc3339(EPOCH + 30), "end": rfc3339(EPOCH + 50)},
        {"start": rfc3339(EPOCH + 20), "end": rfc3339(EPOCH + 10)},
        {"start": "yesterday"},
        {"start": 12},
        {"other": 1},
        [1, 2],
    ):
        status, body, _ = await clips.request(unlock, window)
        assert (status, body["error"]) == (400, "invalid_request"), window
    status, body, _ = await clips.status(unlock, "k_nope")
    assert (status, body["error"]) == (404, "not_found")
    # 2 preparing at once per home, then 429 busy.
    clips.frigate.set_mode("front_door", "hang")
    first = (await clips.request(unlock, {"end": rfc3339(EPOCH + 10)}))[1]
    second = (await clips.request(unlock, {"end": rfc3339(EPOCH + 11)}))[1]
    assert first["status"] == second["status"] == "preparing"
    status, body, _ = await clips.request(unlock, {"end": rfc3339(EPOCH + 12)})
    assert (status, body["error"]) == (429, "busy")
    assert (await clips.video(unlock, first["clip_id"]))[0] == 409
    # Someone else's token: 401; the unlock ended: 410, its clips deleted and audited.
    other = await clips.unlock()
    wrong = {**unlock, "access_token": other["access_token"]}
    assert (await clips.status(wrong, first["clip_id"]))[0] == 401
    assert (await clips.call("DELETE", f"/api/v1/unlocks/{unlock['unlock_id']}", unlock))[0] == 204
    for _ in range(50):
        deleted = [e for e in await clips.entries() if e["event"] == "clip_deleted"]
        if len(deleted) == 2:
            break
        await asyncio.sleep(0.1)
    assert {e["detail"]["clip_id"] for e in deleted} == {first["clip_id"], second["clip_id"]}
    assert all(e["detail"]["reason"] == "hub_closed" for e in deleted)
    assert (await clips.status(unlock, first["clip_id"]))[0] == 410
    assert (await clips.request(unlock))[0] == 410
    assert not list((clips.data_dir / "clips").glob("*.mp4"))


async def test_nothing_recorded_is_no_footage_and_a_broken_recorder_failed(clips: Clips) -> None:
    await clips.policy()
    unlock = await clips.unlock(footage={"start": int(EPOCH) + 100, "end": int(EPOCH) + 160})
    body = (await clips.request(unlock))[1]
    done, _ = await clips.wait(unlock, body["clip_id"])
    assert done["status"] == "no_footage"
    status, answer, _ = await clips.video(unlock, body["clip_id"])
    assert (status, answer["error"]) == (404, "not_found")
    clips.frigate.set_mode("front_door", "garbage")
    unlock = await clips.unlock()
    body = (await clips.request(unlock))[1]
    done, _ = await clips.wait(unlock, body["clip_id"])
    assert done["status"] == "failed"
    prepared = [e for e in await clips.entries() if e["event"] == "clip_prepared"]
    assert [e["detail"]["status"] for e in prepared] == ["no_footage", "failed"]
    assert all(e["detail"]["reason"] for e in prepared)  # for the owner, never for the city
    assert "reason" not in done


async def test_clips_stop_when_the_owner_stops_allowing_them(clips: Clips) -> None:
    await clips.policy()
    unlock = await clips.unlock()
    body = (await clips.request(unlock))[1]
    assert (await clips.wait(unlock, body["clip_id"]))[0]["status"] == "ready"
    await clips.policy(allow_clips=False)
    assert (await clips.video(unlock, body["clip_id"]))[0] == 403
    assert (await clips.request(unlock))[0] == 403


async def test_the_whole_window_by_default_with_its_digest_and_every_receipt_claim(
    clips: Clips,
) -> None:
    """PROTOCOL 7: an empty body asks for all of the unlock's `footage` window; the video
    carries `Repr-Digest` (RFC 9530) and the one receipt of the clip, whose claims are exactly
    those section 7 lists, tied to the entry that records the clip prepared."""
    await clips.policy()
    unlock = await clips.unlock()
    status, body, _ = await clips.request(unlock)
    assert status == 202, body
    assert (body["start"], body["end"]) == (rfc3339(FOOTAGE["start"]), rfc3339(FOOTAGE["end"]))
    ready, _ = await clips.wait(unlock, body["clip_id"])
    assert ready["status"] == "ready", ready
    status, video, headers = await clips.video(unlock, body["clip_id"])
    assert status == 200
    digest = base64.b64encode(hashlib.sha256(video).digest()).decode()
    assert headers["Repr-Digest"] == f"sha-256=:{digest}:"
    receipt = headers["RTCC-Receipt"]
    assert receipt == ready["receipt"]
    header = json.loads(base64.urlsafe_b64decode(receipt.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "rtcc-receipt+jwt"}
    view = (await clips.call("GET", f"/api/v1/unlocks/{unlock['unlock_id']}", unlock))[1]
    key = load_pem_public_key(view["receipt_key"].encode())
    claims = verify_receipt(key, video, receipt).claims  # type: ignore[arg-type]
    [prepared] = [e for e in await clips.entries() if e["event"] == "clip_prepared"]
    assert isinstance(claims["iat"], int)
    assert {k: v for k, v in claims.items() if k != "iat"} == {
        "iss": clips.addon.home_id,
        "aud": "jackson-rtcc",
        "unlock_id": unlock["unlock_id"],
        "incident_id": "I-9",
        "camera_id": unlock["cameras"][0]["id"],
        "kind": "clip",
        "sha256": hashlib.sha256(video).hexdigest(),
        "bytes": len(video),
        "audit_seq": prepared["seq"],
        "audit_hash": prepared["hash"],
        "start": FOOTAGE["start"],
        "end": FOOTAGE["end"],
        "source_sha256": prepared["detail"]["source_sha256"],
    }
    # A second download: the same receipt, and audited again.
    assert (await clips.video(unlock, body["clip_id"]))[2]["RTCC-Receipt"] == receipt
    served = [e for e in await clips.entries() if e["event"] == "clip_served"]
    assert len(served) == 2


async def test_no_clip_is_asked_for_while_the_unlock_is_not_active(clips: Clips) -> None:
    """PROTOCOL 7: `403 not_active` while the unlock is not active (pending, suspended), before
    anything else is looked at: even for a camera without `clip`."""
    await clips.policy(mode="ask")
    pending = await clips.unlock()
    assert pending["status"] == "pending"
    # (a pending unlock shows no cameras: any camera id is answered alike)
    path = f"/api/v1/unlocks/{pending['unlock_id']}/cameras/k_unknown/clips"
    status, body, _ = await clips.call("POST", path, pending)
    assert (status, body["error"]) == (403, "not_active")
    await clips.policy()
    unlock = await clips.unlock()
    await clips.policy(paused_until=rfc3339(clips.clock() + 600))
    for camera in (0, 1):
        status, body, _ = await clips.request(unlock, camera=camera)
        assert (status, body["error"]) == (403, "not_active"), camera
    await clips.policy(paused_until=None)
    assert (await clips.request(unlock))[0] == 202


async def test_a_restart_fails_what_it_interrupted_and_deletes_what_ended(clips: Clips) -> None:
    await clips.policy()
    unlock = await clips.unlock()
    clips.frigate.set_mode("front_door", "hang")
    body = (await clips.request(unlock))[1]
    await clips.addon.stop()  # stopped mid-making (a crash leaves the same state behind)
    clips.addon = await AddOn.create(
        clips.addon.options,
        clips.data_dir,
        clock=clips.clock,
        image_processor=FakeProcessor(),  # type: ignore[arg-type]
        fetch_still=FakeCameras(),
    )
    await clips.addon.start()
    status, answer, _ = await clips.status(unlock, body["clip_id"])
    assert status == 200 and answer["status"] == "failed"
    assert not list((clips.data_dir / "clips").iterdir())
    clips.frigate.set_mode("front_door", "ok")
    again = (await clips.request(unlock))[1]
    assert again["clip_id"] != body["clip_id"]  # a failed clip may be asked for anew
    assert (await clips.wait(unlock, again["clip_id"]))[0]["status"] == "ready"
    clips.clock.advance(3600)  # the unlock expires while the add-on is down
    await clips.addon.stop()
    clips.addon = await AddOn.create(
        clips.addon.options,
        clips.data_dir,
        clock=clips.clock,
        image_processor=FakeProcessor(),  # type: ignore[arg-type]
        fetch_still=FakeCameras(),
    )
    await clips.addon.start()
    assert not list((clips.data_dir / "clips").glob("*.mp4"))
    deleted = [e for e in await clips.entries() if e["event"] == "clip_deleted"]
    assert {e["detail"]["clip_id"] for e in deleted} >= {again["clip_id"]}


async def test_kill_9_while_preparing_leaves_nothing_half_made(
    tmp_path: Path, frigate: StandinFrigate
) -> None:
    from tests.support.hub_process import HubProcess

    city = CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")
    hub = HubProcess(
        tmp_path / "proc",
        hubs=[city.hub_config()],
        control_token=CONTROL,
        extra_options={"frigate_url": frigate.url},
    )
    await asyncio.to_thread(hub.start)
    try:
        doc = policy_doc(allow_clips=True, max_clip_age_s=30 * 86400)
        doc["cameras"][0]["recorder"] = {"source": "frigate", "camera": "front_door"}
        await asyncio.to_thread(hub.put_policy, doc)
        now = int(time.time())
        recent = ft.Recording(epoch=float(now - 3600), fps=15, width=320, height=240)
        frigate.record("front_door", recent, 0, 30)
        footage = {"start": now - 3600, "end": now - 3570}
        frigate.set_mode("front_door", "stall")  # a download under way when the kill comes
        async with aiohttp.ClientSession() as session:
            token = city.token(
                hub.home_id,
                scope=["snapshot", "clip"],
                footage=footage,
                area={"lat": 32.2988, "lon": -90.1848, "radius_m": 500},
                incident={"id": "I-1", "case_number": "C-1", "offense": "burglary"},
            )
            async with session.post(f"{hub.city_url}/api/v1/unlocks", json={"token": token}) as r:
                unlock = await r.json()
            headers = {"Authorization": f"Bearer {unlock['access_token']}"}
            base = f"{hub.city_url}/api/v1/unlocks/{unlock['unlock_id']}"
            async with session.post(
                f"{base}/cameras/{unlock['cameras'][0]['id']}/clips", headers=headers
            ) as r:
                assert r.status == 202
                clip = await r.json()
            await asyncio.sleep(1.0)
            hub.kill()
            await asyncio.to_thread(hub.start)
            async with session.get(f"{base}/clips/{clip['clip_id']}", headers=headers) as r:
                assert (await r.json())["status"] == "failed"
            async with session.get(f"{base}/clips/{clip['clip_id']}/video", headers=headers) as r:
                assert r.status == 404
        assert not list((hub.data_dir / "clips").iterdir())
        entries = await asyncio.to_thread(hub.control_get, "/control/v1/history?after=0&limit=1000")
        [prepared] = [e for e in entries if e["event"] == "clip_prepared"]
        assert prepared["detail"]["reason"] == "interrupted"
    finally:
        hub.kill()


async def test_a_clip_over_a_relay_in_parts(
    tmp_path: Path, frigate: StandinFrigate, mosquitto: None
) -> None:
    """No city port at all: the clip is asked for, followed and downloaded over the relay, its
    body in parts of max_message_bytes, joined, and its receipt verifies."""
    from rtcc_hub.city.relay import CityRelay
    from tests.support.broker import Broker
    from tests.support.relay_fixtures import eventually, relay_entry

    city = CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")
    clock = Clock(EPOCH + 600)
    base = options_dict(city, control_token=CONTROL, frigate_url=frigate.url)

    async def create(options: dict[str, Any]) -> AddOn:
        return await AddOn.create(
            parse_options(options),
            tmp_path / "data",
            clock=clock,
            image_processor=FakeProcessor(),  # type: ignore[arg-type]
            fetch_still=FakeCameras(),
        )

    first = await create(base)
    home_id = first.home_id
    await first.stop()
    with Broker(tmp_path / "broker", homes=[home_id]) as broker:
        entry = relay_entry(broker, home_id, city, max_message_bytes=16384)
        addon = await create({**base, "city_http": False, "relays": [entry]})
        await addon.start()
        try:
            await eventually(lambda: addon.relays.relays[0].connected)
            doc_cameras = [
                {
                    "entity_id": "camera.front_door",
                    "share": True,
                    "masks": [MASK],
                    "max_width": 240,
                    "recorder": {"source": "frigate", "camera": "front_door"},
                }
            ]
            await addon.owner.put_policy(
                policy_doc(allow_clips=True, max_clip_age_s=86400, cameras=doc_cameras)
            )
            user = broker.city_username
            async with CityRelay(
                broker.url("mqtt"), username=user, password=broker.password(user)
            ) as relay:
                token = city.token(
                    home_id,
                    now=clock(),
                    scope=["snapshot", "clip"],
                    footage=FOOTAGE,
                    area={"lat": 32.2988, "lon": -90.1848, "radius_m": 500},
                    incident={"id": "I-9", "case_number": "C-1", "offense": "burglary"},
                )
                answer = await relay.request(
                    home_id, "POST", "/api/v1/unlocks", body=json.dumps({"token": token}).encode()
                )
                unlock = json.loads(answer.body)
                bearer = f"Bearer {unlock['access_token']}"
                base_path = f"/api/v1/unlocks/{unlock['unlock_id']}"
                camera = unlock["cameras"][0]["id"]
                asked = await relay.request(
                    home_id, "POST", f"{base_path}/cameras/{camera}/clips", authorization=bearer
                )
                assert asked.status == 202
                clip = json.loads(asked.body)
                for _ in range(600):
                    status = await relay.request(
                        home_id, "GET", f"{base_path}/clips/{clip['clip_id']}", authorization=bearer
                    )
                    clip = json.loads(status.body)
                    if clip["status"] != "preparing":
                        break
                    await asyncio.sleep(0.1)
                assert clip["status"] == "ready"
                video = await relay.request(
                    home_id,
                    "GET",
                    f"{base_path}/clips/{clip['clip_id']}/video",
                    authorization=bearer,
                )
                assert video.status == 200 and video.content_type == "video/mp4"
                assert len(video.body) == clip["bytes"] > 16384  # it came in parts
                assert hashlib.sha256(video.body).hexdigest() == clip["sha256"]
                assert video.headers["rtcc-receipt"] == clip["receipt"]
                view = await relay.request(home_id, "GET", base_path, authorization=bearer)
                key = load_pem_public_key(json.loads(view.body)["receipt_key"].encode())
                verify_receipt(key, video.body, clip["receipt"])  # type: ignore[arg-type]
                # The same through the library's relay home (the calls of CityClient).
                from rtcc_hub.city.client import wait_for_clip

                home = relay.home(home_id)
                token_value = unlock["access_token"]
                again = await home.request_clip(
                    unlock["unlock_id"], token_value, camera, end=rfc3339(EPOCH + 12)
                )
                done = await wait_for_clip(
                    lambda: home.clip(unlock["unlock_id"], token_value, again.clip_id),
                    interval_s=0.1,
                    timeout_s=60,
                )
                saved = await home.clip_video(
                    unlock["unlock_id"], token_value, done.clip_id, tmp_path / "relay.mp4"
                )
                assert saved.bytes == done.bytes and saved.receipt == done.receipt
                verify_receipt(key, saved.path.read_bytes(), str(saved.receipt))  # type: ignore[arg-type]
        finally:
            await addon.stop()


async def test_the_city_library_asks_waits_downloads_and_verifies(
    clips: Clips, tmp_path: Path
) -> None:
    from rtcc_hub.city.client import CityClient, wait_for_clip
    from rtcc_hub.city.keys import load_public_key_pem
    from rtcc_hub.city.tokens import Area as CityArea
    from rtcc_hub.city.tokens import Footage, TokenInputError, build_claims
    from rtcc_hub.city.tokens import Incident as CityIncident

    await clips.policy()
    # The library refuses what the add-on would refuse: clip without footage, and back.
    for scope, footage in ((["clip"], None), (["snapshot"], Footage(int(EPOCH), int(EPOCH) + 10))):
        with pytest.raises(TokenInputError, match="footage"):
            build_claims(
                issuer="jackson-rtcc",
                audience=clips.addon.home_id,
                incident=CityIncident(id="I", offense="burglary", case_number="C"),
                area=CityArea(lat=32.2988, lon=-90.1848, radius_m=500),
                scope=scope,
                duration_s=600,
                footage=footage,
            )
    unlock = await clips.unlock()
    async with CityClient(clips.url) as city:
        camera = unlock["cameras"][0]["id"]
        clip = await city.request_clip(
            unlock["unlock_id"], unlock["access_token"], camera, end=rfc3339(EPOCH + 15)
        )
        assert clip.status == "preparing"
        seen: list[float] = []
        clip = await wait_for_clip(
            lambda: city.clip(unlock["unlock_id"], unlock["access_token"], clip.clip_id),
            progress=seen.append,
            interval_s=0.1,
            timeout_s=60,
        )
        assert clip.status == "ready" and seen[-1] == 1.0
        download = await city.clip_video(
            unlock["unlock_id"], unlock["access_token"], clip.clip_id, tmp_path / "clip.mp4"
        )
        assert download.bytes == clip.bytes and download.receipt == clip.receipt
        view = await city.status(unlock["unlock_id"], unlock["access_token"])
        assert view.raw is not None
        key = load_public_key_pem(view.raw["receipt_key"])
        receipt = verify_receipt(key, download.path.read_bytes(), str(download.receipt))
        assert receipt.claims["kind"] == "clip"
