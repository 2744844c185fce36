"""Readers for the two streaming formats: MJPEG multipart (city API) and SSE (control API)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Part:
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when the part was complete


def boundary_of(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip().strip('"')
    raise ValueError(f"no boundary in {content_type!r}")


async def mjpeg_parts(resp: aiohttp.ClientResponse, *, chunk: int = 65536) -> AsyncIterator[Part]:
    """Parse multipart/x-mixed-replace parts as they arrive (Content-Length used if given)."""
    delim = b"--" + boundary_of(resp.headers["Content-Type"]).encode()
    buf = b""
    eof = False

    async def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        data = await resp.content.read(chunk)
        if not data:
            eof = True
            return False
        buf += data
        return True

    # Skip preamble up to the first delimiter.
    while (i := buf.find(delim)) < 0:
        if not await more():
            return
    buf = buf[i + len(delim) :]
    while True:
        while len(buf) < 2 and await more():
            pass
        if buf.startswith(b"--"):
            return  # close delimiter
        while (h := buf.find(b"\r\n\r\n")) < 0:
            if not await more():
                return
        head = buf[:h].decode("latin-1").strip("\r\n")
        buf = buf[h + 4 :]
        headers: dict[str, str] = {}
        for line in head.split("\r\n"):
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(buf) < n and await more():
                pass
            if len(buf) < n:
                return
            body = buf[:n]
            buf = buf[n:]
            while (j := buf.find(delim)) < 0:
                if not await more():
                    yield Part(headers, body, time.monotonic())
                    return
            buf = buf[j + len(delim) :]
        else:
            end = b"\r\n" + delim
            while (j := buf.find(end)) < 0:
                if not await more():
                    return  # incomplete part at the end: not a part
            body = buf[:j]
            buf = buf[j + len(end) :]
        yield Part(headers, body, time.monotonic())


@dataclass
class SseEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """Server-sent events (comments such as `: keepalive` are skipped)."""
    event: str = "message"
    data: list[str] = []
    ev_id: str | None = None
    async for raw in resp.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event, "\n".join(data), ev_id)
            event, data, ev_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ev_id = value
