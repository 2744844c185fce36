"""JPEG helpers for assertions: walk markers, decode, check masks, widths and metadata."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

SOI = 0xD8
EOI = 0xD9
SOS = 0xDA
COM = 0xFE
APP0 = 0xE0
APP1 = 0xE1
APP15 = 0xEF
# Markers without a length field.
_STANDALONE = {0x01, *range(0xD0, 0xD8), SOI, EOI}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class JpegFormatError(ValueError):
    """The bytes are not a well-formed JPEG header."""


@dataclass(frozen=True, slots=True)
class Segment:
    marker: int  # second marker byte, e.g. 0xE1 for APP1
    offset: int  # offset of the 0xFF byte
    payload: bytes  # segment payload without marker and length

    @property
    def name(self) -> str:
        if APP0 <= self.marker <= APP15:
            return f"APP{self.marker - APP0}"
        return {SOI: "SOI", EOI: "EOI", SOS: "SOS", COM: "COM", 0xDB: "DQT", 0xC4: "DHT"}.get(
            self.marker, f"0x{self.marker:02X}"
        )


def segments(data: bytes) -> list[Segment]:
    """All marker segments from SOI up to and including SOS (the entropy data is skipped)."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != SOI:
        raise JpegFormatError("no SOI marker")
    out = [Segment(SOI, 0, b"")]
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise JpegFormatError(f"expected a marker at offset {pos}")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            raise JpegFormatError("truncated marker")
        marker = data[pos]
        start = pos - 1
        pos += 1
        if marker in _STANDALONE:
            out.append(Segment(marker, start, b""))
            if marker == EOI:
                return out
            continue
        if pos + 2 > len(data):
            raise JpegFormatError("truncated segment length")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > len(data):
            raise JpegFormatError(f"bad segment length at offset {start}")
        out.append(Segment(marker, start, data[pos + 2 : pos + length]))
        pos += length
        if marker == SOS:
            return out
    raise JpegFormatError("no SOS marker")


def marker_names(data: bytes) -> list[str]:
    return [s.name for s in segments(data)]


def metadata_segments(data: bytes) -> list[Segment]:
    """APP1..APP15 and COM segments (everything the city must never receive)."""
    return [s for s in segments(data) if APP1 <= s.marker <= APP15 or s.marker == COM]


def assert_no_metadata(data: bytes) -> None:
    bad = metadata_segments(data)
    assert not bad, f"metadata segments present: {[s.name for s in bad]}"
    for secret in (b"RTCC-SECRET", b"Exif\x00", b"http://ns.adobe.com/xap"):
        assert secret not in data, f"{secret!r} found in the JPEG bytes"


def dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) from the SOF header."""
    for s in segments(data):
        if s.marker in _SOF:
            height = int.from_bytes(s.payload[1:3], "big")
            width = int.from_bytes(s.payload[3:5], "big")
            return width, height
    raise JpegFormatError("no SOF segment")


def insert_segments(jpeg: bytes, extra: list[tuple[int, bytes]]) -> bytes:
    """Insert (marker, payload) segments right after SOI/APP0."""
    segs = segments(jpeg)
    pos = 2
    if len(segs) > 1 and segs[1].marker == APP0:
        pos = segs[1].offset + 4 + len(segs[1].payload)
    blob = b"".join(bytes([0xFF, m]) + (len(p) + 2).to_bytes(2, "big") + p for m, p in extra)
    return jpeg[:pos] + blob + jpeg[pos:]


def set_dimensions(jpeg: bytes, width: int, height: int) -> bytes:
    """Patch the SOF header to claim other dimensions (for 'huge image' tests)."""
    for s in segments(jpeg):
        if s.marker in _SOF:
            at = s.offset + 4 + 1
            return jpeg[:at] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[at + 4 :]
    raise JpegFormatError("no SOF segment")


@cache
def turbo() -> Any:
    from turbojpeg import TurboJPEG

    return TurboJPEG(lib_path=os.environ.get("RTCC_TURBOJPEG_LIB"))


def encode(rgb: np.ndarray, quality: int = 90) -> bytes:
    from turbojpeg import TJPF_RGB

    return bytes(turbo().encode(np.ascontiguousarray(rgb), quality=quality, pixel_format=TJPF_RGB))


def decode(data: bytes) -> np.ndarray:
    """Decode to an RGB uint8 array of shape (height, width, 3)."""
    from turbojpeg import TJPF_RGB

    return np.asarray(turbo().decode(data, pixel_format=TJPF_RGB))


Polygon = list[list[float]] | list[tuple[float, float]]


def polygon_mask(width: int, height: int, polygon: Polygon) -> np.ndarray:
    """Boolean (height, width) array: True where the pixel centre lies inside the polygon."""
    ys, xs = np.mgrid[0:height, 0:width]
    px = (xs + 0.5) / width
    py = (ys + 0.5) / height
    inside = np.zeros((height, width), dtype=bool)
    pts = [(float(x), float(y)) for x, y in polygon]
    n = len(pts)
    for i in range(n):
        x1, y1 = pts[i]
        x2, y2 = pts[(i + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > py) != (y2 > py)
        x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)
    return inside


def erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Shrink a boolean mask by `pixels` in every direction (to skip JPEG edge ringing)."""
    out = mask.copy()
    for _ in range(pixels):
        m = out.copy()
        m[1:, :] &= out[:-1, :]
        m[:-1, :] &= out[1:, :]
        m[:, 1:] &= out[:, :-1]
        m[:, :-1] &= out[:, 1:]
        m[0, :] = m[-1, :] = False
        m[:, 0] = m[:, -1] = False
        out = m
    return out


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    return ~erode(~mask, pixels)


def assert_masked(
    img: np.ndarray, polygons: list[Polygon], *, margin: int = 3, threshold: int = 24
) -> None:
    """Every pixel inside a mask polygon (ignoring `margin` px at its edge) is black."""
    h, w = img.shape[:2]
    for poly in polygons:
        area = erode(polygon_mask(w, h, poly), margin)
        assert area.any(), "mask polygon too small to check"
        values = img[area].max(axis=1)
        bad = int((values > threshold).sum())
        assert bad == 0, (
            f"{bad} of {area.sum()} pixels inside mask {poly} are not black (max {values.max()})"
        )


def assert_not_black(
    img: np.ndarray, polygons: list[Polygon], *, margin: int = 24, min_mean: float = 100.0
) -> None:
    """The region well away from every mask is visible (the frame is not blacked out wholesale)."""
    h, w = img.shape[:2]
    covered = np.zeros((h, w), dtype=bool)
    for poly in polygons:
        covered |= polygon_mask(w, h, poly)
    visible = ~dilate(covered, margin)
    assert visible.any()
    mean = float(img[visible].mean())
    assert mean >= min_mean, f"unmasked area is dark (mean {mean:.1f})"
