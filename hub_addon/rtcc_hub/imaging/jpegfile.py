"""The structure of a camera frame, read from its markers before libjpeg-turbo sees it.

`read_jpeg` walks the markers (no decoding, nothing copied out): it refuses what is not a
well-formed JPEG stream (garbage, truncation, unknown markers, more scans or markers than any
camera writes) and returns what the processor needs to choose a path: the frame header's
components and sampling, the quantisation tables' DC steps (for black in the DCT domain), the
EXIF orientation, and whether the scans cover the whole image.

The city never receives these bytes: every path re-serialises the frame with libjpeg-turbo,
so metadata, thumbnails, unused tables, fill bytes and anything hidden between markers, inside
a scan's padding or after EOI are gone (PROTOCOL section 3.2). What this walk adds is the
completeness rule libjpeg-turbo does not enforce: a progressive frame cut at a scan boundary
with an EOI appended decodes without a warning (a blurry, partial picture); here it is
refused, like a frame cut inside a scan is refused by libjpeg-turbo's warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .exif import frame_orientation
from .spec import ImageError

# A progressive JPEG may carry thousands of tiny scans, each a pass over the whole image:
# a CPU bomb within max_pixels. Real encoders use at most a few dozen. Likewise real JPEGs
# have a few dozen markers; millions of tiny ones would keep the walker busy.
SCAN_LIMIT: Final = 100
MAX_MARKERS: Final = 2000

_SOI: Final = 0xD8
_EOI: Final = 0xD9
_SOS: Final = 0xDA
_DQT: Final = 0xDB
_DNL: Final = 0xDC
_APP0: Final = 0xE0
_APP1: Final = 0xE1
_TEM: Final = 0x01
_RST: Final = frozenset(range(0xD0, 0xD8))
_METADATA: Final = frozenset(range(0xE0, 0xF0)) | {0xFE}  # APP0..APP15, COM
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE: Final = frozenset({0xC2, 0xCA})
_ARITHMETIC: Final = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
LOSSLESS_OR_HIERARCHICAL: Final = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF})
_TABLES: Final = frozenset({0xC4, 0xCC, 0xDD})  # DHT, DAC, DRI (DQT is read)
_COEFFICIENTS: Final = 64
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing), RSTn, or more 0xFF (fill);
# any other byte after 0xFF is the marker that ends the scan.
_SCAN_END: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass(frozen=True, slots=True)
class Component:
    ident: int
    h: int  # horizontal sampling factor
    v: int  # vertical sampling factor
    table: int  # quantisation table slot


@dataclass(frozen=True, slots=True)
class JpegFile:
    """A walked frame: a private copy of its bytes and what its markers say."""

    data: bytes
    frame_marker: int
    precision: int
    width: int
    height: int
    components: tuple[Component, ...]
    dc_steps: tuple[int, ...]  # per component: the DC quantisation step its table ends with
    orientation: int  # EXIF Orientation, 1..8

    @property
    def progressive(self) -> bool:
        return self.frame_marker in _PROGRESSIVE

    @property
    def arithmetic(self) -> bool:
        return self.frame_marker in _ARITHMETIC


def read_jpeg(jpeg: object) -> JpegFile:
    """Walk `jpeg`; `ImageError` for anything that is not one whole, well-formed JPEG frame."""
    data = _jpeg_bytes(jpeg)
    walk = _Walk(data)
    for _ in range(MAX_MARKERS):
        if walk.step():
            return walk.result()
    raise ImageError(f"JPEG has more than {MAX_MARKERS} markers")


def _jpeg_bytes(jpeg: object) -> bytes:
    if not isinstance(jpeg, bytes | bytearray | memoryview):
        raise ImageError("JPEG must be bytes")
    data = bytes(jpeg)  # a private copy: nobody can change it while we work
    if not data.startswith(b"\xff\xd8"):
        raise ImageError("not a JPEG: no SOI marker")
    return data


class _Walk:
    """State of one marker walk (see `read_jpeg`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 2
        self.frame: tuple[int, int, int, int, tuple[Component, ...]] | None = None
        self.scans = 0
        self.tables: dict[int, int] = {}  # slot -> DC step of its latest definition
        self.app1: list[bytes] = []
        # Progressive: per component, per coefficient, the bit position still missing
        # (None: never sent; 0: complete). Sequential: the components scanned.
        self.progress: dict[int, list[int | None]] = {}
        self.scanned: set[int] = set()

    def step(self) -> bool:
        """Handle one marker; True at EOI."""
        marker = self._next_marker()
        if marker == _EOI:
            return True
        if marker in _RST or marker == _TEM:
            return False  # standalone markers, meaningless outside a scan
        if marker == _SOI:
            raise ImageError("JPEG has a second SOI marker")
        start = self.pos + 2
        end = self._segment_end()
        payload = self.data[start:end]
        if marker == _SOS:
            self._scan(payload)
            end = self._scan_end(end)
        elif marker in _SOF:
            self._frame(marker, payload)
        elif marker == _DQT:
            self._quantisation(payload)
        elif marker == _APP1:
            self.app1.append(payload)
        elif not (marker in _TABLES or marker in _METADATA or (marker == _DNL and self.scans)):
            raise ImageError(f"unsupported JPEG marker 0x{marker:02X}")
        self.pos = end
        return False

    def result(self) -> JpegFile:
        if self.frame is None or not self.scans:
            raise ImageError("JPEG has no image data")
        marker, precision, height, width, components = self.frame
        self._check_complete(marker, components)
        try:
            orientation = frame_orientation(self.app1)
        except ValueError as err:
            raise ImageError(str(err)) from err
        return JpegFile(
            data=self.data,
            frame_marker=marker,
            precision=precision,
            width=width,
            height=height,
            components=components,
            dc_steps=tuple(self.tables.get(c.table, 0) for c in components),
            orientation=orientation,
        )

    # -- segments

    def _frame(self, marker: int, payload: bytes) -> None:
        if self.frame is not None:
            raise ImageError("JPEG has more than one frame header")
        if len(payload) < 6 or len(payload) != 6 + 3 * payload[5]:
            raise ImageError("JPEG frame header is malformed")
        count = payload[5]
        components = tuple(
            Component(
                ident=payload[6 + 3 * i],
                h=payload[7 + 3 * i] >> 4,
                v=payload[7 + 3 * i] & 0x0F,
                table=payload[8 + 3 * i],
            )
            for i in range(count)
        )
        if not 1 <= count <= 4 or len({c.ident for c in components}) != count:
            raise ImageError("JPEG frame header is malformed")
        if any(not (1 <= c.h <= 4 and 1 <= c.v <= 4 and c.table <= 3) for c in components):
            raise ImageError("JPEG frame header is malformed")
        height = int.from_bytes(payload[1:3], "big")
        width = int.from_bytes(payload[3:5], "big")
        self.frame = (marker, payload[0], height, width, components)
        if marker in _PROGRESSIVE:
            self.progress = {c.ident: [None] * _COEFFICIENTS for c in components}

    def _quantisation(self, payload: bytes) -> None:
        at = 0
        while at < len(payload):
            precision, slot = payload[at] >> 4, payload[at] & 0x0F
            size = _COEFFICIENTS * (2 if precision else 1)
            if precision > 1 or slot > 3 or at + 1 + size > len(payload):
                raise ImageError("JPEG quantisation table is malformed")
            # The first value (zig-zag order) is the DC step.
            self.tables[slot] = int.from_bytes(payload[at + 1 : at + 1 + size // 64], "big")
            at += 1 + size

    def _scan(self, payload: bytes) -> None:
        if self.frame is None:
            raise ImageError("JPEG scan before its frame header")
        self.scans += 1
        if self.scans > SCAN_LIMIT:
            raise ImageError(f"JPEG has more than {SCAN_LIMIT} scans")
        count = payload[0] if payload else 0
        if not 1 <= count <= 4 or len(payload) != 4 + 2 * count:
            raise ImageError("JPEG scan header is malformed")
        idents = [payload[1 + 2 * i] for i in range(count)]
        known = {c.ident for c in self.frame[4]}
        if not set(idents) <= known:
            raise ImageError("JPEG scan names a component the frame does not have")
        first, last = payload[1 + 2 * count], payload[2 + 2 * count]
        high, low = payload[3 + 2 * count] >> 4, payload[3 + 2 * count] & 0x0F
        self.scanned.update(idents)
        if not self.progress:
            return
        if first > last or last >= _COEFFICIENTS:
            raise ImageError("JPEG progressive scan is malformed")
        for ident in idents:
            missing = self.progress[ident]
            for k in range(first, last + 1):
                # A first pass sends bits down to `low`; a refinement sends bit `low` and
                # must follow the pass that stopped at `high` (libjpeg-turbo checks the order).
                missing[k] = low if high == 0 or missing[k] == high else missing[k]

    def _check_complete(self, marker: int, components: tuple[Component, ...]) -> None:
        """Every component scanned; in a progressive frame, every coefficient to its last bit."""
        if {c.ident for c in components} - self.scanned:
            raise ImageError("JPEG is incomplete: a component has no scan")
        if marker in _PROGRESSIVE and any(
            bit != 0 for missing in self.progress.values() for bit in missing
        ):
            raise ImageError("JPEG is incomplete: its progressive scans stop early")

    # -- byte level

    def _next_marker(self) -> int:
        """Read the marker at `pos` (after optional 0xFF fill); leave `pos` after its code."""
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise ImageError("JPEG is truncated")
        if data[pos] != 0xFF:
            raise ImageError(f"JPEG has garbage at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            raise ImageError("JPEG is truncated")
        if data[pos] == 0x00:
            raise ImageError(f"JPEG has a stuffed byte outside a scan at byte {pos}")
        self.pos = pos + 1
        return data[pos]

    def _segment_end(self) -> int:
        """End of the length-prefixed segment whose length field starts at `pos`."""
        data, pos = self.data, self.pos
        if pos + 2 > len(data):
            raise ImageError("JPEG is truncated")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > len(data):
            raise ImageError("JPEG segment length is invalid or truncated")
        return pos + length

    def _scan_end(self, start: int) -> int:
        """End of the entropy-coded data starting at `start` (the next marker's 0xFF)."""
        match = _SCAN_END.search(self.data, start)
        if match is None:
            raise ImageError("JPEG is truncated inside a scan")
        return match.start()
