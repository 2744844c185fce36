"""Head, body, idle and write-stall timeouts of `http_listener.Listener` (in-process, with
short limits so the mechanism can be seen quickly; the add-on's own 10 s / 60 s are checked
against a running add-on in test_addon_limits.py)."""

from __future__ import annotations

import asyncio
import socket
import time

from rtcc_hub.http_listener import ConnectionLimits
from tests.hub.listener.conftest import BIG, request, serve
from tests.support.sockets import open_socket, read_response, wait_closed

HEAD_S = 1.0
IDLE_S = 3.0
LIMITS = ConnectionLimits(head_timeout_s=HEAD_S, idle_timeout_s=IDLE_S)
SLACK_S = 2.0  # scheduling margin on a loaded machine; never a performance claim


async def test_a_silent_connection_is_closed_at_the_head_timeout() -> None:
    async with serve(LIMITS) as served:
        sock = await open_socket(served.port)
        start = time.monotonic()
        assert not await wait_closed(sock, HEAD_S * 0.6)
        assert await wait_closed(sock, HEAD_S + SLACK_S)
        assert time.monotonic() - start >= HEAD_S * 0.9
        sock.close()
        assert served.listener.open_connections == 0


async def test_a_head_sent_byte_by_byte_is_cut_at_the_head_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serve(LIMITS) as served:
        sock = await open_socket(served.port)
        start = time.monotonic()
        await loop.sock_sendall(sock, b"GET /hello HTTP/1.1\r\nHost: x\r\n")

        async def drip() -> None:
            while True:  # a header line every 0.2 s: bytes keep coming, the head never ends
                await asyncio.sleep(0.2)
                await loop.sock_sendall(sock, b"X-Slow: 1\r\n")

        dripping = asyncio.ensure_future(drip())
        try:
            assert await wait_closed(sock, HEAD_S + SLACK_S)
        finally:
            dripping.cancel()
        assert HEAD_S * 0.9 <= time.monotonic() - start <= HEAD_S + SLACK_S
        sock.close()


async def test_a_slow_but_whole_head_within_the_timeout_is_served() -> None:
    loop = asyncio.get_running_loop()
    async with serve(LIMITS) as served:
        sock = await open_socket(served.port)
        for piece in (b"GET /hello HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            await loop.sock_sendall(sock, piece)
            await asyncio.sleep(HEAD_S / 5)
        head, body = await read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == b"ok"
        sock.close()


async def test_a_kept_alive_connection_lives_until_the_idle_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serve(LIMITS) as served:
        sock = await open_socket(served.port)
        for _ in range(3):  # several requests on one connection
            await loop.sock_sendall(sock, request())
            head, _ = await read_response(sock)
            assert head.startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        # Idle beyond the head timeout is fine: nothing of a request has been sent.
        assert not await wait_closed(sock, IDLE_S * 0.7)
        assert await wait_closed(sock, IDLE_S + SLACK_S)
        assert time.monotonic() - answered >= IDLE_S * 0.9
        sock.close()


async def test_the_next_head_on_a_kept_alive_connection_has_the_head_timeout() -> None:
    loop = asyncio.get_running_loop()
    # A long idle timeout, so that only the head timeout can close it in time.
    async with serve(ConnectionLimits(head_timeout_s=HEAD_S, idle_timeout_s=30)) as served:
        sock = await open_socket(served.port)
        await loop.sock_sendall(sock, request())
        await read_response(sock)
        await asyncio.sleep(HEAD_S * 1.5)  # idle, allowed
        await loop.sock_sendall(sock, b"GET /hello HTTP/1.1\r\n")  # ... and never the rest
        started = time.monotonic()
        assert await wait_closed(sock, HEAD_S + SLACK_S)
        assert time.monotonic() - started >= HEAD_S * 0.9
        sock.close()


async def test_a_body_that_does_not_follow_its_head_is_cut() -> None:
    loop = asyncio.get_running_loop()
    async with serve(LIMITS) as served:
        sock = await open_socket(served.port)
        await loop.sock_sendall(
            sock, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"
        )
        started = time.monotonic()
        assert await wait_closed(sock, HEAD_S + SLACK_S)
        assert time.monotonic() - started >= HEAD_S * 0.9
        sock.close()
        # A whole body is served.
        sock = await open_socket(served.port)
        await loop.sock_sendall(
            sock, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
        )
        await asyncio.sleep(HEAD_S / 3)
        await loop.sock_sendall(sock, b"12345")
        head, body = await read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == b"12345"
        sock.close()


async def test_a_client_that_stops_reading_is_disconnected_after_the_idle_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serve(LIMITS) as served:
        stalled = await open_socket(served.port)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await loop.sock_sendall(stalled, request("/big"))
        started = time.monotonic()
        await asyncio.sleep(IDLE_S + SLACK_S)
        assert served.listener.open_connections == 0, "a stalled response kept its connection"
        assert time.monotonic() - started >= IDLE_S
        stalled.close()
        # A client that reads gets the whole response.
        reader = await open_socket(served.port)
        await loop.sock_sendall(reader, request("/big"))
        head, body = await read_response(reader, wait_s=30)
        assert head.startswith(b"HTTP/1.1 200") and len(body) == BIG
        reader.close()
