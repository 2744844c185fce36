"""A city that sends relay requests byte for byte as a test wants them, right or wrong.

    raw = RawCity(client, home_id)             # an aiomqtt client logged in as a city account
    await raw.listen()                          # subscribes to every response of the home
    await raw.send(method="GET", path="/api/v1/health", correlation=b"c1")
    messages = await raw.collect(b"c1")         # until the answer is whole (or `quiet_s`)
    await raw.silence(quiet_s=1.0)              # asserts nothing at all arrived

Every message received is kept in `raw.received` with its topic, payload and properties.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes

from rtcc_hub.relay.mqtt import new_properties

_UNSET: Any = object()


@dataclass
class Received:
    topic: str
    payload: bytes
    correlation: bytes | None
    user: list[tuple[str, str]]
    content_type: str | None
    at: float

    @property
    def props(self) -> dict[str, str]:
        return dict(self.user)

    def get(self, name: str) -> str | None:
        return self.props.get(name)


class RawCity:
    def __init__(self, client: aiomqtt.Client, home_id: str, prefix: str = "rtcc/v1") -> None:
        self.client = client
        self.home_id = home_id
        self.prefix = prefix
        self.received: list[Received] = []
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def requests_topic(self) -> str:
        return f"{self.prefix}/homes/{self.home_id}/requests"

    @property
    def response_topic(self) -> str:
        return f"{self.prefix}/homes/{self.home_id}/responses/raw"

    async def listen(self, topic: str | None = None) -> None:
        await self.client.subscribe(
            topic or f"{self.prefix}/homes/{self.home_id}/responses/#", qos=1
        )
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def stop_listening(self) -> None:
        await self.client.unsubscribe(f"{self.prefix}/homes/{self.home_id}/responses/#")

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        async for message in self.client.messages:
            props = message.properties
            correlation = getattr(props, "CorrelationData", None)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.received.append(
                Received(
                    topic=str(message.topic),
                    payload=payload,
                    correlation=bytes(correlation) if correlation is not None else None,
                    user=[(str(k), str(v)) for k, v in getattr(props, "UserProperty", None) or []],
                    content_type=getattr(props, "ContentType", None),
                    at=loop.time(),
                )
            )
            self._arrived.set()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader

    async def send(
        self,
        *,
        method: str | None = "GET",
        path: str | None = "/api/v1/health",
        correlation: bytes | None = b"c1",
        response_topic: Any = _UNSET,
        authorization: str | None = None,
        user: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        properties = new_properties(PacketTypes.PUBLISH)
        topic = self.response_topic if response_topic is _UNSET else response_topic
        if topic is not None:
            properties.ResponseTopic = topic
        if correlation is not None:
            properties.CorrelationData = correlation
        pairs = list(user) if user is not None else []
        if user is None:
            if method is not None:
                pairs.append(("method", method))
            if path is not None:
                pairs.append(("path", path))
            if authorization is not None:
                pairs.append(("authorization", authorization))
        if pairs:
            properties.UserProperty = pairs
        if content_type is not None:
            properties.ContentType = content_type
        await self.client.publish(self.requests_topic, body, qos=1, properties=properties)

    def of(self, correlation: bytes) -> list[Received]:
        return [m for m in self.received if m.correlation == correlation]

    async def collect(self, correlation: bytes, *, within: float = 10.0) -> list[Received]:
        """The messages of one whole (non-stream) answer: one, or all its parts."""
        async with asyncio.timeout(within):
            while True:
                messages = self.of(correlation)
                if messages:
                    parts = messages[0].get("parts")
                    if parts is None or len(messages) >= int(parts):
                        return messages
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_for(
        self, correlation: bytes, predicate: Any, *, within: float = 10.0
    ) -> Received:
        async with asyncio.timeout(within):
            while True:
                for message in self.of(correlation):
                    if predicate(message):
                        return message
                self._arrived.clear()
                await self._arrived.wait()

    async def silence(self, *, quiet_s: float = 1.0) -> None:
        before = len(self.received)
        await asyncio.sleep(quiet_s)
        assert self.received[before:] == [], self.received[before:]
