"""FrameSink: frames are not held back by PUBACK round trips, at most `window` unacknowledged,
a broker silent past `ack_timeout_s` makes the viewer slow, a lost connection makes it gone,
0x10 stops the stream `unwatched`. The client here stands in for AckingClient's one call."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from rtcc_hub.carriage import SinkGone, SinkSlow, StreamEnd
from rtcc_hub.relay.sink import FrameSink


class Broker:
    """`publish_acked` as AckingClient has it: one future per message, resolved by the test."""

    def __init__(self, *, fail: bool = False) -> None:
        self.acks: list[asyncio.Future[int]] = []
        self.published: list[tuple[str, bytes]] = []
        self.fail = fail

    def publish_acked(self, topic: str, payload: bytes, properties: object) -> asyncio.Future[int]:
        if self.fail:
            raise aiomqtt.MqttError("not connected")
        self.published.append((topic, payload))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.acks.append(future)
        return future


def sink(broker: Broker, stops: list[StreamEnd], **kw: object) -> FrameSink:
    settings: dict[str, object] = {"window": 2, "ack_timeout_s": 0.2, "max_message_bytes": 4}
    settings.update(kw)
    return FrameSink(
        broker,  # type: ignore[arg-type]
        topic="t",
        correlation=b"c",
        content_type="image/jpeg",
        stop=stops.append,
        **settings,  # type: ignore[arg-type]
    )


async def test_window_then_slow() -> None:
    broker, stops = Broker(), []
    frames = sink(broker, stops)
    await frames.send(b"12345678")  # two parts
    await frames.send(b"1")
    assert len(broker.published) == 3 and frames.frames == 2
    with pytest.raises(SinkSlow):
        await frames.send(b"2")  # the oldest frame is never acknowledged
    assert stops == []


async def test_acks_free_the_window() -> None:
    broker, stops = Broker(), []
    frames = sink(broker, stops)
    for _ in range(5):
        await frames.send(b"x")
        for ack in broker.acks:
            if not ack.done():
                ack.set_result(0)
    assert frames.frames == 5 and frames.bytes == 5


async def test_0x10_stops_unwatched_and_the_next_send_is_gone() -> None:
    broker, stops = Broker(), []
    frames = sink(broker, stops)
    await frames.send(b"x")
    broker.acks[0].set_result(0x10)
    await asyncio.sleep(0.01)  # the ack, then the frame's gathered acks, settle
    assert stops == [StreamEnd.UNWATCHED]
    with pytest.raises(SinkGone):
        await frames.send(b"y")


async def test_a_failed_ack_or_publish_is_gone() -> None:
    broker, stops = Broker(), []
    frames = sink(broker, stops, window=1)
    await frames.send(b"x")
    broker.acks[0].set_exception(aiomqtt.MqttError("connection lost"))
    with pytest.raises(SinkGone):
        await frames.send(b"y")
    with pytest.raises(SinkGone):
        await sink(Broker(fail=True), []).send(b"x")


async def test_close_forgets_pending_frames() -> None:
    broker = Broker()
    frames = sink(broker, [])
    await frames.send(b"x")
    frames.close()
    await asyncio.sleep(0)
    assert all(ack.cancelled() for ack in broker.acks)
