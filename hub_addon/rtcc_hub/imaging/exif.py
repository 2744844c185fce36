"""The EXIF Orientation tag, read the way viewers read it.

PROTOCOL section 1: a still is turned upright as a viewer would show it, so that masks
apply in the coordinates the owner sees. Browsers (where the owner draws masks) take the
Orientation tag (0x0112) from IFD0 of the first Exif APP1 segment and ignore a tag they
cannot use: a value outside 1..8, a wrong type or count, or an IFD that does not parse all
show the frame as stored. This module does the same, and nothing more: no other EXIF field
matters here, and the segment itself never reaches the city.
"""

from __future__ import annotations

import struct
from typing import Final

EXIF_ID: Final = b"Exif\x00\x00"
_ORIENTATION_TAG: Final = 0x0112
_SHORT: Final = 3
_IFD_ENTRY: Final = 12
_UPRIGHT: Final = 1


def exif_orientation(payload: bytes) -> int | None:
    """Orientation (1..8) from an APP1 payload; None if it is not Exif or names none usable."""
    found = _ifd0(payload)
    if found is None:
        return None
    order, tiff, entries, count = found
    for index in range(count):
        at = entries + index * _IFD_ENTRY
        tag, kind, values = struct.unpack_from(order + "HHI", tiff, at)
        if tag == _ORIENTATION_TAG:
            (value,) = struct.unpack_from(order + "H", tiff, at + 8)
            usable = kind == _SHORT and values == 1 and 1 <= value <= 8
            return int(value) if usable else None
    return None


def _ifd0(payload: bytes) -> tuple[str, bytes, int, int] | None:
    """(byte order, TIFF data, offset of IFD0's entries, entry count), or None if malformed."""
    if not payload.startswith(EXIF_ID):
        return None
    tiff = payload[len(EXIF_ID) :]
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4])
    if order is None or len(tiff) < 8:
        return None
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd < 8 or ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    if ifd + 2 + count * _IFD_ENTRY > len(tiff):
        return None
    return order, tiff, ifd + 2, count


def frame_orientation(app1_payloads: list[bytes]) -> int:
    """The orientation of a frame from its APP1 segments, in file order.

    The first Exif segment decides, as in viewers. Several Exif segments that disagree could
    be shown differently by different viewers: `ValueError`, and the frame is refused (fail
    closed rather than mask the wrong picture).
    """
    exif = [p for p in app1_payloads if p.startswith(EXIF_ID)]
    if not exif:
        return _UPRIGHT
    found = {exif_orientation(p) or _UPRIGHT for p in exif}
    if len(found) > 1:
        raise ValueError("JPEG has Exif segments with different orientations")
    return found.pop()
