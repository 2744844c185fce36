"""HTTP protocol errors on the city listener are JSON, no-store, and echo nothing (finding 4)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.hub.unit.conftest import Env

MARKER = "zq7MARKERzq7"

CASES = {
    "bad_request_line": f"GARBAGE {MARKER}\r\n\r\n".encode(),
    "bad_version": f"GET /api/v1/health?{MARKER} HTTP/9.9\r\nHost: x\r\n\r\n".encode(),
    "header_too_long": (
        f"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-{MARKER}: {'a' * 9000}\r\n\r\n".encode()
    ),
    "bad_content_length": (
        f"POST /api/v1/unlocks HTTP/1.1\r\nHost: x\r\nContent-Length: {MARKER}\r\n\r\n".encode()
    ),
    "bad_chunk_size": (
        b"POST /api/v1/unlocks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + MARKER.encode()
        + b"\r\nabc\r\n0\r\n\r\n"
    ),
    "cl_and_te": (
        b"POST /api/v1/unlocks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "bad_header_name": f"GET / HTTP/1.1\r\nHost: x\r\nBad Header{MARKER}: 1\r\n\r\n".encode(),
}


async def raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("name", sorted(CASES))
async def test_protocol_errors_are_json_no_store(env: Env, name: str) -> None:
    answer = await raw_exchange(env.hub.city_port, CASES[name])
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split(" ")[1] == "400", lines[0]
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    assert headers["content-type"].startswith("application/json")
    assert headers["cache-control"] == "no-store"
    document = json.loads(body)
    assert document["error"] == "invalid_request"
    assert set(document) == {"error", "message"}
    assert MARKER.encode() not in answer
