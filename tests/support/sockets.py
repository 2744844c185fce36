"""Raw TCP sockets on loopback for the listener tests: many of them, from many addresses.

    sock = await open_socket(port, source="127.0.0.2")    # Linux routes all of 127/8 locally
    await wait_closed(sock, 1.0)                          # True once the peer closed or reset
    held = await still_open(socks, 0.5)                   # those the peer has not closed
    raise_descriptor_limit(4096)                          # this process may open that many
    await http_exchange(port, b"GET / HTTP/1.1\\r\\n...") # raw bytes in, raw answer out

Everything is non-blocking on the running loop, so an in-process listener keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable

LOOPBACK = "127.0.0.1"


def loopback_sources(count: int) -> list[str]:
    """`count` distinct loopback source addresses: 127.0.0.1, 127.0.0.2, ..."""
    return [f"127.0.0.{n}" for n in range(1, count + 1)]


def raise_descriptor_limit(wanted: int) -> None:
    """Let this (test) process open at least `wanted` descriptors, if the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def open_socket(port: int, *, source: str = LOOPBACK, host: str = LOOPBACK) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind((source, 0))
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_sockets(port: int, count: int, *, source: str = LOOPBACK) -> list[socket.socket]:
    return [await open_socket(port, source=source) for _ in range(count)]


def reset_on_close(sock: socket.socket) -> None:
    """Make `close()` send a RST instead of a FIN (a client resetting its connection)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def wait_closed(sock: socket.socket, wait_s: float) -> bool:
    """True when the peer closes or resets `sock` within `wait_s` (data read is discarded)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(wait_s):
            while True:
                try:
                    data = await loop.sock_recv(sock, 65536)
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not data:
                    return True
    except TimeoutError:
        return False


async def still_open(socks: Iterable[socket.socket], wait_s: float) -> list[socket.socket]:
    """The sockets of `socks` the peer has not closed within `wait_s` (checked concurrently)."""
    socks = list(socks)
    closed = await asyncio.gather(*(wait_closed(s, wait_s) for s in socks))
    return [s for s, gone in zip(socks, closed, strict=True) if not gone]


async def http_exchange(
    port: int, data: bytes, *, source: str = LOOPBACK, wait_s: float = 5.0
) -> bytes:
    """Send `data`, read until the server closes (or `wait_s`), return all it sent."""
    sock = await open_socket(port, source=source)
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    try:
        await loop.sock_sendall(sock, data)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            async with asyncio.timeout(wait_s):
                while chunk := await loop.sock_recv(sock, 65536):
                    chunks.append(chunk)
    finally:
        sock.close()
    return b"".join(chunks)


def close_all(socks: Iterable[socket.socket]) -> None:
    for sock in socks:
        sock.close()


async def read_response(sock: socket.socket, wait_s: float = 5.0) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length from `sock`: (head, body)."""
    loop = asyncio.get_running_loop()
    buffer = b""
    async with asyncio.timeout(wait_s):
        while b"\r\n\r\n" not in buffer:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise ConnectionError(f"closed before a whole response head: {buffer!r}")
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise ConnectionError("closed before the whole body")
            body += chunk
    return head, body


def header_names(head: bytes) -> set[str]:
    return {line.partition(b":")[0].decode().lower() for line in head.split(b"\r\n")[1:]}


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> bool:
    """`check()` comes true within `within_s` (a peer takes a moment to see a close)."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True
