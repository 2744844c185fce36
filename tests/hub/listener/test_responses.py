"""What `http_listener.Listener` answers and logs: no `Server` header on any response, JSON
protocol errors, quiet client departures, rate-limited errors, and TLS within the head timeout."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from pathlib import Path

import pytest

from rtcc_hub.http_listener import ConnectionLimits
from tests.hub.listener.conftest import request, serve
from tests.support.sockets import (
    header_names,
    http_exchange,
    open_socket,
    reset_on_close,
    wait_closed,
)
from tests.support.tls import self_signed_cert

LIMITS = ConnectionLimits(head_timeout_s=1.0, idle_timeout_s=3.0)
LOGGER = "rtcc_hub.http_listener"

ANSWERS = {
    "200": request("/hello", close=True),
    "404": request("/nowhere", close=True),
    "405": b"DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "400 bad request line": b"GARBAGE\r\n\r\n",
    "400 bad header": b"GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    "400 bad method": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "500": request("/boom", close=True),
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
async def test_no_response_names_the_software(case: str) -> None:
    async with serve(LIMITS) as served:
        answer = await http_exchange(served.port, ANSWERS[case])
    head = answer.partition(b"\r\n\r\n")[0]
    assert head.split(b" ")[1] == case.split(maxsplit=1)[0].encode(), answer[:200]
    assert "server" not in header_names(head)
    assert b"aiohttp" not in answer and b"Python" not in answer


async def test_protocol_errors_are_json_no_store_and_echo_nothing() -> None:
    async with serve(LIMITS) as served:
        answer = await http_exchange(served.port, b"GARBAGE zq7MARKERzq7\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b"Cache-Control: no-store" in head
    assert json.loads(body)["error"] == "invalid_request"
    assert b"zq7MARKERzq7" not in answer


async def test_clients_going_away_are_not_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    loop = asyncio.get_running_loop()
    async with serve(LIMITS) as served:
        for n in range(30):
            sock = await open_socket(served.port)
            await loop.sock_sendall(sock, request("/drip"))
            await loop.sock_recv(sock, 4096)
            if n % 2:
                reset_on_close(sock)  # half of them reset, half close
            sock.close()
        await asyncio.sleep(0.5)
        assert served.listener.open_connections == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info]
    ours = [r for r in caplog.records if r.name == LOGGER]
    assert 1 <= len(ours) <= 2, [r.getMessage() for r in ours]  # one line, one summary
    assert "went away" in ours[0].getMessage()


async def test_a_failing_handler_logs_one_traceback_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(LIMITS) as served:
        for _ in range(20):
            answer = await http_exchange(served.port, request("/boom", close=True))
            assert answer.startswith(b"HTTP/1.1 500")
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "internal_error"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, [r.getMessage() for r in errors]
    assert errors[0].exc_info is not None  # the first, with its traceback
    assert errors[1].exc_info is None and "19 more in 60 s" in errors[1].getMessage()


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    certfile, keyfile = self_signed_cert(Path(tmp_path_factory.mktemp("tls")))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certfile, keyfile)
    client = ssl.create_default_context(cafile=str(certfile))
    return server, client


async def test_tls_requests_are_served_without_a_server_header(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, client = tls_contexts
    async with serve(LIMITS, ssl_context=server) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port, ssl=client)
        for _ in range(2):
            writer.write(request())
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and "server" not in header_names(head)
            assert await reader.readexactly(2) == b"ok"
        writer.close()


async def test_the_tls_handshake_counts_against_the_head_timeout(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, _ = tls_contexts
    async with serve(LIMITS, ssl_context=server) as served:
        silent = await open_socket(served.port)  # never says hello
        plain = await open_socket(served.port)  # speaks HTTP to a TLS port
        await asyncio.get_running_loop().sock_sendall(plain, request())
        start = time.monotonic()
        assert served.listener.open_connections == 2  # counted before any handshake
        assert await wait_closed(plain, 2.0)
        assert await wait_closed(silent, LIMITS.head_timeout_s + 2.0)
        assert time.monotonic() - start >= LIMITS.head_timeout_s * 0.9
        silent.close()
        plain.close()
        await asyncio.sleep(0.1)
        assert served.listener.open_connections == 0


async def test_a_tls_client_that_never_sends_a_head_is_cut(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, client = tls_contexts
    async with serve(LIMITS, ssl_context=server) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port, ssl=client)
        async with asyncio.timeout(LIMITS.head_timeout_s + 2.0):
            assert await reader.read() == b""
        writer.close()
        assert served.listener.open_connections == 0
