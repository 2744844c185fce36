"""Streams: one poller per camera, per-spec processing once, bounded viewer queues, endings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp

from rtcc_hub.carriage import StreamEnd
from rtcc_hub.imaging import OutputSpec
from rtcc_hub.stream_session import StreamSession
from rtcc_hub.streaming import Frame, StreamHub, Unavailable, Viewer, next_frame
from tests.hub.unit.conftest import Env
from tests.hub.unit.fakes import FakeCameras, FakeProcessor


def spec(width: int | None = None) -> OutputSpec:
    return OutputSpec(masks=(), max_width=width)


def test_viewer_queue_drops_oldest() -> None:
    async def run() -> None:
        viewer = Viewer(entity_id="camera.a", spec=spec)
        for i in range(5):
            viewer.offer(Frame(spec(), bytes([i])))
        assert viewer.dropped == 3
        assert await next_frame(viewer, 0.1) == Frame(spec(), bytes([3]))
        assert await next_frame(viewer, 0.1) == Frame(spec(), bytes([4]))
        assert await next_frame(viewer, 0.05) is None
        viewer.closed.set()
        assert await next_frame(viewer, 1) is None

    asyncio.run(run())


async def test_one_poller_per_camera_and_one_process_per_spec() -> None:
    cameras, processor = FakeCameras(), FakeProcessor()
    hub = StreamHub(cameras, processor.process_async, lambda entity_id: 20.0)
    viewers = [hub.open("camera.a", lambda: spec(640)) for _ in range(3)]
    viewers.append(hub.open("camera.a", lambda: spec(320)))
    other = hub.open("camera.b", spec)
    assert set(hub.pollers) == {"camera.a", "camera.b"}
    assert hub.open_viewers == 5
    await asyncio.sleep(0.3)
    fetches = cameras.fetches["camera.a"]
    assert 2 <= fetches <= 8  # ~20 fps for 0.3 s, shared by all four viewers
    assert processor.calls[spec(640)] == fetches or abs(processor.calls[spec(640)] - fetches) <= 1
    assert abs(processor.calls[spec(320)] - fetches) <= 1
    for viewer in viewers:
        assert isinstance(await next_frame(viewer, 0.5), Frame)
    for viewer in viewers:
        await hub.close(viewer)
    assert "camera.a" not in hub.pollers
    stopped_at = cameras.fetches["camera.a"]
    await asyncio.sleep(0.15)
    assert cameras.fetches["camera.a"] == stopped_at  # stopped after the last viewer
    await hub.stop()
    assert other.closed.is_set()


async def test_slow_viewer_does_not_hold_up_others() -> None:
    cameras, processor = FakeCameras(), FakeProcessor()
    hub = StreamHub(cameras, processor.process_async, lambda entity_id: 50.0)
    slow = hub.open("camera.a", spec)
    fast = hub.open("camera.a", spec)
    received = 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        if isinstance(await next_frame(fast, 0.2), Frame):
            received += 1
    assert received >= 10
    assert slow.dropped >= 5 and slow.queue.qsize() == 2
    await hub.stop()


async def test_upstream_failure_reaches_viewers() -> None:
    cameras, processor = FakeCameras(failing={"camera.a"}), FakeProcessor()
    hub = StreamHub(cameras, processor.process_async, lambda entity_id: 10.0)
    viewer = hub.open("camera.a", spec)
    assert isinstance(await next_frame(viewer, 1), Unavailable)
    await hub.stop()


async def test_image_errors_reach_viewers() -> None:
    cameras, processor = FakeCameras(), FakeProcessor()
    processor.fail = True
    hub = StreamHub(cameras, processor.process_async, lambda entity_id: 10.0)
    viewer = hub.open("camera.a", spec)
    assert isinstance(await next_frame(viewer, 1), Unavailable)
    await hub.stop()


async def open_stream(env: Env, **policy: Any) -> tuple[dict[str, Any], str]:
    await env.put_policy(**policy)
    _, body = await env.unlock(scope=["snapshot", "stream"])
    camera = body["cameras"][0]["id"]
    path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{camera}/stream"
    return body, path


async def read_parts(response: aiohttp.ClientResponse, limit_s: float) -> tuple[int, bool]:
    """Count parts until the response ends (True) or `limit_s` passes (False)."""
    parts = 0
    try:
        async with asyncio.timeout(limit_s):
            async for line in response.content:
                if line.startswith(b"--rtccframe"):
                    parts += 1
    except TimeoutError:
        return parts, False
    return parts, True


async def test_stream_serves_parts_and_audits(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=")
        assert response.headers["Cache-Control"] == "no-store"
        started = time.monotonic()
        parts, ended = await read_parts(response, 1.0)
        assert not ended
        # max_fps 5 for the front door: at most ~6 parts in one second (the first is immediate)
        assert 2 <= parts <= int((time.monotonic() - started) * 5) + 2
        _, state = await env.control("GET", "/control/v1/state")
        assert state["unlocks"][0]["viewers"] == 1
        assert state["counters"]["open_streams"] == 1
    await asyncio.sleep(0.6)
    closed = [e for e in (await env.entries()) if e["event"] == "stream_closed"]
    assert closed and closed[0]["detail"]["frames"] >= 2 and closed[0]["detail"]["bytes"] > 0
    opened = [e for e in (await env.entries()) if e["event"] == "stream_opened"]
    assert opened[0]["detail"]["viewer"] == closed[0]["detail"]["viewer"]
    assert (await env.hub.owner.state_view())["counters"]["streams_opened"] == 1


async def ends_within(env: Env, action: Any, *, seconds: float = 2.0) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        await read_parts(response, 0.4)
        await action(body)
        started = time.monotonic()
        _, ended = await read_parts(response, seconds + 1)
        assert ended
        assert time.monotonic() - started <= seconds


async def test_stream_ends_on_revoke(env: Env) -> None:
    async def revoke(body: dict[str, Any]) -> None:
        await env.control("POST", f"/control/v1/unlocks/{body['unlock_id']}/revoke")

    await ends_within(env, revoke)
    reasons = [
        e["detail"]["reason"] for e in (await env.entries()) if e["event"] == "stream_closed"
    ]
    assert reasons == ["ended"]


async def test_stream_ends_on_expiry(env: Env) -> None:
    async def expire(body: dict[str, Any]) -> None:
        env.clock.advance(3600)

    await ends_within(env, expire)


async def test_stream_ends_on_pause(env: Env) -> None:
    async def pause(body: dict[str, Any]) -> None:
        await env.put_policy(paused_until="2030-01-01T00:00:00Z")

    await ends_within(env, pause)


async def test_stream_ends_on_consent_withdrawal(env: Env) -> None:
    async def withdraw(body: dict[str, Any]) -> None:
        await env.put_policy(consent=False)

    await ends_within(env, withdraw)


async def test_stream_ends_when_camera_unshared(env: Env) -> None:
    async def unshare(body: dict[str, Any]) -> None:
        await env.put_policy(
            cameras=[
                {"entity_id": "camera.front_door", "label": "Front door", "share": False},
                {"entity_id": "camera.garden", "label": "Garden", "share": True},
            ]
        )

    await ends_within(env, unshare)
    reasons = [
        e["detail"]["reason"] for e in (await env.entries()) if e["event"] == "stream_closed"
    ]
    assert reasons == ["camera_removed"]


async def test_stream_503_when_camera_fails(env: Env) -> None:
    body, path = await open_stream(env)
    env.cameras.failing.add("camera.front_door")
    response = await env.city_get(path, body["access_token"])
    assert response.status == 503
    assert (await response.json())["error"] == "camera_unavailable"


async def test_stream_refused_while_suspended(env: Env) -> None:
    body, path = await open_stream(env)
    await env.put_policy(paused_until="2030-01-01T00:00:00Z")
    response = await env.city_get(path, body["access_token"])
    assert response.status == 403


async def test_one_upstream_poll_for_many_viewers_across_unlocks(env: Env) -> None:
    body1, path1 = await open_stream(env)
    _, body2 = await env.unlock(scope=["snapshot", "stream"])
    path2 = f"/api/v1/unlocks/{body2['unlock_id']}/cameras/{body2['cameras'][0]['id']}/stream"
    streams = []
    for body, path in ((body1, path1), (body1, path1), (body2, path2)):
        streams.append(
            await env.session.get(
                env.city_url + path, headers={"Authorization": f"Bearer {body['access_token']}"}
            )
        )
    assert [s.status for s in streams] == [200, 200, 200]
    assert len(env.hub.access.streams.pollers) == 1
    before = env.cameras.fetches["camera.front_door"]
    await asyncio.gather(*(read_parts(s, 1.0) for s in streams))
    polls = env.cameras.fetches["camera.front_door"] - before
    assert polls <= 7  # 5 fps for ~1 s, not 3 x 5
    for s in streams:
        s.close()


async def test_stop_closes_open_streams(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    response = await env.session.get(env.city_url + path, headers=headers)
    await read_parts(response, 0.3)
    started = time.monotonic()
    await env.hub.stop()
    assert time.monotonic() - started < 3
    response.close()
    from rtcc_hub.storage import Store, audit_rows

    store = await Store.open(env.data_dir)
    events = [row for _, row in await store.read(audit_rows) if '"stream_closed"' in row]
    await store.close()
    assert events
    await env.restart()  # the fixture stops the hub again at teardown


async def read_frames(
    response: aiohttp.ClientResponse, limit_s: float
) -> tuple[list[tuple[float, bytes]], bool]:
    """Frames with their arrival time until the response ends (True) or `limit_s` passes."""
    frames: list[tuple[float, bytes]] = []
    try:
        async with asyncio.timeout(limit_s):
            while True:
                line = await response.content.readline()
                if not line:
                    return frames, True
                if line.lower().startswith(b"content-length:"):
                    size = int(line.split(b":", 1)[1])
                    await response.content.readline()  # blank line after the part headers
                    frames.append((time.monotonic(), await response.content.readexactly(size)))
    except TimeoutError:
        return frames, False


FULL_MASK = [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]


def front_door(**overrides: Any) -> list[dict[str, Any]]:
    camera: dict[str, Any] = {
        "entity_id": "camera.front_door",
        "label": "Front door",
        "share": True,
        "masks": [[[0.0, 0.0], [0.35, 0.0], [0.35, 0.6], [0.0, 0.6]]],
        "max_width": 1280,
        "max_fps": 5,
    }
    camera.update(overrides)
    return [camera, {"entity_id": "camera.garden", "label": "Garden", "share": True}]


async def test_low_fps_stream_ends_within_2s_of_revoke(env: Env) -> None:
    body, path = await open_stream(env, cameras=front_door(max_fps=0.1))
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        frames, _ = await read_frames(response, 0.5)
        assert len(frames) == 1
        await env.control("POST", f"/control/v1/unlocks/{body['unlock_id']}/revoke")
        started = time.monotonic()
        _, ended = await read_frames(response, 4.0)
        assert ended and time.monotonic() - started <= 2.0


async def test_fps_lowered_then_revoked_ends_within_2s(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        await read_frames(response, 0.5)
        await env.put_policy(cameras=front_door(max_fps=0.1))
        await read_frames(response, 0.5)
        await env.control("POST", f"/control/v1/unlocks/{body['unlock_id']}/revoke")
        started = time.monotonic()
        _, ended = await read_frames(response, 4.0)
        assert ended and time.monotonic() - started <= 2.0


async def test_frames_after_a_mask_change_are_masked(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        await read_frames(response, 0.5)
        # Slow down so that the sender holds a frame made with the old masks while pacing.
        await env.put_policy(cameras=front_door(max_fps=0.5))
        await read_frames(response, 0.3)
        await env.put_policy(cameras=front_door(max_fps=0.5, masks=FULL_MASK))
        changed = time.monotonic()
        new_spec = repr(env.hub.access.spec("camera.front_door")).encode()
        assert b"(1.0, 1.0)" in new_spec
        frames, _ = await read_frames(response, 3.0)
        later = [data for at, data in frames if at > changed]
        assert later, "a frame with the new masks arrives"
        assert all(data.endswith(new_spec + b"\xff\xd9") for data in later)


async def test_first_frame_made_before_a_mask_change_is_not_sent(env: Env) -> None:
    body, _ = await open_stream(env)
    unlock = env.hub.state.ledger.get(body["unlock_id"])
    access = env.hub.access
    viewer = access.streams.open("camera.front_door", lambda: access.spec("camera.front_door"))
    session = StreamSession(
        access, unlock.unlock_id, unlock.hub, unlock.cameras[0], viewer, stall_s=15
    )
    outdated = OutputSpec(masks=(), max_width=None)
    assert outdated != access.spec("camera.front_door")
    viewer.offer(Frame(outdated, b"unmasked"))  # queued before the poller's first
    assert await session.first_frame() is None
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)
        session.stop(StreamEnd.CANCELLED)

    assert await session.run(send) is StreamEnd.CANCELLED
    assert sent and sent[0] != b"unmasked"
    assert viewer.dropped == 1


async def test_viewer_joining_a_slow_camera_gets_a_frame_at_once(env: Env) -> None:
    body, path = await open_stream(env, cameras=front_door(max_fps=0.1))
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as first:
        frames, _ = await read_frames(first, 0.5)
        assert len(frames) == 1
        polls = env.cameras.fetches["camera.front_door"]
        started = time.monotonic()
        async with env.session.get(env.city_url + path, headers=headers) as second:
            assert second.status == 200
            frames, _ = await read_frames(second, 0.5)
            assert len(frames) == 1
            assert time.monotonic() - started < 2.0  # not 10 s
        assert env.cameras.fetches["camera.front_door"] <= polls + 1


async def test_fps_raised_takes_effect_at_once(env: Env) -> None:
    body, path = await open_stream(env, cameras=front_door(max_fps=0.1))
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        frames, _ = await read_frames(response, 0.5)
        assert len(frames) == 1
        await env.put_policy(cameras=front_door(max_fps=5))
        frames, _ = await read_frames(response, 1.5)
        assert len(frames) >= 3


async def test_at_most_4_streams_of_a_camera_per_unlock_and_32_in_all_then_429_busy(
    env: Env,
) -> None:
    """PROTOCOL 3: "At most 4 streams of one camera in one unlock, and 32 streams in all, are
    open at once; another gets 429 busy" (and a closed stream frees its place)."""
    await env.put_policy(max_unlocks_per_week=100)
    unlocks = []
    for _ in range(5):
        status, body = await env.unlock(scope=["snapshot", "stream"])
        assert status == 201 and body["status"] == "active", body
        unlocks.append(body)

    def path(unlock: dict[str, Any], camera: int) -> str:
        camera_id = unlock["cameras"][camera]["id"]
        return f"/api/v1/unlocks/{unlock['unlock_id']}/cameras/{camera_id}/stream"

    async def get(unlock: dict[str, Any], camera: int) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {unlock['access_token']}"}
        return await env.session.get(env.city_url + path(unlock, camera), headers=headers)

    async def refused(unlock: dict[str, Any], camera: int) -> None:
        response = await get(unlock, camera)
        assert response.status == 429, response.status
        assert (await response.json())["error"] == "busy"

    async with contextlib.AsyncExitStack() as open_streams:
        first = unlocks[0]
        for _ in range(4):
            response = await open_streams.enter_async_context(await get(first, 0))
            assert response.status == 200
        await refused(first, 0)  # a fifth of this camera in this unlock
        # The same camera in another unlock, and another camera of this one, still open.
        for unlock, camera in [(first, 1)] * 4 + [
            (u, c) for u in unlocks[1:4] for c in (0, 1) for _ in range(4)
        ]:
            response = await open_streams.enter_async_context(await get(unlock, camera))
            assert response.status == 200, (unlock["unlock_id"], camera)
        assert len(env.hub.access.sessions) == 32
        await refused(unlocks[4], 0)  # the 33rd, although its camera has none open
    for _ in range(100):  # the add-on notices the clients gone at their next frame
        if not env.hub.access.sessions:
            break
        await asyncio.sleep(0.05)
    response = await get(unlocks[4], 0)
    assert response.status == 200
    response.close()
