"""JPEG helpers for assertions: walk markers, decode, check masks, widths and metadata."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

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


# --------------------------------------------------------------------------------------------
# Builders for the imaging tests (tests/hub/imaging): real JPEGs made with libjpeg-turbo
# (through PyTurboJPEG, or ctypes for what PyTurboJPEG does not expose), hostile parts spliced
# in by bytes, and readers written separately from rtcc_hub.imaging so that the tests do not
# share its mistakes.

U8 = npt.NDArray[np.uint8]

SUBSAMPLINGS = {"444": 0, "422": 1, "420": 2, "gray": 3, "440": 4, "411": 5, "441": 6}

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
SECRET = b"RTCC-SECRET-0123456789"


def picture(width: int, height: int, seed: int = 0) -> U8:
    """Smooth colour gradients plus mild noise: JPEG-friendly but not trivially constant."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    red = 40 + 180 * x / max(1, width - 1)
    green = 40 + 180 * y / max(1, height - 1)
    blue = 128 + 80 * np.sin(x / 17.0) * np.cos(y / 23.0)
    rgb = np.stack([red, green, blue], axis=-1) + rng.normal(0, 4, (height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


class _Turbo:
    """libjpeg-turbo 3 through ctypes, for encodings PyTurboJPEG cannot make (restart
    markers, arithmetic coding) and for reading DCT coefficients (a Python customFilter)."""

    class Region(ctypes.Structure):
        _fields_ = (
            ("x", ctypes.c_int),
            ("y", ctypes.c_int),
            ("w", ctypes.c_int),
            ("h", ctypes.c_int),
        )

    FILTER = ctypes.CFUNCTYPE(
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_short),
        Region,
        Region,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
    )

    class Transform(ctypes.Structure):
        pass

    Transform._fields_ = (
        ("r", Region),
        ("op", ctypes.c_int),
        ("options", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("customFilter", FILTER),
    )

    def __init__(self) -> None:
        path = os.environ.get("RTCC_TURBOJPEG_LIB") or ctypes.util.find_library("turbojpeg")
        lib = ctypes.CDLL(path)
        lib.tj3Init.restype = ctypes.c_void_p
        lib.tj3Init.argtypes = [ctypes.c_int]
        lib.tj3Set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.tj3Destroy.argtypes = [ctypes.c_void_p]
        lib.tj3Free.argtypes = [ctypes.c_void_p]
        lib.tj3GetErrorStr.restype = ctypes.c_char_p
        lib.tj3GetErrorStr.argtypes = [ctypes.c_void_p]
        lib.tj3Compress8.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
        ]  # fmt: skip
        lib.tj3Transform.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
            ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
            ctypes.POINTER(self.Transform),
        ]  # fmt: skip
        self.lib = lib

    def compress(self, rgb: U8, params: dict[int, int]) -> bytes:
        lib = self.lib
        handle = lib.tj3Init(0)
        try:
            for param, value in params.items():
                assert lib.tj3Set(handle, param, value) == 0, lib.tj3GetErrorStr(handle)
            dst, size = ctypes.c_void_p(), ctypes.c_size_t()
            rgb = np.ascontiguousarray(rgb)
            height, width = rgb.shape[:2]
            fmt = 6 if rgb.shape[2] == 1 else 0  # TJPF_GRAY, TJPF_RGB
            status = lib.tj3Compress8(
                handle,
                rgb.ctypes.data,
                width,
                0,
                height,
                fmt,
                ctypes.byref(dst),
                ctypes.byref(size),
            )
            assert status == 0, lib.tj3GetErrorStr(handle)
            out = ctypes.string_at(dst, size.value)
            lib.tj3Free(dst)
            return out
        finally:
            lib.tj3Destroy(handle)

    def coefficients(self, jpeg: bytes, op: int = 0) -> list[np.ndarray]:
        """Quantised DCT coefficients per component, (block rows, block cols, 64), after the
        lossless operation `op` (a TJXOP value), read by a Python filter in tj3Transform."""
        lib = self.lib
        arrays: dict[int, list[np.ndarray]] = {}

        def keep(coeffs, array, plane, component, _transform, _data):  # type: ignore[no-untyped-def]
            blocks = (array.w // 8) * (array.h // 8)
            row = np.ctypeslib.as_array(coeffs, shape=(blocks * 64,)).copy()
            arrays.setdefault(component, []).append(row.reshape(array.h // 8, array.w // 8, 64))
            return 0

        callback = self.FILTER(keep)
        handle = lib.tj3Init(2)
        try:
            transform = self.Transform(self.Region(0, 0, 0, 0), op, 1 << 4, None, callback)
            dst, size = ctypes.c_void_p(), ctypes.c_size_t()  # NOOUTPUT: nothing written
            status = lib.tj3Transform(
                handle,
                jpeg,
                len(jpeg),
                1,
                ctypes.byref(dst),
                ctypes.byref(size),
                ctypes.byref(transform),
            )
            assert status == 0, lib.tj3GetErrorStr(handle)
        finally:
            lib.tj3Destroy(handle)
        return [np.concatenate(arrays[c], axis=0) for c in sorted(arrays)]


@cache
def _turbo() -> _Turbo:
    return _Turbo()


def encode_frame(
    rgb: U8,
    subsample: str = "420",
    *,
    quality: int = 92,
    progressive: bool = False,
    arithmetic: bool = False,
    restart_rows: int = 0,
    rgb_coded: bool = False,
) -> bytes:
    """A JPEG of `rgb` with the given structure (subsampling "gray" encodes the luma)."""
    if subsample == "gray":
        rgb = rgb.mean(axis=-1).astype(np.uint8)[..., None]
    params = {3: quality, 4: SUBSAMPLINGS[subsample], 12: int(progressive), 14: int(arithmetic)}
    if restart_rows:
        params[19] = restart_rows
    if rgb_coded:
        params[8] = 0  # TJCS_RGB
    return _turbo().compress(rgb, params)


def make_frame(width: int, height: int, subsample: str = "420", **kwargs: object) -> bytes:
    return encode_frame(picture(width, height), subsample, **kwargs)  # type: ignore[arg-type]


def coefficients(jpeg: bytes, op: int = 0) -> list[np.ndarray]:
    return _turbo().coefficients(jpeg, op)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def splice_after_soi(jpeg: bytes, *parts: bytes) -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(parts) + jpeg[2:]


def with_metadata(jpeg: bytes) -> bytes:
    """EXIF/GPS, ICC, XMP, Photoshop, COM, APP15 after SOI; a comment before the last SOS."""
    spliced = splice_after_soi(jpeg, *(segment(m, p) for m, p in METADATA_SEGMENTS))
    last_sos = spliced.rfind(b"\xff\xda")
    return spliced[:last_sos] + segment(0xFE, COMMENT) + spliced[last_sos:]


def exif_orientation_segment(orientation: int, *, big_endian: bool = True) -> bytes:
    """An Exif APP1 whose IFD0 holds Orientation (and a GPS-ish string to spot leaks)."""
    order = ">" if big_endian else "<"
    header = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(order + "I", 8)
    entries = [
        struct.pack(order + "HHI", 0x010F, 2, 4) + b"Acm\x00",  # Make
        struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0),  # Orientation
    ]
    ifd = struct.pack(order + "H", len(entries)) + b"".join(entries) + struct.pack(order + "I", 0)
    return segment(0xE1, b"Exif\x00\x00" + header + ifd + SECRET)


def stored_for(upright: U8, orientation: int) -> U8:
    """The pixels a camera stores so that EXIF `orientation` shows `upright` (the inverse)."""
    inverse = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[::-1],  # shown turned 90 degrees clockwise
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: a.swapaxes(0, 1)[:, ::-1],  # shown turned 90 degrees counter-clockwise
    }[orientation]
    return np.ascontiguousarray(inverse(upright))


def sos_offsets(jpeg: bytes) -> list[int]:
    """Offsets of every SOS marker (0xFFDA outside entropy data)."""
    found, pos = [], 2
    while pos < len(jpeg):
        while jpeg[pos] == 0xFF and jpeg[pos + 1] == 0xFF:
            pos += 1
        code = jpeg[pos + 1]
        if code == 0xD9:
            return found
        if 0xD0 <= code <= 0xD7 or code == 0x01:
            pos += 2
            continue
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if code == 0xDA:
            found.append(pos)
            pos += 2 + length
            while not (jpeg[pos] == 0xFF and jpeg[pos + 1] not in (0x00, 0xFF, *range(0xD0, 0xD8))):
                pos += 1
        else:
            pos += 2 + length
    return found


def scan_data_end(jpeg: bytes) -> int:
    """Offset of the marker that ends the last scan (normally EOI)."""
    return jpeg.rindex(b"\xff\xd9")


def with_unused_tables(jpeg: bytes) -> bytes:
    """An unused quantisation table (slot 3) and an unused Huffman table (AC 3) carrying data."""
    dqt = segment(0xDB, bytes([0x03]) + (SECRET * 3)[:64])
    counts = bytes([0] * 7 + [len(SECRET)] + [0] * 8)
    dht = segment(0xC4, bytes([0x13]) + counts + SECRET)
    sos = jpeg.index(b"\xff\xda")
    return jpeg[:sos] + dqt + dht + jpeg[sos:]


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
    planes: list[U8] = turbo().decode_to_yuv_planes(jpeg)
    return planes


def decode_rgb(jpeg: bytes) -> U8:
    from turbojpeg import TJPF_RGB

    rgb: U8 = turbo().decode(jpeg, pixel_format=TJPF_RGB)
    return rgb


def size(jpeg: bytes) -> tuple[int, int]:
    width, height, _, _ = turbo().decode_header(jpeg)
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


def grown_mask(
    polygons: tuple[tuple[tuple[float, float], ...], ...],
    width: int,
    height: int,
    mcu_w: int,
    mcu_h: int,
) -> npt.NDArray[np.bool_]:
    """Pixels of every MCU that contains a pixel centre inside a polygon (a lower bound of
    what the add-on blacks out: its geometry also takes MCUs a polygon merely touches)."""
    inside = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        inside |= inside_nonzero(polygon, width, height)
    rows, cols = -(-height // mcu_h), -(-width // mcu_w)
    padded = np.zeros((rows * mcu_h, cols * mcu_w), dtype=bool)
    padded[:height, :width] = inside
    cells = padded.reshape(rows, mcu_h, cols, mcu_w).any(axis=(1, 3))
    return np.repeat(np.repeat(cells, mcu_h, axis=0), mcu_w, axis=1)[:height, :width]
