"""An HTTP listener that protects itself, serving one aiohttp `web.Application`.

PROTOCOL.md section 3: a client that has not sent a whole request head within 10 s, or keeps an
idle connection open for more than 60 s, is disconnected; at most 64 connections per client
address and 512 in all are open at once (more are accepted and closed at once); running out of
file descriptors never stops the add-on from answering its owner or from ending access; no
response names the software.

aiohttp's own `TCPSite` has none of this: no head timeout, no caps, and asyncio's accept loop
turns EMFILE into a storm (it keeps calling `accept()` after removing its reader, logging an
ERROR with a traceback and scheduling one more retry each time: python/cpython#151615). So this
module owns the listening sockets and the accept loop, and hands each admitted connection to
aiohttp's `RequestHandler` through a small protocol (`_Connection`) that keeps the timers.

Rules beyond the protocol's words, chosen the way a careful engineer would expect:
- The head timeout runs from the accept (the TLS handshake counts against it) and, on a kept-
  alive connection, from the first byte of each later request.
- A request body must have arrived within the same 10 s of its request being taken up.
- A response the client stops reading for 60 s counts as an idle connection.
- IPv6 clients are counted per /64 (one host usually has a whole /64); IPv4-mapped IPv6
  addresses count as their IPv4 address.
- A client going away is not an error. Every condition is logged once and then only counted
  (`logthrottle.ConditionThrottle`), so a flood cannot grow the log faster than a fixed rate.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from .descriptors import OUT_OF_DESCRIPTORS, DescriptorBudget, SpareDescriptors
from .logthrottle import ConditionThrottle

_LOGGER = logging.getLogger(__name__)

BACKLOG = 128
# Accepts per wake-up of the listening socket: a flood cannot keep the loop from other work.
ACCEPT_BATCH = 64
# While no descriptor can be had, the listener looks again this often (well within the 1 s in
# which the owner must be able to revoke).
EXHAUSTED_RETRY_S = 0.25
# Bytes a TLS client may send before its handshake is complete.
MAX_EARLY_BYTES = 64 * 1024
SHUTDOWN_TIMEOUT_S = 2.0

PROTOCOL_ERROR_MESSAGE = "The request could not be read as HTTP."
INTERNAL_ERROR_MESSAGE = "Internal error."
ERROR_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    head_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    per_address: int = 64
    total: int = 512
    # What is done with a connection accepted with a spare descriptor at EMFILE: served (the
    # owner's control API) or closed at once (the city, which also admits nothing while the
    # spares are short).
    serve_when_exhausted: bool = False
    # Whether `total` shrinks to what the descriptor budget leaves (the city's connections are
    # what the budget is for; the control API's few live in its reserve).
    sized_by_budget: bool = True


CITY_LIMITS = ConnectionLimits()  # PROTOCOL.md section 3
# The control API has one client (the integration), a bearer token and no published port; its
# caps only bound what a local attacker could hold, and its spares keep it answering at EMFILE.
CONTROL_LIMITS = ConnectionLimits(
    per_address=64, total=64, serve_when_exhausted=True, sized_by_budget=False
)


class Refusal(StrEnum):
    PER_ADDRESS = "per_address"
    TOTAL = "total"


class Condition(StrEnum):
    REFUSED_PER_ADDRESS = "refused_per_address"
    REFUSED_TOTAL = "refused_total"
    OUT_OF_DESCRIPTORS = "out_of_descriptors"
    ACCEPT_FAILED = "accept_failed"
    HEAD_TIMEOUT = "head_timeout"
    BODY_TIMEOUT = "body_timeout"
    WRITE_STALLED = "write_stalled"
    TLS_FAILED = "tls_failed"
    UNREADABLE = "unreadable"
    CLIENT_GONE = "client_gone"
    UNEXPECTED = "unexpected"


_LEVELS = {
    Condition.REFUSED_PER_ADDRESS: logging.WARNING,
    Condition.REFUSED_TOTAL: logging.WARNING,
    Condition.OUT_OF_DESCRIPTORS: logging.WARNING,
    Condition.ACCEPT_FAILED: logging.WARNING,
    Condition.HEAD_TIMEOUT: logging.INFO,
    Condition.BODY_TIMEOUT: logging.INFO,
    Condition.WRITE_STALLED: logging.INFO,
    Condition.TLS_FAILED: logging.DEBUG,
    Condition.UNREADABLE: logging.DEBUG,
    Condition.CLIENT_GONE: logging.DEBUG,
    Condition.UNEXPECTED: logging.ERROR,
}


def _messages(limits: ConnectionLimits, total: int) -> dict[Condition, str]:
    return {
        Condition.REFUSED_PER_ADDRESS: (
            f"connection closed at once: {limits.per_address} already open from its address"
        ),
        Condition.REFUSED_TOTAL: f"connection closed at once: {total} already open",
        Condition.OUT_OF_DESCRIPTORS: (
            "out of file descriptors: connections are served from the reserve"
            if limits.serve_when_exhausted
            else "out of file descriptors: new connections are closed at once"
        ),
        Condition.ACCEPT_FAILED: "accept() failed; retrying shortly",
        Condition.HEAD_TIMEOUT: (
            f"disconnected a client that sent no whole request head within "
            f"{limits.head_timeout_s:g} s"
        ),
        Condition.BODY_TIMEOUT: (
            f"disconnected a client that sent no whole request body within "
            f"{limits.head_timeout_s:g} s"
        ),
        Condition.WRITE_STALLED: (
            f"disconnected a client that read nothing for {limits.idle_timeout_s:g} s"
        ),
        Condition.TLS_FAILED: "TLS handshake failed",
        Condition.UNREADABLE: "answered 400 to a request that is not valid HTTP",
        Condition.CLIENT_GONE: "a client went away before its response was complete",
        Condition.UNEXPECTED: "error handling a request",
    }


def client_address_key(peer: Any) -> str:
    """What the per-address cap counts: the IPv4 address, or the IPv6 /64."""
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ConnectionSlots:
    """Open connections per client address and in all, against their caps."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self._open: Counter[str] = Counter()
        self._count = 0

    @property
    def open(self) -> int:
        return self._count

    def acquire(self, key: str) -> Refusal | None:
        if self._count >= self.total:
            return Refusal.TOTAL
        if self._open[key] >= self.per_address:
            return Refusal.PER_ADDRESS
        self._open[key] += 1
        self._count += 1
        return None

    def release(self, key: str) -> None:
        self._open[key] -= 1
        self._count -= 1
        if self._open[key] <= 0:
            del self._open[key]


def bind_sockets(host: str | None, port: int, backlog: int = BACKLOG) -> list[socket.socket]:
    """Listening sockets on every address `host` names (one port for all when `port` is 0)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[Any] = set()
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, resolved in infos:
            if resolved in seen:
                continue
            seen.add(resolved)
            address = resolved
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as err:
                raise OSError(
                    err.errno,
                    f"error while attempting to bind on address {address!r}: "
                    f"{(err.strerror or str(err)).lower()}",
                ) from None
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener:
    """Serve `app` on `host:port` within `limits`. `start()`, then `port`, then `stop()`."""

    def __init__(
        self,
        app: web.Application,
        *,
        name: str,
        host: str | None,
        port: int,
        limits: ConnectionLimits,
        budget: DescriptorBudget | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self.host = host
        self.requested_port = port
        self.limits = limits
        self.ssl_context = ssl_context
        total = limits.total
        if budget is not None and limits.sized_by_budget:
            total = budget.city_cap(limits.total)
        self.slots = ConnectionSlots(min(limits.per_address, total), total)
        self.throttle = ConditionThrottle(_LOGGER, name)
        self._messages = _messages(limits, total)
        self._runner: _ListenerRunner | None = None
        self._server: _ListenerServer | None = None
        self._sockets: list[socket.socket] = []
        self._paused: dict[int, asyncio.TimerHandle] = {}
        # Shared with the other listener through the budget; a listener without one (tests)
        # keeps its own.
        self._spares = budget.spares if budget is not None else SpareDescriptors()
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        _check_aiohttp_internals()
        self._loop = asyncio.get_running_loop()
        runner = _ListenerRunner(
            self.app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            keepalive_timeout=self.limits.idle_timeout_s,
        )
        await runner.setup()
        self._runner = runner
        assert isinstance(runner.server, _ListenerServer)
        self._server = runner.server
        try:
            self._sockets = bind_sockets(self.host, self.requested_port)
        except BaseException:
            await runner.cleanup()
            raise
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept_ready, sock)

    @property
    def port(self) -> int:
        if not self._sockets:
            raise RuntimeError("listener not started")
        return int(self._sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return self.slots.open

    async def stop(self) -> None:
        loop = self._loop
        for sock in self._sockets:
            if loop is not None:
                loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets = []
        for handle in self._paused.values():
            handle.cancel()
        self._paused.clear()
        if self._runner is not None:
            # Graceful: idle connections close, requests in progress get the shutdown timeout.
            await self._runner.cleanup()
            self._runner = None
        for connection in list(self._connections):
            connection.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._spares.close()  # shared: the first listener to stop ends the reserve
        self.throttle.close()

    # -- accepting ------------------------------------------------------------------------------
    def _accept_ready(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            from_reserve = False
            try:
                conn, peer = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:
                if err.errno not in OUT_OF_DESCRIPTORS:
                    self.note(Condition.ACCEPT_FAILED)
                    self._pause(sock)
                    return
                accepted = self._accept_from_reserve(sock)
                if accepted is None:
                    return
                conn, peer = accepted
                from_reserve = True
            if not self.limits.serve_when_exhausted and (from_reserve or self._spares.short):
                # The city sheds what a spare let it accept, and while the spares are short
                # every descriptor it gets goes back to them: the owner's reserve comes first.
                conn.close()
                self._spares.replenish()
                if not from_reserve:
                    self.note(Condition.OUT_OF_DESCRIPTORS)
                continue
            self._admit(conn, peer)

    def _accept_from_reserve(self, sock: socket.socket) -> tuple[socket.socket, Any] | None:
        """At EMFILE: free a spare descriptor and accept with it; None when that fails."""
        self.note(Condition.OUT_OF_DESCRIPTORS)
        if not self._spares.release_one():
            self._pause(sock)
            return None
        try:
            return sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            self._spares.replenish()
            return None
        except OSError:  # another thread took the descriptor first
            self._pause(sock)
            return None

    def _pause(self, sock: socket.socket) -> None:
        """Stop watching `sock` for a moment: a socket that cannot be accepted stays readable,
        and watching it would spin the loop."""
        fd = sock.fileno()
        if fd in self._paused or self._loop is None:
            return
        self._loop.remove_reader(fd)
        self._paused[fd] = self._loop.call_later(EXHAUSTED_RETRY_S, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        self._paused.pop(sock.fileno(), None)
        if self._loop is None or sock not in self._sockets:
            return
        self._spares.replenish()
        self._loop.add_reader(sock.fileno(), self._accept_ready, sock)

    def _admit(self, conn: socket.socket, peer: Any) -> None:
        key = client_address_key(peer)
        refusal = self.slots.acquire(key)
        if refusal is not None:
            conn.close()
            total = refusal is Refusal.TOTAL
            self.note(Condition.REFUSED_TOTAL if total else Condition.REFUSED_PER_ADDRESS)
            return
        assert self._loop is not None
        conn.setblocking(False)
        connection = _Connection(self, key, self._loop.time())
        self._connections.add(connection)
        task = self._loop.create_task(self._connect(conn, connection))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket, connection: _Connection) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(lambda: connection, conn)
        except OSError:  # reset before asyncio could take it
            conn.close()
            connection.connection_lost(None)
        except asyncio.CancelledError:
            conn.close()
            connection.connection_lost(None)
            raise

    # -- for connections ------------------------------------------------------------------------
    def new_handler(self) -> _GuardedRequestHandler:
        assert self._server is not None
        return self._server()

    def released(self, connection: _Connection) -> None:
        if connection in self._connections:
            self._connections.discard(connection)
            self.slots.release(connection.key)
            if self._spares.short and self._loop is not None:
                # asyncio closes the socket right after connection_lost: refill after that.
                self._loop.call_soon(self._spares.replenish)

    def note(self, condition: Condition, exc_info: BaseException | None = None) -> None:
        message = self._messages[condition]
        self.throttle.log(condition, _LEVELS[condition], message, exc_info=exc_info)


class _Connection(asyncio.Protocol):
    """One admitted connection: TLS, the head/body/write timers, and aiohttp's handler."""

    def __init__(self, listener: Listener, key: str, accepted_at: float) -> None:
        self.listener = listener
        self.key = key
        self._loop = asyncio.get_running_loop()
        self._accepted_at = accepted_at
        self._raw: asyncio.Transport | None = None
        self._handler: _GuardedRequestHandler | None = None
        self._early = bytearray()
        self._early_eof = False
        self._heads_seen = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._handshake: asyncio.Task[None] | None = None
        self._closed = False

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        head_timeout = self.listener.limits.head_timeout_s
        self._head_timer = self._loop.call_at(
            self._accepted_at + head_timeout, self._expired, Condition.HEAD_TIMEOUT
        )
        if self.listener.ssl_context is None:
            self._attach(transport)
        else:
            self._handshake = self._loop.create_task(self._start_tls(transport))

    def data_received(self, data: bytes) -> None:
        handler = self._handler
        if handler is None:
            self._early += data
            if len(self._early) > MAX_EARLY_BYTES:
                self.abort()
            return
        handler.data_received(data)
        self._after_data(bool(data))

    def eof_received(self) -> bool | None:
        if self._handler is None:
            self._early_eof = True
            return True  # keep the transport until the handler has seen what came first
        self._handler.eof_received()
        return None  # as aiohttp: a half-closed connection is closed

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        for timer in (self._head_timer, self._body_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        if self._handshake is not None and not self._handshake.done():
            self._handshake.cancel()
        self.listener.released(self)
        if self._handler is not None:
            self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()
        if self._write_timer is None:
            self._write_timer = self._loop.call_later(
                self.listener.limits.idle_timeout_s, self._expired, Condition.WRITE_STALLED
            )

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._handler is not None:
            self._handler.resume_writing()

    # -- TLS and the handler -------------------------------------------------------------------
    async def _start_tls(self, raw: asyncio.Transport) -> None:
        assert self.listener.ssl_context is not None
        remaining = self._accepted_at + self.listener.limits.head_timeout_s - self._loop.time()
        try:
            transport = await self._loop.start_tls(
                raw,
                self,
                self.listener.ssl_context,
                server_side=True,
                ssl_handshake_timeout=max(remaining, 0.1),
            )
        except asyncio.CancelledError:
            raw.abort()
            raise
        except Exception:  # any handshake failure: the client is simply disconnected
            self.listener.note(Condition.TLS_FAILED)
            raw.abort()
            self.connection_lost(None)
            return
        if self._closed:
            return
        if transport is None or transport.is_closing():
            self.connection_lost(None)
            return
        self._attach(transport)

    def _attach(self, transport: asyncio.Transport) -> None:
        handler = self.listener.new_handler()
        handler.connection = self
        self._handler = handler
        handler.connection_made(transport)
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self.data_received(early)
        if self._early_eof and not self._closed:
            transport.close()

    # -- timers --------------------------------------------------------------------------------
    def _after_data(self, received: bool) -> None:
        """After aiohttp parsed `data`: a whole head stops the head timer; the first bytes of a
        new request on an idle kept-alive connection start it."""
        handler = self._handler
        assert handler is not None
        parsed = handler.requests_parsed
        if parsed != self._heads_seen:
            self._heads_seen = parsed
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
        elif received and self._head_timer is None and handler.awaiting_request:
            self._head_timer = self._loop.call_later(
                self.listener.limits.head_timeout_s, self._expired, Condition.HEAD_TIMEOUT
            )

    def request_started(self, request: BaseRequest) -> None:
        """A request is taken up: its body (if any) must follow within the head timeout."""
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if not request.content.is_eof():
            self._body_timer = self._loop.call_later(
                self.listener.limits.head_timeout_s, self._body_check, request.content
            )

    def _body_check(self, content: StreamReader) -> None:
        self._body_timer = None
        if not content.is_eof():
            self._expired(Condition.BODY_TIMEOUT)

    def _expired(self, condition: Condition) -> None:
        if condition is Condition.HEAD_TIMEOUT:
            self._head_timer = None
        elif condition is Condition.WRITE_STALLED:
            self._write_timer = None
        if not self._closed:
            self.listener.note(condition)
            self.abort()

    def abort(self) -> None:
        if self._raw is not None:
            self._raw.abort()
        if self._handler is None:
            # Mid-handshake (or never connected): asyncio tells no protocol of this loss.
            self.connection_lost(None)


class _GuardedRequestHandler(RequestHandler):
    """aiohttp's per-connection handler, with errors that echo nothing and log at a fixed rate."""

    connection: _Connection

    @property
    def requests_parsed(self) -> int:
        """Request heads aiohttp's parser has completed on this connection."""
        return int(self._request_count)

    @property
    def awaiting_request(self) -> bool:
        """Waiting for the next request (not handling one, none queued)."""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):
            # The client went away (closed a stream, reset the connection): nothing to answer
            # and nothing wrong here. aiohttp drops a connection that raises this, quietly.
            self.connection.listener.note(Condition.CLIENT_GONE)
            raise ConnectionError("the client went away")
        if status >= 500:
            self.connection.listener.note(Condition.UNEXPECTED, exc_info=exc)
        else:
            self.connection.listener.note(Condition.UNREADABLE)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        if status >= 500:
            body = {"error": "internal_error", "message": INTERNAL_ERROR_MESSAGE}
            status = 500
        else:
            body = {"error": "invalid_request", "message": PROTOCOL_ERROR_MESSAGE}
            status = 400
        response = web.json_response(body, status=status, headers=ERROR_HEADERS)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # aiohttp's own "Unhandled exception" paths: rate-limited like everything else.
        exc_info = kwargs.get("exc_info")
        self.connection.listener.note(
            Condition.UNEXPECTED, exc_info=exc_info if isinstance(exc_info, BaseException) else None
        )


class _ListenerRequest(web.Request):
    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        # aiohttp names itself and Python in `Server`; no response may name the software
        # (PROTOCOL.md section 3). This hook runs after aiohttp set it, for every response on
        # the connection, its protocol errors included (an app's on_response_prepare does not).
        response.headers.popall(hdrs.SERVER, None)
        await super()._prepare_hook(response)


class _ListenerServer(web.Server):
    def __call__(self) -> _GuardedRequestHandler:
        return _GuardedRequestHandler(self, loop=self._loop, **self._kwargs)


class _ListenerRunner(web.AppRunner):
    """AppRunner whose server makes `_GuardedRequestHandler`s and `_ListenerRequest`s."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ListenerServer  # same state; only the handler class differs
        app = self.app

        def make_request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> BaseRequest:
            # aiohttp's own factory (client_max_size and all), with our request class.
            request = app._make_request(
                message, payload, protocol, writer, task, _cls=_ListenerRequest
            )
            if isinstance(protocol, _GuardedRequestHandler):
                protocol.connection.request_started(request)
            return request

        server.request_factory = make_request
        return server


def _check_aiohttp_internals() -> None:
    """The head timeout reads two attributes of aiohttp's RequestHandler; fail at start, not
    silently, if an aiohttp upgrade renamed them."""
    slots: set[str] = set()
    for cls in RequestHandler.__mro__:
        slots.update(getattr(cls, "__slots__", ()))
    missing = {"_request_count", "_waiter"} - slots
    if missing:
        raise RuntimeError(f"aiohttp's RequestHandler lacks {sorted(missing)}: upgrade rtcc_hub")
