"""Where a relayed stream's frames go: one message per frame (parts when large), QoS 1.

`send` does not wait for each frame's PUBACK before returning (the stream is paced at
`max_fps`, and a round trip to a distant broker may take longer than a frame interval); it
keeps at most `window` frames unacknowledged, and a broker that does not acknowledge the
oldest within `ack_timeout_s` makes the viewer slow (`SinkSlow`). A PUBACK with reason code
0x10 (no matching subscribers: the city stopped listening) stops the stream as `unwatched`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import aiomqtt

from ..carriage import SinkGone, SinkSlow, StreamEnd
from .mqtt import NO_MATCHING_SUBSCRIBERS, AckingClient, publish_properties
from .wire import frame_messages


class FrameSink:
    def __init__(
        self,
        client: AckingClient,
        *,
        topic: str,
        correlation: bytes,
        content_type: str,
        max_message_bytes: int,
        stop: Callable[[StreamEnd], None],
        window: int,
        ack_timeout_s: float,
    ) -> None:
        self._client = client
        self._topic = topic
        self._correlation = correlation
        self._content_type = content_type
        self._max_bytes = max_message_bytes
        self._stop = stop
        self._window = window
        self._ack_timeout_s = ack_timeout_s
        self._pending: deque[asyncio.Future[list[int]]] = deque()
        self._gone = False
        self.frames = 0
        self.bytes = 0

    async def send(self, frame: bytes) -> None:
        if self._gone:
            raise SinkGone
        while self._pending and self._pending[0].done():
            self._settle(self._pending.popleft())
        while len(self._pending) >= self._window:
            oldest = self._pending.popleft()
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    await asyncio.shield(oldest)
            except TimeoutError:
                oldest.cancel()
                raise SinkSlow from None
            except aiomqtt.MqttError:
                pass  # settled below
            self._settle(oldest)
            if self._gone:
                raise SinkGone
        self.frames += 1
        acks: list[asyncio.Future[int]] = []
        try:
            for message in frame_messages(frame, self.frames, self._content_type, self._max_bytes):
                properties = publish_properties(
                    self._correlation, message.user_properties, message.content_type
                )
                acks.append(self._client.publish_acked(self._topic, message.payload, properties))
        except aiomqtt.MqttError:
            self._gone = True
            for ack in acks:
                ack.cancel()
            raise SinkGone from None
        self.bytes += len(frame)
        group = asyncio.gather(*acks)
        group.add_done_callback(self._settle)
        self._pending.append(group)

    def _settle(self, group: asyncio.Future[list[int]]) -> None:
        if group.cancelled():
            return
        if group.exception() is not None:
            self._gone = True
            return
        if NO_MATCHING_SUBSCRIBERS in group.result():
            self._gone = True
            self._stop(StreamEnd.UNWATCHED)

    def close(self) -> None:
        """Forget frames still unacknowledged (the stream is over)."""
        while self._pending:
            self._pending.popleft().cancel()
