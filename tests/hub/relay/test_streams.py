"""PROTOCOL 6 "Streams": one message per frame (`frame` from 1, parts when large) at most
`max_fps`, then an empty message with `end`; cancel by DELETE with the same Correlation Data;
`unwatched` on reason code 0x10; the 60 s lease and its renewal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiomqtt
import pytest

from rtcc_hub.carriage import StreamEnd
from rtcc_hub.relay import DropReason, RelaySettings
from tests.support.broker import Broker
from tests.support.raw_city import RawCity, Received
from tests.support.relay_fixtures import RecordingObserver, StartRelay, eventually
from tests.support.standin_router import StandinRouter, StandinUnlock


@pytest.fixture
async def raw(raw_city: aiomqtt.Client, home_id: str) -> AsyncIterator[RawCity]:
    city = RawCity(raw_city, home_id)
    await city.listen()
    yield city
    await city.close()


def stream_path(unlock: StandinUnlock, camera: str = "cam") -> str:
    return f"/api/v1/unlocks/{unlock.unlock_id}/cameras/{camera}/stream"


async def open_stream(raw: RawCity, unlock: StandinUnlock, correlation: bytes = b"st") -> None:
    await raw.send(
        path=stream_path(unlock),
        authorization=f"Bearer {unlock.access_token}",
        correlation=correlation,
    )


def is_end(message: Received) -> bool:
    return message.get("end") is not None


async def test_frames_then_end(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "4")
    router.end_unlock(unlock, StreamEnd.ENDED)
    end = await raw.wait_for(b"st", is_end)
    frames = [m for m in raw.of(b"st") if not is_end(m)]
    assert [m.get("frame") for m in frames] == [str(n) for n in range(1, len(frames) + 1)]
    assert all(m.get("status") == "200" and m.content_type == "image/jpeg" for m in frames)
    assert [m.payload for m in frames] == router.streams[0].sent
    assert (end.payload, end.get("end"), end.get("status")) == (b"", "ended", "200")
    assert raw.of(b"st")[-1] is end


async def test_frames_at_most_max_fps(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    router.max_fps = 5.0
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "6", within=5)
    frames = raw.of(b"st")[:6]
    assert frames[-1].at - frames[0].at >= 5 / 5.0 * 0.9


async def test_large_frames_come_in_parts_each_with_its_frame_number(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    router.frame_bytes = 2500
    await start_relay(max_message_bytes=1024)
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "3" and m.get("part") == "3")
    messages = [m for m in raw.of(b"st") if m.get("frame") in {"1", "2"}]
    assert [(m.get("frame"), m.get("part"), m.get("parts")) for m in messages] == [
        ("1", "1", "3"), ("1", "2", "3"), ("1", "3", "3"),
        ("2", "1", "3"), ("2", "2", "3"), ("2", "3", "3"),
    ]  # fmt: skip
    first = b"".join(m.payload for m in messages[:3])
    assert first == router.streams[0].sent[0]


@pytest.mark.parametrize(
    ("reason", "end"),
    [
        (StreamEnd.EXPIRED, "expired"),
        (StreamEnd.ENDED, "ended"),
        (StreamEnd.SUSPENDED, "suspended"),
        (StreamEnd.CAMERA_REMOVED, "camera_removed"),
        (StreamEnd.CAMERA_UNAVAILABLE, "camera_unavailable"),
    ],
)
async def test_end_names_why_within_2_s(
    reason: StreamEnd, end: str, start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    router.end_unlock(unlock, reason)
    message = await raw.wait_for(b"st", is_end, within=2)
    assert message.get("end") == end and message.payload == b""
    assert message.at - started < 2.0


async def test_delete_with_the_same_correlation_cancels(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "2")
    await raw.send(method="DELETE", path=stream_path(unlock), correlation=b"st")
    end = await raw.wait_for(b"st", is_end, within=2)
    assert end.get("end") == "cancelled"
    assert router.streams[0].ended == StreamEnd.CANCELLED
    await raw.silence(quiet_s=0.5)
    # The DELETE itself is not answered apart from the stream's end, and never reached the router.
    assert [m for m in raw.of(b"st") if m.get("status") != "200"] == []
    assert [r.method for r in router.requests] == ["GET"]


async def test_delete_with_other_correlation_does_not_cancel(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "1")
    await raw.send(method="DELETE", path=stream_path(unlock), correlation=b"other")
    [answer] = await raw.collect(b"other")
    assert answer.get("status") == "405"  # the router's answer: DELETE is not a stream's method
    count = len(raw.of(b"st"))
    await raw.wait_for(b"st", lambda m: m.get("frame") == str(count + 1))
    assert router.streams[0].ended is None


async def test_cancel_arriving_while_the_stream_opens_wins(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    unlock = router.add_unlock(cameras={"cam": 100})
    opening = asyncio.Event()
    original = router.handle

    async def slow_open(request: object) -> object:
        if str(getattr(request, "path", "")).endswith("/stream"):
            await opening.wait()
        return await original(request)  # type: ignore[arg-type]

    relay = await start_relay()
    relay._handler = slow_open  # type: ignore[assignment]
    await open_stream(raw, unlock)
    await asyncio.sleep(0.3)
    await raw.send(method="DELETE", path=stream_path(unlock), correlation=b"st")
    await asyncio.sleep(0.3)
    opening.set()
    end = await raw.wait_for(b"st", is_end)
    assert end.get("end") == "cancelled"


async def test_no_subscriber_0x10_ends_the_stream_unwatched(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "2")
    await raw.stop_listening()  # the broker now answers the next frame with reason code 0x10
    await eventually(lambda: router.streams[0].ended is not None, within=3)
    assert router.streams[0].ended == StreamEnd.UNWATCHED


async def test_lease_expires_60_s_after_the_request_by_default(start_relay: StartRelay) -> None:
    assert RelaySettings().lease_s == 60.0


async def test_lease_expires_unless_renewed(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay(settings=RelaySettings(lease_s=1.5))
    unlock = router.add_unlock(cameras={"cam": 100})
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await open_stream(raw, unlock)
    end = await raw.wait_for(b"st", is_end, within=4)
    assert end.get("end") == "lease_expired"
    assert 1.4 <= end.at - sent <= 2.2
    assert router.streams[0].ended == StreamEnd.LEASE_EXPIRED


async def test_the_same_request_again_extends_the_lease(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay(settings=RelaySettings(lease_s=1.5))
    unlock = router.add_unlock(cameras={"cam": 100})
    loop = asyncio.get_running_loop()
    await open_stream(raw, unlock)
    await asyncio.sleep(1.0)
    renewed = loop.time()
    await open_stream(raw, unlock)  # same path, same Correlation Data
    await asyncio.sleep(1.0)
    assert router.streams[0].ended is None  # 2 s after the request, 1 s after the renewal
    end = await raw.wait_for(b"st", is_end, within=3)
    assert end.get("end") == "lease_expired"
    assert 1.4 <= end.at - renewed <= 2.2
    assert len(router.streams) == 1  # the renewal opened nothing


async def test_another_request_reusing_an_open_streams_correlation_is_dropped(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter, observer: RecordingObserver
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "1")
    await raw.send(path="/api/v1/health", correlation=b"st")
    await eventually(lambda: observer.dropped() == [DropReason.CORRELATION_IN_USE])
    assert all(
        m.get("status") == "200" and m.content_type in {"image/jpeg", None} for m in raw.of(b"st")
    )
    assert router.streams[0].ended is None


async def test_connection_lost_ends_streams_as_client_gone(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter, broker: Broker
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "1")
    broker.stop()
    await eventually(lambda: router.streams[0].ended is not None, within=70)
    assert router.streams[0].ended in {StreamEnd.CLIENT_GONE, StreamEnd.SLOW_CLIENT}


async def test_relay_stop_ends_streams_with_shutdown(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    relay = await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    await open_stream(raw, unlock)
    await raw.wait_for(b"st", lambda m: m.get("frame") == "1")
    await relay.stop()
    end = await raw.wait_for(b"st", is_end, within=3)
    assert end.get("end") == "shutdown"


async def test_stream_refused_by_the_router_is_a_plain_answer(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100}, scope=("snapshot",))
    await open_stream(raw, unlock)
    [answer] = await raw.collect(b"st")
    assert answer.get("status") == "403" and answer.get("frame") is None
