"""One relay: the city API over one outbound MQTT 5 connection (PROTOCOL.md section 6).

    relay = Relay(config, home_id=home_id, handler=router.handle, observer=audit)
    await relay.start()      # connects, and keeps reconnecting with backoff, in the background
    relay.status()           # {"hub", "url", "connected", "since", "last_error"}
    await relay.stop()       # ends its streams, announces offline, disconnects

The relay only carries: every request it admits goes to `handler` (the city router, the same
one the HTTP city API uses) as a `CityRequest` whose `client` is this relay (flood control counts
a relay as one client address) and whose `only_hub` is the relay's hub. What it decides itself:
which messages are requests at all (`wire.read_request`), how many run at once, and the
carriage of answers and streams.

Concurrency: at most `max_concurrent` (16) requests of this relay are being answered at once;
another gets `429 busy`. A stream counts until the router has opened it (its first frame is
ready): from then on it is bounded by the city API's own stream limits (4 per camera and
unlock, 32 in all), and it must not lock the relay: with 16 open streams the city could no
longer even read an unlock's status. Lease renewals and cancels of live exchanges are handled
on arrival and never count (a renewal refused as busy would end a stream that is watched).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.packettypes import PacketTypes

from ..carriage import Answer, CityRequest, FrameStream, Reply, StreamEnd
from ..errors import ErrorCode
from ..timefmt import rfc3339
from .backoff import reconnect_delay
from .config import RelayConfig
from .exchanges import Exchange, ExchangeTable, Repeat, classify_repeat
from .mqtt import (
    NO_DELAY,
    AckingClient,
    new_properties,
    paho_logger,
    publish_properties,
    tls_context,
)
from .observer import DropReason, NullObserver, RelayIdentity, RelayObserver
from .replies import relay_error
from .sink import FrameSink
from .topics import HomeTopics
from .wire import (
    Accepted,
    Answered,
    Dropped,
    Incoming,
    Outgoing,
    end_message,
    end_name,
    file_part,
    read_request,
    reply_messages,
)

_LOGGER = logging.getLogger(__name__)

type Handler = Callable[[CityRequest], Awaitable[Answer]]

ONLINE = json.dumps({"status": "online"}).encode()
OFFLINE = json.dumps({"status": "offline"}).encode()
STOPPED = "stopped: the add-on is shutting down"
# Parts of a file answer (a clip) in flight at once: its memory stays a few messages large.
FILE_WINDOW_PARTS = 8


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Limits and timings of a relay. The defaults are the protocol's; tests shorten some."""

    max_concurrent: int = 16  # section 6: "up to 16 requests of one relay at once"
    lease_s: float = 60.0  # section 6: a stream's lease, renewed by the same request again
    keepalive_s: int = 30  # section 6: at most 60 s
    # Requests are small (an unlock body is at most 16 KiB): the broker is told not to deliver
    # anything larger (MQTT 5 Maximum Packet Size), so a flood of huge messages never reaches
    # the home's memory.
    max_request_packet_bytes: int = 64 * 1024
    # Answers of the relay's own (`400`, `405`, `429 busy`) waiting for their PUBACK at once;
    # beyond that a flood is dropped unanswered.
    busy_backlog: int = 64
    frame_window: int = 2  # frames of one stream unacknowledged at once
    ack_timeout_s: float = 10.0  # a broker silent this long on a PUBACK is as good as gone
    connect_timeout_s: float = 15.0
    shutdown_grace_s: float = 2.0  # for streams to send their `end` when the add-on stops


def relay_client_key(config: RelayConfig) -> str:
    """The relay's key in the flood control of refusals (one client address per relay)."""
    return f"relay:{config.hub}@{config.url}"


class Relay:
    def __init__(
        self,
        config: RelayConfig,
        *,
        home_id: str,
        handler: Handler,
        observer: RelayObserver | None = None,
        settings: RelaySettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.identity = RelayIdentity(
            hub=config.hub, url=config.url, client=relay_client_key(config)
        )
        self._topics = HomeTopics(config.topic_prefix, home_id)
        self._client_id = f"rtcc-{home_id}"
        self._handler = handler
        self._observer: RelayObserver = observer or NullObserver()
        self._settings = settings or RelaySettings()
        self._clock = clock
        self._exchanges = ExchangeTable()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = 0  # requests being answered (streams until opened)
        self._own_pending = 0  # answers of the relay's own awaiting their PUBACK
        self._generation = 0  # counts connections; an exchange belongs to one
        self._client: AckingClient | None = None
        self._connected = False
        self._since = clock()
        self._last_error: str | None = None
        self._reported_failure: str | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- state --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def status(self) -> dict[str, object]:
        """For `GET /control/v1/state`: never the credentials (the URL carries none)."""
        return {
            "hub": self.config.hub,
            "url": self.config.url,
            "connected": self._connected,
            "since": rfc3339(self._since),
            "last_error": self._last_error,
        }

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            self._connected = connected
            self._since = self._clock()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._run_task is None:
            self._stopping = False
            self._run_task = asyncio.create_task(self._run(), name=f"relay {self.config.url}")

    async def stop(self) -> None:
        """End open streams (`end: shutdown`), announce offline, disconnect cleanly."""
        self._stopping = True
        task, self._run_task = self._run_task, None
        if task is None:
            return
        for stream in self._exchanges.streams():
            stream.stop(StreamEnd.SHUTDOWN)
        client, was_connected = self._client, self._connected
        if client is not None and was_connected:
            streams = [t for t in self._tasks if not t.done()]
            if streams:
                await asyncio.wait(streams, timeout=self._settings.shutdown_grace_s)
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await self._publish(
                    client, self._topics.status, [Outgoing(OFFLINE, (), None)], None, retain=True
                )
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for pending in list(self._tasks):
            pending.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._set_connected(False)
        if was_connected:  # the audit's "connected ... lost" pair closes at shutdown too
            await self._notify(self._observer.relay_lost(self.identity, STOPPED))

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError, ssl.SSLError, ValueError, TimeoutError) as err:
                error = _describe(err)
                was_connected = self._connected
                self._last_error = error
                self._set_connected(False)
                self._drop_connection()
                if was_connected:
                    failures = 0
                    self._reported_failure = None
                    await self._notify(self._observer.relay_lost(self.identity, error))
                elif error != self._reported_failure:
                    self._reported_failure = error
                    await self._notify(self._observer.relay_failed(self.identity, error))
                _LOGGER.warning("relay %s: %s", self.config.url, error)
            failures += 1
            await asyncio.sleep(reconnect_delay(failures))

    def _drop_connection(self) -> None:
        """The connection is gone: its streams cannot send anything more."""
        for stream in self._exchanges.streams(self._generation):
            stream.stop(StreamEnd.CLIENT_GONE)
        if self._client is not None:
            self._client.fail_pending("connection lost")
        self._client = None

    def _make_client(self, context: ssl.SSLContext | None) -> AckingClient:
        settings, broker = self._settings, self.config.broker
        connect = new_properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = 0
        connect.MaximumPacketSize = settings.max_request_packet_bytes
        will = aiomqtt.Will(self._topics.status, OFFLINE, qos=1, retain=True)
        return AckingClient(
            broker.host,
            broker.port,
            username=self.config.username,
            password=self.config.password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=will,
            transport="websockets" if broker.websocket else "tcp",
            timeout=settings.connect_timeout_s,
            keepalive=settings.keepalive_s,
            clean_start=True,
            properties=connect,
            tls_context=context,
            websocket_path=broker.path if broker.websocket else None,
            logger=paho_logger(),
            socket_options=NO_DELAY,
        )

    async def _connection(self) -> None:
        context = await asyncio.to_thread(tls_context, self.config)
        client = self._make_client(context)
        async with client:
            self._generation += 1
            self._client = client
            granted = await client.subscribe(
                self._topics.requests, qos=1, timeout=self._settings.connect_timeout_s
            )
            if any(_code(code) >= 0x80 for code in granted):
                raise aiomqtt.MqttError(
                    f"the broker refused the subscription to {self._topics.requests}"
                )
            codes = await self._publish(
                client, self._topics.status, [Outgoing(ONLINE, (), None)], None, retain=True
            )
            if any(code >= 0x80 for code in codes):
                raise aiomqtt.MqttError(
                    f"the broker refused the status message (reason code {codes[0]:#04x})"
                )
            self._last_error = None
            self._reported_failure = None
            self._set_connected(True)
            await self._notify(self._observer.relay_connected(self.identity))
            async for message in client.messages:
                if str(message.topic) == self._topics.requests:
                    await self._dispatch(client, message)
            raise aiomqtt.MqttError("the broker ended the connection")

    # -- requests -----------------------------------------------------------------------------

    async def _dispatch(self, client: AckingClient, message: aiomqtt.Message) -> None:
        incoming = _incoming(message)
        decision = read_request(
            incoming, self._topics, client=self.identity.client, hub=self.config.hub
        )
        if isinstance(decision, Dropped):
            await self._drop(decision.reason)
            return
        live = self._exchanges.get(decision.correlation)
        if isinstance(decision, Answered):
            if live is not None:
                await self._drop(DropReason.CORRELATION_IN_USE)
            else:
                await self._answer_itself(client, decision)
            return
        if live is not None:
            self._repeat(live, decision.request)
            return
        if self._running >= self._settings.max_concurrent:
            busy = Answered(
                decision.correlation, decision.response_topic, relay_error(ErrorCode.BUSY)
            )
            await self._answer_itself(client, busy)
            return
        exchange = Exchange(
            request=decision.request,
            response_topic=decision.response_topic,
            generation=self._generation,
            lease_s=self._settings.lease_s,
            lease_deadline=asyncio.get_running_loop().time() + self._settings.lease_s,
        )
        self._exchanges.add(decision.correlation, exchange)
        self._running += 1
        self._spawn(self._handle(client, decision, exchange))

    def _repeat(self, live: Exchange, request: CityRequest) -> None:
        match classify_repeat(live.request, request):
            case Repeat.RENEWAL:
                live.renew(asyncio.get_running_loop().time())
            case Repeat.CANCEL:
                live.cancel()
            case Repeat.CONFLICT:
                self._spawn(self._drop(DropReason.CORRELATION_IN_USE))

    async def _handle(self, client: AckingClient, accepted: Accepted, exchange: Exchange) -> None:
        counted = True
        try:
            try:
                answer = await self._handler(accepted.request)
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("relay %s: the router failed", self.config.url)
                answer = relay_error(ErrorCode.INTERNAL_ERROR)
            if isinstance(answer, Reply) and answer.file is not None:
                await self._send_file(client, accepted, answer)
                return
            if isinstance(answer, Reply):
                await self._send(client, accepted, reply_messages(answer, self._max_bytes))
                return
            self._running -= 1
            counted = False
            await self._stream(client, accepted, exchange, answer)
        finally:
            if counted:
                self._running -= 1
            self._exchanges.remove(accepted.correlation, exchange)

    async def _stream(
        self, client: AckingClient, accepted: Accepted, exchange: Exchange, stream: FrameStream
    ) -> None:
        sink = FrameSink(
            client,
            topic=accepted.response_topic,
            correlation=accepted.correlation,
            content_type=stream.content_type,
            max_message_bytes=self._max_bytes,
            stop=stream.stop,
            window=self._settings.frame_window,
            ack_timeout_s=self._settings.ack_timeout_s,
        )
        exchange.attach(stream, asyncio.get_running_loop())
        if exchange.generation != self._generation or self._client is not client:
            stream.stop(StreamEnd.CLIENT_GONE)  # the connection dropped while it opened
        try:
            reason = await stream.run(sink.send)
        finally:
            sink.close()
            exchange.detach()
        name = end_name(reason)
        if name is not None:
            await self._send(client, accepted, [end_message(name)])

    async def _answer_itself(self, client: AckingClient, answered: Answered) -> None:
        """A `400`, `405` or `429` of the relay's own. These cost the home almost nothing, but
        each waits for its PUBACK: past `busy_backlog` of them a flood is dropped unanswered."""
        if self._own_pending >= self._settings.busy_backlog:
            await self._drop(DropReason.FLOOD)
            return
        self._own_pending += 1

        async def send() -> None:
            try:
                await self._send_to(
                    client,
                    answered.response_topic,
                    answered.correlation,
                    reply_messages(answered.reply, self._max_bytes),
                )
            finally:
                self._own_pending -= 1

        self._spawn(send())

    async def _drop(self, reason: DropReason) -> None:
        await self._notify(self._observer.request_dropped(self.identity, reason))

    # -- sending ------------------------------------------------------------------------------

    @property
    def _max_bytes(self) -> int:
        return self.config.max_message_bytes

    async def _send_file(self, client: AckingClient, accepted: Accepted, reply: Reply) -> None:
        """A body read from its file as it goes (a clip may be hundreds of megabytes): a few
        parts at a time, each window acknowledged before the next is read. Cut off (no more
        parts) when it stops being served, as an HTTP transfer is."""
        assert reply.file is not None
        parts = max(1, math.ceil(reply.length / self._max_bytes))
        with await asyncio.to_thread(reply.file.open, "rb") as handle:
            for first in range(1, parts + 1, FILE_WINDOW_PARTS):
                if reply.still_served is not None and not reply.still_served():
                    return
                window = []
                for number in range(first, min(parts, first + FILE_WINDOW_PARTS - 1) + 1):
                    chunk = await asyncio.to_thread(handle.read, self._max_bytes)
                    window.append(file_part(reply, chunk, number, parts))
                try:
                    await self._publish(
                        client, accepted.response_topic, window, accepted.correlation
                    )
                except (aiomqtt.MqttError, TimeoutError) as err:
                    _LOGGER.debug("relay %s: a file answer was cut off: %s", self.config.url, err)
                    return

    async def _send(
        self, client: AckingClient, accepted: Accepted, messages: list[Outgoing]
    ) -> None:
        await self._send_to(client, accepted.response_topic, accepted.correlation, messages)

    async def _send_to(
        self, client: AckingClient, topic: str, correlation: bytes, messages: list[Outgoing]
    ) -> None:
        """Best effort: an answer that cannot be delivered (the connection dropped) is lost,
        as an HTTP response is when its connection drops; the city asks again."""
        try:
            await self._publish(client, topic, messages, correlation)
        except (aiomqtt.MqttError, TimeoutError) as err:
            _LOGGER.debug("relay %s: answer not delivered: %s", self.config.url, err)

    async def _publish(
        self,
        client: AckingClient,
        topic: str,
        messages: list[Outgoing],
        correlation: bytes | None,
        *,
        retain: bool = False,
    ) -> list[int]:
        acks = [
            client.publish_acked(
                topic,
                message.payload,
                publish_properties(correlation, message.user_properties, message.content_type),
                retain=retain,
            )
            for message in messages
        ]
        try:
            async with asyncio.timeout(self._settings.ack_timeout_s):
                return list(await asyncio.gather(*acks))
        finally:
            for ack in acks:
                ack.cancel()

    # -- plumbing -----------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error(
                "relay %s: request task failed", self.config.url, exc_info=task.exception()
            )

    async def _notify(self, call: Awaitable[None]) -> None:
        try:
            await call
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("relay %s: the observer failed", self.config.url)


def _incoming(message: aiomqtt.Message) -> Incoming:
    properties = message.properties
    user = getattr(properties, "UserProperty", None) or []
    correlation = getattr(properties, "CorrelationData", None)
    payload = message.payload
    return Incoming(
        response_topic=getattr(properties, "ResponseTopic", None),
        correlation=bytes(correlation) if correlation is not None else None,
        user_properties=[(str(name), str(value)) for name, value in user],
        payload=payload if isinstance(payload, bytes) else b"",
        retained=bool(message.retain),
    )


def _code(code: object) -> int:
    value = getattr(code, "value", code)
    return value if isinstance(value, int) else 0x80


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = ["Handler", "Relay", "RelaySettings", "relay_client_key"]
