"""Real JPEGs for the imaging tests: made with libjpeg-turbo, metadata spliced in by bytes.

Also an independent marker lister and a pixel-centre polygon reference, written separately
from `rtcc_hub.imaging` so that the tests do not share its mistakes.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import numpy.typing as npt
import turbojpeg as tj

U8 = npt.NDArray[np.uint8]

SUBSAMPLINGS = {
    "444": tj.TJSAMP_444,
    "422": tj.TJSAMP_422,
    "420": tj.TJSAMP_420,
    "440": tj.TJSAMP_440,
    "411": tj.TJSAMP_411,
    "441": tj.TJSAMP_441,
}

CODEC = tj.TurboJPEG(lib_path=os.environ.get("RTCC_TURBOJPEG_LIB") or None)

EXIF_GPS = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + b"GPS 32.2988N 90.1848W" * 4
ICC = b"ICC_PROFILE\x00\x01\x01" + b"\x00" * 128
XMP = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>owner: Jane Doe</x:xmpmeta>"
COMMENT = b"camera at 12 Elm Street"
METADATA_SEGMENTS = [
    (0xE1, EXIF_GPS),
    (0xE2, ICC),
    (0xE1, XMP),
    (0xED, b"Photoshop 3.0\x00x"),
    (0xFE, COMMENT),
    (0xEF, b"APP15"),
]


def picture(width: int, height: int, seed: int = 0) -> U8:
    """Smooth colour gradients plus mild noise: JPEG-friendly but not trivially constant."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    red = 40 + 180 * x / max(1, width - 1)
    green = 40 + 180 * y / max(1, height - 1)
    blue = 128 + 80 * np.sin(x / 17.0) * np.cos(y / 23.0)
    rgb = np.stack([red, green, blue], axis=-1) + rng.normal(0, 4, (height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def encode(
    rgb: U8, subsample: str = "420", *, quality: int = 92, progressive: bool = False
) -> bytes:
    flags = tj.TJFLAG_PROGRESSIVE if progressive else 0
    if subsample == "gray":
        grey = rgb.mean(axis=-1).astype(np.uint8)[..., None]
        out: bytes = CODEC.encode(
            np.ascontiguousarray(grey),
            quality=quality,
            pixel_format=tj.TJPF_GRAY,
            jpeg_subsample=tj.TJSAMP_GRAY,
            flags=flags,
        )
        return out
    encoded: bytes = CODEC.encode(
        rgb,
        quality=quality,
        pixel_format=tj.TJPF_RGB,
        jpeg_subsample=SUBSAMPLINGS[subsample],
        flags=flags,
    )
    return encoded


def make_jpeg(width: int, height: int, subsample: str = "420", **kwargs: object) -> bytes:
    return encode(picture(width, height), subsample, **kwargs)  # type: ignore[arg-type]


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def splice_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def with_metadata(jpeg: bytes) -> bytes:
    """EXIF/GPS, ICC, XMP, Photoshop, COM, APP15 after SOI; a comment before the last SOS."""
    spliced = splice_after_soi(jpeg, *(segment(m, p) for m, p in METADATA_SEGMENTS))
    last_sos = spliced.rfind(b"\xff\xda")
    return spliced[:last_sos] + segment(0xFE, COMMENT) + spliced[last_sos:]


def jfif_with_thumbnail() -> bytes:
    """APP0 JFIF carrying a 2x1 RGB thumbnail (6 bytes of pixels)."""
    return segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x02\x01" + b"\xff\x00\x00" * 2)


def markers(jpeg: bytes) -> list[int]:
    """Every marker code in the stream, in order (SOI..EOI), entropy-coded data skipped."""
    assert jpeg[:2] == b"\xff\xd8", "no SOI"
    found = [0xD8]
    pos = 2
    while True:
        assert jpeg[pos] == 0xFF, f"expected a marker at {pos}"
        while jpeg[pos] == 0xFF:
            pos += 1
        code = jpeg[pos]
        pos += 1
        found.append(code)
        if code == 0xD9:
            assert pos == len(jpeg), "bytes after EOI"
            return found
        if 0xD0 <= code <= 0xD7 or code == 0x01:
            continue
        (length,) = struct.unpack(">H", jpeg[pos : pos + 2])
        pos += length
        if code == 0xDA:  # skip entropy-coded data up to the next real marker
            while not (jpeg[pos] == 0xFF and jpeg[pos + 1] not in (0x00, *range(0xD0, 0xD8))):
                pos += 1


def metadata_markers(jpeg: bytes) -> list[int]:
    return [m for m in markers(jpeg) if 0xE1 <= m <= 0xEF or m == 0xFE]


def decode_planes(jpeg: bytes) -> list[U8]:
    planes: list[U8] = CODEC.decode_to_yuv_planes(jpeg)
    return planes


def decode_rgb(jpeg: bytes) -> U8:
    rgb: U8 = CODEC.decode(jpeg, pixel_format=tj.TJPF_RGB)
    return rgb


def size(jpeg: bytes) -> tuple[int, int]:
    width, height, _, _ = CODEC.decode_header(jpeg)
    return int(width), int(height)


def inside_nonzero(
    polygon: tuple[tuple[float, float], ...], width: int, height: int
) -> npt.NDArray[np.bool_]:
    """Pixels whose centre lies strictly inside `polygon` (nonzero winding), by brute force."""
    y, x = np.mgrid[0:height, 0:width]
    px, py = (x + 0.5) / width, (y + 0.5) / height
    winding = np.zeros((height, width), dtype=np.int64)
    points = list(polygon)
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        cross = (x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)
        winding += ((y0 <= py) & (py < y1) & (cross > 0)).astype(np.int64)
        winding -= ((y1 <= py) & (py < y0) & (cross < 0)).astype(np.int64)
    inside: npt.NDArray[np.bool_] = winding != 0
    return inside
