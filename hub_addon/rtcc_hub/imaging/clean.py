"""The last check before a frame leaves: only what libjpeg-turbo writes for us, nothing else.

Every route re-serialises the frame, so this never fails in practice; it is the fail-closed
statement of PROTOCOL section 3.2 in code: SOI, our canonical JFIF APP0, quantisation and
Huffman tables, one baseline frame header, one scan that libjpeg-turbo entropy-coded from
coefficients, EOI, and no byte after it. Anything else (an APPn or COM segment, a thumbnail,
a second frame or scan, trailing data) means a bug, and the frame is refused rather than
shared. The scan's own bytes are not searched (a tenth of a millisecond per frame): they
are libjpeg-turbo's output, written after every marker checked here.
"""

from __future__ import annotations

from typing import Final

from .lossless import CANONICAL_JFIF
from .spec import ImageError

_SEGMENTS: Final = frozenset({0xDB, 0xC4, 0xC0, 0xC1})  # DQT, DHT, SOF0, SOF1 (16-bit DQT)
_SOS: Final = 0xDA
_EOI: Final = b"\xff\xd9"
_MAX_SEGMENTS: Final = 32


def check_clean(jpeg: bytes) -> bytes:
    """`jpeg` if it holds nothing but the parts listed above; `ImageError` otherwise."""
    if not jpeg.startswith(b"\xff\xd8" + CANONICAL_JFIF):
        raise ImageError("output check failed: not SOI and the canonical JFIF header")
    pos = 2 + len(CANONICAL_JFIF)
    for _ in range(_MAX_SEGMENTS):
        if jpeg[pos : pos + 2] == _EOI:
            if pos + 2 != len(jpeg):
                raise ImageError("output check failed: bytes after EOI")
            return jpeg
        if pos + 4 > len(jpeg) or jpeg[pos] != 0xFF:
            raise ImageError("output check failed: malformed marker")
        marker = jpeg[pos + 1]
        end = pos + 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if marker == _SOS:
            # One interleaved (or greyscale) baseline scan runs to the final EOI.
            # (Entropy-coded data stuffs every 0xFF, so the final EOI is the only one.)
            if not jpeg.endswith(_EOI) or end > len(jpeg) - 2:
                raise ImageError("output check failed: unterminated scan")
            return jpeg
        if marker not in _SEGMENTS:
            raise ImageError(f"output check failed: marker 0x{marker:02X}")
        pos = end
    raise ImageError("output check failed: too many segments")
