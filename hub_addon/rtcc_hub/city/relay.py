"""The city's side of relays (PROTOCOL.md section 6): the city API of any home, over MQTT 5.

    async with CityRelay("mqtts://broker.city:8883", username=..., password=...) as relay:
        homes = await relay.online_homes()                      # {home_id: "online", ...}
        home = relay.home(home_id)                               # the same calls as CityClient
        unlock = await home.unlock(token)
        jpeg = await home.snapshot(unlock.unlock_id, unlock.access_token, camera_id)
        async with contextlib.aclosing(home.stream(...)) as frames:
            async for jpeg in frames: ...                        # closing it cancels (DELETE)
        answer = await relay.request(home_id, "GET", "/api/v1/health")   # the raw exchange

One connection serves every home: each request gets random Correlation Data and the response
topic `P/homes/H/responses/<session>`; one subscription `P/homes/+/responses/<session>` takes
every answer, and an answer counts only when it comes on the topic of the home that was asked
(the broker lets only that home write there). Answers in parts are joined; streams renew their
lease every 30 s by sending the same request again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiomqtt
from paho.mqtt.packettypes import PacketTypes

from ..relay.config import DEFAULT_TOPIC_PREFIX, check_topic_prefix, parse_broker_url
from ..relay.mqtt import NO_DELAY, new_properties, paho_logger
from .client import (
    API_PREFIX,
    CityApiError,
    CityClientError,
    Clip,
    Download,
    Received,
    Unlock,
    _bearer,
    clip_window,
)

MAX_BODY_BYTES = 32 * 1024 * 1024  # bounds what a hostile home can make the city buffer
MAX_PARTS = 4096
# A file answer (a clip) goes to disk part by part, never whole into memory: a 2 h clip at
# evidence quality is about 1.5 GB, many more parts than MAX_PARTS at the default 128 KiB.
MAX_FILE_BYTES = 8 * 1024**3
LEASE_RENEW_S = 30.0  # half the home's 60 s lease
HOME_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True, slots=True)
class RelayAnswer:
    """One whole answer: the HTTP status, the named headers (lower-case), the body."""

    status: int
    content_type: str | None
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            document = json.loads(self.body)
        except (UnicodeDecodeError, ValueError):
            raise CityClientError(f"status {self.status}: answer is not JSON") from None
        if not isinstance(document, dict):
            raise CityClientError(f"status {self.status}: answer is not a JSON object")
        return document

    def raise_for_error(self) -> None:
        if self.status < 400:
            return
        code, message = "http_error", ""
        with contextlib.suppress(CityClientError):
            document = self.json()
            if isinstance(document.get("error"), str):
                code = document["error"]
            if isinstance(document.get("message"), str):
                message = document["message"]
        raise CityApiError(self.status, code, message, retry_after=self.headers.get("retry-after"))


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    properties: dict[str, str]
    content_type: str | None


@dataclass(slots=True)
class _Exchange:
    topic: str
    # None: the connection to the broker is gone, no answer will come.
    queue: asyncio.Queue[_Message | None] = field(default_factory=asyncio.Queue)

    async def next(self) -> _Message:
        message = await self.queue.get()
        if message is None:
            raise CityClientError("the connection to the broker was lost")
        return message

    async def answer(
        self, first: _Message | None = None, *, each_s: float | None = None
    ) -> RelayAnswer:
        """The whole answer, its parts joined, from `first` when that is read already;
        `each_s` bounds the wait for each message (None: the caller bounds it all)."""
        assembler = _Assembler()
        message = first if first is not None else await self._within(each_s)
        while (whole := assembler.add(message)) is None:
            message = await self._within(each_s)
        return _answer(message, whole)

    async def _within(self, seconds: float | None) -> _Message:
        if seconds is None:
            return await self.next()
        async with asyncio.timeout(seconds):
            return await self.next()


class _Assembler:
    """Joins `part`/`parts` messages (of an answer, or of one frame) in order."""

    def __init__(self) -> None:
        self._parts: dict[int, bytes] = {}
        self._count: int | None = None
        self._size = 0

    def add(self, message: _Message) -> bytes | None:
        """The whole body once every part is in; None while parts are missing."""
        if "part" not in message.properties and "parts" not in message.properties:
            return message.payload
        try:
            number, count = int(message.properties["part"]), int(message.properties["parts"])
        except (KeyError, ValueError):
            raise CityClientError("malformed answer: bad part/parts") from None
        if not 1 <= number <= count <= MAX_PARTS or self._count not in (None, count):
            raise CityClientError("malformed answer: inconsistent part/parts")
        self._count = count
        self._size += len(message.payload)
        if self._size > MAX_BODY_BYTES:
            raise CityClientError(f"answer larger than {MAX_BODY_BYTES} bytes")
        self._parts[number] = message.payload
        if len(self._parts) < count:
            return None
        return b"".join(self._parts[n] for n in range(1, count + 1))


class _FileWriter:
    """Writes the consecutive parts of one answer to a file as they come (section 6: parts in
    order, numbered from 1); the first message says whether it is a file answer at all."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._file: Any = None
        self._next = 1
        self._count: int | None = None
        self.size = 0

    def add(self, message: _Message) -> bool:
        """Write one part; True once the last part is written."""
        if "part" not in message.properties and "parts" not in message.properties:
            number, count = 1, 1
        else:
            try:
                number = int(message.properties["part"])
                count = int(message.properties["parts"])
            except (KeyError, ValueError):
                raise CityClientError("malformed answer: bad part/parts") from None
        if number != self._next or count < 1 or self._count not in (None, count):
            raise CityClientError("malformed answer: parts out of order or inconsistent")
        self._count = count
        self.size += len(message.payload)
        if self.size > self._max_bytes:
            raise CityClientError(f"answer larger than {self._max_bytes} bytes")
        if self._file is None:
            self._file = self._path.open("wb")
        self._file.write(message.payload)
        self._next += 1
        return number == count

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _answer(message: _Message, body: bytes) -> RelayAnswer:
    try:
        status = int(message.properties["status"])
    except (KeyError, ValueError):
        raise CityClientError("malformed answer: no status") from None
    headers = {
        name: value
        for name, value in message.properties.items()
        if name in {"retry-after", "repr-digest", "rtcc-receipt"}
    }
    return RelayAnswer(status, message.content_type, headers, body)


class RelayStream:
    """The frames of one relayed stream; `end` says why it ended once iteration stops."""

    def __init__(self, relay: CityRelay, home_id: str, path: str, authorization: str | None):
        self._relay = relay
        self._home_id = home_id
        self._path = path
        self._authorization = authorization
        self.end: str | None = None
        self.count = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.frames()

    async def frames(self) -> AsyncGenerator[bytes]:
        """The frames; iterate inside `contextlib.aclosing(...)` to cancel at once on exit."""
        relay, correlation = self._relay, secrets.token_bytes(16)
        exchange = relay._open(self._home_id, correlation)
        renewing: asyncio.Task[None] | None = None
        finished = False
        try:
            await relay._send(self._home_id, correlation, "GET", self._path, self._authorization)
            renewing = asyncio.create_task(self._renew(correlation))
            frame = _Assembler()
            current: str | None = None
            while True:
                message = await exchange.next()
                if "end" in message.properties:
                    self.end = message.properties["end"]
                    return
                if "frame" not in message.properties:
                    finished = True  # a plain answer: there is no stream to cancel
                    _answer(message, _Assembler().add(message) or b"").raise_for_error()
                    raise CityClientError("stream answered without frames")
                if message.properties["frame"] != current:
                    current, frame = message.properties["frame"], _Assembler()
                body = frame.add(message)
                if body is not None:
                    self.count += 1
                    yield body
        finally:
            if renewing is not None:
                renewing.cancel()
            if self.end is None and not finished:
                # Stopped by the caller (or failed): tell the home, which ends it `cancelled`.
                with contextlib.suppress(aiomqtt.MqttError, CityClientError, TimeoutError):
                    await relay._send(self._home_id, correlation, "DELETE", self._path, None)
            relay._close(correlation)

    async def _renew(self, correlation: bytes) -> None:
        while True:
            await asyncio.sleep(self._relay.lease_renew_s)
            with contextlib.suppress(aiomqtt.MqttError, CityClientError):
                await self._relay._send(
                    self._home_id, correlation, "GET", self._path, self._authorization
                )


class CityRelay:
    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        timeout_s: float = 30.0,
        client_id: str | None = None,
        lease_renew_s: float = LEASE_RENEW_S,
    ) -> None:
        try:
            self._broker = parse_broker_url(url)
            self._prefix = check_topic_prefix(topic_prefix)
        except (TypeError, ValueError) as err:
            raise CityClientError(str(err)) from None
        self._username, self._password = username, password
        self._ca_file, self._cert_file, self._key_file = ca_file, cert_file, key_file
        self.timeout_s = timeout_s
        self.lease_renew_s = lease_renew_s
        self._session = secrets.token_hex(8)
        self._client_id = client_id or f"rtcc-city-{self._session}"
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None
        self._exchanges: dict[bytes, _Exchange] = {}
        self._statuses: dict[str, str] = {}
        self._status_seen = asyncio.Event()

    # -- connection ---------------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext | None:
        if not self._broker.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self._ca_file)
            if self._cert_file and self._key_file:
                context.load_cert_chain(self._cert_file, self._key_file)
        except (OSError, ssl.SSLError) as err:
            raise CityClientError(f"cannot load TLS files: {err}") from None
        return context

    async def __aenter__(self) -> Self:
        broker = self._broker
        client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=self._username,
            password=self._password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            transport="websockets" if broker.websocket else "tcp",
            websocket_path=broker.path if broker.websocket else None,
            tls_context=self._tls(),
            clean_start=True,
            timeout=self.timeout_s,
            logger=paho_logger("rtcc_hub.city"),
            socket_options=NO_DELAY,
        )
        client.pending_calls_threshold = 1_000_000  # a broadcast has one pending call per home
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as err:
            raise CityClientError(f"cannot connect to {broker.host}:{broker.port}: {err}") from None
        self._client = client
        try:
            await client.subscribe(f"{self._prefix}/homes/+/responses/{self._session}", qos=1)
        except aiomqtt.MqttError as err:
            await self.aclose()
            raise CityClientError(f"cannot subscribe to responses: {err}") from None
        self._reader = asyncio.create_task(self._read(client))
        self._reader.add_done_callback(self._lost)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    async def _read(self, client: aiomqtt.Client) -> None:
        status_prefix, status_suffix = f"{self._prefix}/homes/", "/status"
        async for raw in client.messages:
            topic = str(raw.topic)
            payload = raw.payload if isinstance(raw.payload, bytes) else b""
            if topic.startswith(status_prefix) and topic.endswith(status_suffix):
                self._status(topic[len(status_prefix) : -len(status_suffix)], payload)
                continue
            properties = raw.properties
            correlation = getattr(properties, "CorrelationData", None)
            exchange = self._exchanges.get(bytes(correlation)) if correlation else None
            if exchange is None or topic != exchange.topic:
                continue  # not ours, late, or not from the home that was asked
            user = getattr(properties, "UserProperty", None) or []
            exchange.queue.put_nowait(
                _Message(
                    topic=topic,
                    payload=payload,
                    properties={str(name): str(value) for name, value in user},
                    content_type=getattr(properties, "ContentType", None),
                )
            )

    def _lost(self, reader: asyncio.Task[None]) -> None:
        """The reader stopped (the connection dropped): every waiting exchange fails now."""
        if not reader.cancelled():
            reader.exception()  # retrieved: the loss is reported to each waiting exchange
        for exchange in self._exchanges.values():
            exchange.queue.put_nowait(None)

    def _status(self, home_id: str, payload: bytes) -> None:
        try:
            status = json.loads(payload).get("status") if payload else None
        except (UnicodeDecodeError, ValueError, AttributeError):
            status = None
        if isinstance(status, str):
            self._statuses[home_id] = status
        else:
            self._statuses.pop(home_id, None)
        self._status_seen.set()

    def _require(self) -> aiomqtt.Client:
        if self._client is None:
            raise CityClientError("not connected: use `async with CityRelay(...)`")
        return self._client

    # -- exchanges ----------------------------------------------------------------------------

    def response_topic(self, home_id: str) -> str:
        return f"{self._prefix}/homes/{home_id}/responses/{self._session}"

    def _open(self, home_id: str, correlation: bytes) -> _Exchange:
        if not home_id or not set(home_id) <= HOME_ID_CHARS:
            raise CityClientError(f"not a home id: {home_id!r}")
        exchange = _Exchange(topic=self.response_topic(home_id))
        self._exchanges[correlation] = exchange
        return exchange

    def _close(self, correlation: bytes) -> None:
        self._exchanges.pop(correlation, None)

    async def _send(
        self,
        home_id: str,
        correlation: bytes,
        method: str,
        path: str,
        authorization: str | None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        properties = new_properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = self.response_topic(home_id)
        properties.CorrelationData = correlation
        user = [("method", method), ("path", path)]
        if authorization is not None:
            user.append(("authorization", authorization))
        properties.UserProperty = user
        if content_type:
            properties.ContentType = content_type
        await self._require().publish(
            f"{self._prefix}/homes/{home_id}/requests", body, qos=1, properties=properties
        )

    async def request(
        self,
        home_id: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        authorization: str | None = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
    ) -> RelayAnswer:
        """One request, its whole answer (parts joined). CityClientError when none comes."""
        correlation = secrets.token_bytes(16)
        exchange = self._open(home_id, correlation)
        try:
            async with asyncio.timeout(timeout_s or self.timeout_s):
                await self._send(
                    home_id,
                    correlation,
                    method,
                    path,
                    authorization,
                    body=body,
                    content_type=content_type,
                )
                return await exchange.answer()
        except TimeoutError:
            raise CityClientError(f"no answer from home {home_id} in time") from None
        except aiomqtt.MqttError as err:
            raise CityClientError(f"relay request failed: {err}") from None
        finally:
            self._close(correlation)

    async def download(
        self,
        home_id: str,
        path: str,
        destination: Path,
        *,
        authorization: str | None = None,
        content_type: str,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> RelayAnswer:
        """`GET path`; a 200 answer of `content_type` is written to `destination` part by part
        (the answer's body is then empty), anything else is an ordinary answer. `timeout_s`
        bounds the wait for each message, not the whole download: a large clip takes as long
        as it takes while parts keep coming."""
        correlation = secrets.token_bytes(16)
        exchange = self._open(home_id, correlation)
        writer = _FileWriter(destination, max_bytes)
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._send(home_id, correlation, "GET", path, authorization)
                first = await exchange.next()
            if first.properties.get("status") != "200" or first.content_type != content_type:
                return await exchange.answer(first, each_s=self.timeout_s)
            message, done = first, await asyncio.to_thread(writer.add, first)
            while not done:
                async with asyncio.timeout(self.timeout_s):
                    message = await exchange.next()
                done = await asyncio.to_thread(writer.add, message)
            return _answer(message, b"")
        except TimeoutError:
            raise CityClientError(f"no answer from home {home_id} in time") from None
        except aiomqtt.MqttError as err:
            raise CityClientError(f"relay request failed: {err}") from None
        finally:
            writer.close()
            self._close(correlation)

    def stream(self, home_id: str, path: str, authorization: str | None) -> RelayStream:
        return RelayStream(self, home_id, path, authorization)

    async def online_homes(self, *, settle_s: float = 1.0) -> dict[str, str]:
        """Every home's retained status (`online`/`offline`), read until `settle_s` pass with
        no new one (the broker sends retained messages right after the subscription)."""
        client = self._require()
        await client.subscribe(f"{self._prefix}/homes/+/status", qos=1)
        while True:
            self._status_seen.clear()
            try:
                async with asyncio.timeout(settle_s):
                    await self._status_seen.wait()
            except TimeoutError:
                break
        return dict(sorted(self._statuses.items()))

    def home(self, home_id: str) -> RelayHome:
        return RelayHome(self, home_id)


def _api(*segments: str) -> str:
    return API_PREFIX + "".join("/" + quote(segment, safe="") for segment in segments)


class RelayHome:
    """One home's city API over a relay: the calls and errors of `CityClient`."""

    def __init__(self, relay: CityRelay, home_id: str) -> None:
        self.relay = relay
        self.home_id = home_id

    async def _call(
        self, method: str, path: str, access_token: str | None = None, **kwargs: Any
    ) -> RelayAnswer:
        authorization = _bearer(access_token)["Authorization"] if access_token else None
        answer = await self.relay.request(
            self.home_id, method, path, authorization=authorization, **kwargs
        )
        answer.raise_for_error()
        return answer

    async def health(self) -> dict[str, Any]:
        return (await self._call("GET", _api("health"))).json()

    async def unlock(self, token: str) -> Unlock:
        body = json.dumps({"token": token}).encode()
        answer = await self._call(
            "POST", _api("unlocks"), body=body, content_type="application/json"
        )
        return Unlock.from_json(answer.json())

    async def status(self, unlock_id: str, access_token: str) -> Unlock:
        answer = await self._call("GET", _api("unlocks", unlock_id), access_token)
        return Unlock.from_json(answer.json())

    async def snapshot(self, unlock_id: str, access_token: str, camera_id: str) -> bytes:
        return (await self.snapshot_received(unlock_id, access_token, camera_id)).body

    async def snapshot_received(
        self, unlock_id: str, access_token: str, camera_id: str
    ) -> Received:
        """The JPEG (its parts joined) with its `repr-digest` and `rtcc-receipt`."""
        path = _api("unlocks", unlock_id, "cameras", camera_id, "snapshot")
        answer = await self._call("GET", path, access_token)
        if answer.content_type != "image/jpeg":
            raise CityClientError(f"expected image/jpeg, got {answer.content_type or 'nothing'}")
        return Received(
            answer.body, answer.headers.get("repr-digest"), answer.headers.get("rtcc-receipt")
        )

    async def stream(
        self, unlock_id: str, access_token: str, camera_id: str
    ) -> AsyncGenerator[bytes]:
        """The frames until the home ends the stream; closing the generator cancels it."""
        path = _api("unlocks", unlock_id, "cameras", camera_id, "stream")
        authorization = _bearer(access_token)["Authorization"]
        frames = self.relay.stream(self.home_id, path, authorization).frames()
        async with contextlib.aclosing(frames):
            async for frame in frames:
                yield frame

    async def close_unlock(self, unlock_id: str, access_token: str) -> None:
        await self._call("DELETE", _api("unlocks", unlock_id), access_token)

    async def request_clip(
        self,
        unlock_id: str,
        access_token: str,
        camera_id: str,
        *,
        start: str | None = None,
        end: str | None = None,
    ) -> Clip:
        window = clip_window(start, end)
        answer = await self._call(
            "POST",
            _api("unlocks", unlock_id, "cameras", camera_id, "clips"),
            access_token,
            body=json.dumps(window).encode() if window else b"",
            content_type="application/json" if window else None,
        )
        return Clip.from_json(answer.json())

    async def clip(self, unlock_id: str, access_token: str, clip_id: str) -> Clip:
        answer = await self._call("GET", _api("unlocks", unlock_id, "clips", clip_id), access_token)
        return Clip.from_json(answer.json())

    async def clip_video(
        self, unlock_id: str, access_token: str, clip_id: str, path: Path
    ) -> Download:
        """The clip's video saved to `path`, written part by part as the parts come (a long
        clip never sits whole in memory); nothing is left under `path` unless all of it came."""
        partial = path.with_name(path.name + ".part")
        try:
            answer = await self.relay.download(
                self.home_id,
                _api("unlocks", unlock_id, "clips", clip_id, "video"),
                partial,
                authorization=_bearer(access_token)["Authorization"],
                content_type="video/mp4",
            )
            answer.raise_for_error()
            if answer.status != 200:
                raise CityClientError(f"expected video/mp4, got status {answer.status}")
            if answer.content_type != "video/mp4":
                got = answer.content_type or "nothing"
                raise CityClientError(f"expected video/mp4, got {got}")
            size = partial.stat().st_size
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return Download(
            path, size, answer.headers.get("repr-digest"), answer.headers.get("rtcc-receipt")
        )
