"""Incremental parser for ``multipart/x-mixed-replace`` (MJPEG) streams.

Network reads cut the stream anywhere: in a boundary, in a header, in a JPEG. The parser keeps
what it has not consumed yet and emits a part only when it is complete. A part's end is known
from its ``Content-Length`` when the server sends one, else from the next delimiter
(``CRLF--boundary``). Sizes are bounded so a hostile server cannot make it buffer without limit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

DEFAULT_MAX_PART_BYTES = 32 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024


class MultipartError(Exception):
    """The stream is not well-formed multipart, or a part exceeds the size limit."""


@dataclass(frozen=True, slots=True)
class Part:
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def parse_boundary(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type header."""
    media_type, _, params = content_type.partition(";")
    if not media_type.strip().lower().startswith("multipart/"):
        raise MultipartError(f"not a multipart response: {content_type!r}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if value and len(value) <= 200:
                return value
    raise MultipartError(f"no usable boundary in {content_type!r}")


class _State(enum.Enum):
    SEEK_BOUNDARY = enum.auto()  # before the first delimiter, or after a sized body
    BOUNDARY_LINE = enum.auto()  # just after "--boundary": "--" ends, else rest of line
    HEADERS = enum.auto()
    BODY = enum.auto()
    DONE = enum.auto()


class MultipartParser:
    """Feed bytes as they arrive; get back the parts completed by them."""

    def __init__(self, boundary: str, *, max_part_bytes: int = DEFAULT_MAX_PART_BYTES) -> None:
        if not boundary:
            raise MultipartError("empty boundary")
        self._dash_boundary = b"--" + boundary.encode("latin-1")
        self._delimiter = b"\r\n" + self._dash_boundary
        self._max_part_bytes = max_part_bytes
        self._buffer = bytearray()
        self._state = _State.SEEK_BOUNDARY
        self._headers: dict[str, str] = {}
        self._body_length: int | None = None
        # Where the next delimiter search resumes, so a slow trickle of bytes is not rescanned.
        self._scan_from = 0

    @property
    def finished(self) -> bool:
        """True once the closing ``--boundary--`` has been read."""
        return self._state is _State.DONE

    def feed(self, data: bytes) -> list[Part]:
        if self._state is _State.DONE:
            return []
        self._buffer += data
        parts: list[Part] = []
        while self._step(parts):
            pass
        return parts

    def _step(self, parts: list[Part]) -> bool:
        """Advance one state; False when more input is needed."""
        match self._state:
            case _State.SEEK_BOUNDARY:
                return self._seek_boundary()
            case _State.BOUNDARY_LINE:
                return self._boundary_line()
            case _State.HEADERS:
                return self._read_headers()
            case _State.BODY:
                return self._read_body(parts)
            case _State.DONE:
                return False

    def _seek_boundary(self) -> bool:
        index = self._buffer.find(self._dash_boundary)
        if index < 0:
            # Keep only what could be the start of a boundary split across reads.
            keep = len(self._dash_boundary) - 1
            if len(self._buffer) > keep:
                del self._buffer[: len(self._buffer) - keep]
            return False
        del self._buffer[: index + len(self._dash_boundary)]
        self._state = _State.BOUNDARY_LINE
        return True

    def _boundary_line(self) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer[:2] == b"--":
            self._state = _State.DONE
            self._buffer.clear()
            return False
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise MultipartError("boundary line too long")
            return False
        # RFC 2046 allows transport padding (whitespace) after the boundary.
        if self._buffer[:end].strip(b" \t\r"):
            # "--boundaryX...": the boundary was only a prefix of other text; keep seeking.
            self._state = _State.SEEK_BOUNDARY
            return True
        del self._buffer[: end + 1]
        self._state = _State.HEADERS
        return True

    def _read_headers(self) -> bool:
        # Headers end at an empty line; an immediately empty line means no headers at all.
        if self._buffer.startswith(b"\r\n") or self._buffer.startswith(b"\n"):
            block, consumed = b"", 2 if self._buffer.startswith(b"\r\n") else 1
        else:
            end = self._buffer.find(b"\r\n\r\n")
            bare_end = self._buffer.find(b"\n\n")
            if end >= 0 and (bare_end < 0 or end < bare_end):
                block, consumed = bytes(self._buffer[:end]), end + 4
            elif bare_end >= 0:
                block, consumed = bytes(self._buffer[:bare_end]), bare_end + 2
            else:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise MultipartError("part headers too long")
                return False
        if consumed - 2 > MAX_HEADER_BYTES:
            raise MultipartError("part headers too long")
        del self._buffer[:consumed]
        self._headers = _parse_headers(block)
        self._body_length = self._declared_length()
        self._scan_from = 0
        self._state = _State.BODY
        return True

    def _declared_length(self) -> int | None:
        text = self._headers.get("content-length")
        if text is None:
            return None
        if not text.isdigit():
            raise MultipartError(f"bad part Content-Length {text!r}")
        length = int(text)
        if length > self._max_part_bytes:
            raise MultipartError(f"part of {length} bytes exceeds the limit")
        return length

    def _read_body(self, parts: list[Part]) -> bool:
        if self._body_length is not None:
            if len(self._buffer) < self._body_length:
                return False
            body = bytes(self._buffer[: self._body_length])
            del self._buffer[: self._body_length]
            self._state = _State.SEEK_BOUNDARY
        else:
            index = self._buffer.find(self._delimiter, self._scan_from)
            if index < 0:
                if len(self._buffer) > self._max_part_bytes:
                    raise MultipartError("part exceeds the size limit")
                self._scan_from = max(0, len(self._buffer) - len(self._delimiter) + 1)
                return False
            body = bytes(self._buffer[:index])
            # Leave "--boundary" in the buffer for the seek state to consume.
            del self._buffer[: index + 2]
            self._state = _State.SEEK_BOUNDARY
        parts.append(Part(headers=self._headers, body=body))
        self._headers = {}
        return True


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_line in block.replace(b"\r\n", b"\n").split(b"\n"):
        line = raw_line.decode("latin-1")
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"malformed part header {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers
