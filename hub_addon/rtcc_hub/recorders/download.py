"""Bounded HTTP downloads for recorders: deadlines, a size cap, a digest, no partial files.

Every wait has a limit (connect, the answer's head, each read, the whole download), so a
recorder that stops answering costs at most `DownloadLimits.deadline(window)` and never hangs a
clip job. Writes and hashing run in a worker thread: a slow disk (an SD card) must not stall
the event loop that serves live streams.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import aiohttp

from .base import RecorderFailed

# What an MP4 (ISO BMFF) file can start with: a box header, size then one of these types.
_MP4_FIRST_BOXES: Final = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide"})
_WRITE_BATCH: Final = 1 << 20  # bytes gathered before one write in the worker thread
_MAX_JSON_BYTES: Final = 16 << 20
_MAX_ERROR_BODY: Final = 64 << 10

PARTIAL_SUFFIX: Final = ".part"
FOOTAGE_PREFIX: Final = "footage-"


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    """Limits of one recorder download (all seconds, bytes).

    `first_byte_s` is generous: a NVR assembles an export before it answers (UniFi Protect
    takes seconds per minute of footage). The whole download may take `base_s` plus
    `per_footage_s` for every second of footage asked for.
    """

    connect_s: float = 10.0
    first_byte_s: float = 120.0
    idle_s: float = 30.0
    base_s: float = 120.0
    per_footage_s: float = 0.5
    max_bytes: int = 4 << 30

    def deadline(self, footage_seconds: float) -> float:
        return self.base_s + self.per_footage_s * max(0.0, footage_seconds)


@dataclass(frozen=True, slots=True)
class Downloaded:
    path: Path
    sha256: str
    bytes: int


def _timeout(limits: DownloadLimits) -> aiohttp.ClientTimeout:
    # Per-read limits are enforced below; aiohttp only bounds connecting.
    return aiohttp.ClientTimeout(
        total=None, connect=limits.connect_s, sock_connect=limits.connect_s
    )


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    limits: DownloadLimits,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    what: str,
) -> Any:
    """A small JSON answer (200 only), bounded in time and size; anything else fails."""
    text = await get_text(
        session,
        url,
        limits=limits,
        method=method,
        headers=headers,
        params=params,
        json_body=json_body,
        what=what,
    )
    try:
        return json.loads(text)
    except ValueError as err:
        raise RecorderFailed(f"{what}: answer is not JSON") from err


async def get_text(
    session: aiohttp.ClientSession,
    url: str,
    *,
    limits: DownloadLimits,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    what: str,
) -> str:
    try:
        async with asyncio.timeout(limits.connect_s + limits.first_byte_s):
            async with session.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json_body,
                timeout=_timeout(limits),
                allow_redirects=False,
            ) as response:
                body = await _read_capped(response, _MAX_JSON_BYTES, what)
                if response.status != 200:
                    raise RecorderFailed(f"{what}: HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise RecorderFailed(f"{what}: {type(err).__name__}") from err
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecorderFailed(f"{what}: answer is not UTF-8") from err


async def _read_capped(response: aiohttp.ClientResponse, cap: int, what: str) -> bytes:
    if (response.content_length or 0) > cap:
        raise RecorderFailed(f"{what}: answer too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise RecorderFailed(f"{what}: answer too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_error_body(response: aiohttp.ClientResponse) -> bytes:
    """At most 64 KiB of an error answer (to tell "no recordings" from other errors)."""
    try:
        async with asyncio.timeout(5.0):
            return await response.content.read(_MAX_ERROR_BODY)
    except (aiohttp.ClientError, TimeoutError):
        return b""


def is_mp4_start(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _MP4_FIRST_BOXES


class _FileSink:
    """Writes and hashes in a worker thread; removes its file unless committed."""

    def __init__(self, directory: Path) -> None:
        name = f"{FOOTAGE_PREFIX}{uuid.uuid4().hex}"
        self.final = directory / f"{name}.mp4"
        self.partial = directory / f"{name}.mp4{PARTIAL_SUFFIX}"
        self._digest = hashlib.sha256()
        self._file: BinaryIO | None = None
        self.size = 0

    def _open(self) -> None:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.partial.open("xb")  # closed in _commit or _discard

    def _write(self, data: bytes) -> None:
        if self._file is None:
            self._open()
        assert self._file is not None
        self._file.write(data)
        self._digest.update(data)

    def _commit(self) -> str:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self.partial.replace(self.final)
        return self._digest.hexdigest()

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.partial.unlink(missing_ok=True)

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        await asyncio.to_thread(self._write, data)

    async def commit(self) -> str:
        return await asyncio.to_thread(self._commit)

    def discard(self) -> None:
        # Synchronous on purpose: it also runs while a cancellation unwinds, where awaiting a
        # thread could be cut short and leave the partial file behind.
        self._discard()


async def download_mp4(
    session: aiohttp.ClientSession,
    url: str,
    *,
    directory: Path,
    limits: DownloadLimits,
    footage_seconds: float,
    headers: Mapping[str, str] | None = None,
    on_error_status: Callable[[int, bytes], Exception],
    what: str,
) -> Downloaded:
    """Stream an MP4 answer into a new file of `directory`.

    A non-200 answer raises what `on_error_status(status, body)` returns (`NoFootage` for the
    recorder's "nothing recorded", `RecorderFailed` otherwise). A 200 answer must be
    `video/mp4`, start like an MP4 file, be non-empty and at most `limits.max_bytes`.
    """
    sink = _FileSink(directory)
    committed = False
    try:
        async with asyncio.timeout(limits.deadline(footage_seconds)):
            async with asyncio.timeout(limits.connect_s + limits.first_byte_s) as head_timeout:
                response = await session.get(
                    url, headers=headers, timeout=_timeout(limits), allow_redirects=False
                )
                head_timeout.reschedule(None)
            async with response:
                if response.status != 200:
                    raise on_error_status(response.status, await read_error_body(response))
                if response.content_type != "video/mp4":
                    raise RecorderFailed(f"{what}: answer is {response.content_type}, not MP4")
                if (response.content_length or 0) > limits.max_bytes:
                    raise RecorderFailed(f"{what}: footage larger than {limits.max_bytes} bytes")
                await _stream_into(response, sink, limits, what)
        if sink.size == 0:
            # Frigate answers 200 with an empty body when its ffmpeg fails.
            raise RecorderFailed(f"{what}: empty answer")
        digest = await sink.commit()
        committed = True
        return Downloaded(sink.final, digest, sink.size)
    except TimeoutError as err:
        raise RecorderFailed(f"{what}: timed out") from err
    except aiohttp.ClientError as err:
        raise RecorderFailed(f"{what}: {type(err).__name__}") from err
    except OSError as err:
        raise RecorderFailed(f"{what}: cannot store footage ({type(err).__name__})") from err
    finally:
        if not committed:
            sink.discard()


async def _stream_into(
    response: aiohttp.ClientResponse, sink: _FileSink, limits: DownloadLimits, what: str
) -> None:
    batch = bytearray()
    checked = False
    while True:
        async with asyncio.timeout(limits.idle_s):
            chunk = await response.content.readany()
        if not chunk:
            break
        batch += chunk
        if not checked and len(batch) >= 8:
            if not is_mp4_start(bytes(batch[:8])):
                raise RecorderFailed(f"{what}: answer is not an MP4 file")
            checked = True
        if sink.size + len(batch) > limits.max_bytes:
            raise RecorderFailed(f"{what}: footage larger than {limits.max_bytes} bytes")
        if len(batch) >= _WRITE_BATCH:
            await sink.write(bytes(batch))
            batch.clear()
    if batch:
        if not checked:
            raise RecorderFailed(f"{what}: answer is not an MP4 file")
        await sink.write(bytes(batch))
    if response.content_length is not None and sink.size != response.content_length:
        raise RecorderFailed(f"{what}: answer cut short")


def remove_partials(directory: Path) -> int:
    """Remove downloads a crash left behind, whole or half-written (call at start-up, before
    any clip job runs); returns how many."""
    removed = 0
    if not directory.is_dir():
        return 0
    for path in directory.glob(f"{FOOTAGE_PREFIX}*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
