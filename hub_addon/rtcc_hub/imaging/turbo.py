"""libjpeg-turbo 3's TurboJPEG API through ctypes: one handle per thread, buffers reused.

PyTurboJPEG (used by the tests as an independent reference) creates a fresh handle and fresh
output buffers for every call and has no way to run a native `customFilter` inside
`tj3Transform`. The add-on needs exactly those: this module binds the dozen TurboJPEG 3
functions it uses, with argument types declared, and `Handle` keeps one `tj3Init` handle and
grow-only buffers for the thread that owns it (a TurboJPEG handle is not thread-safe; one per
thread is the documented rule).

ctypes releases the GIL around every foreign call, so two worker threads really run two
frames at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, Structure, c_char_p, c_int, c_size_t, c_ubyte, c_void_p
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from .spec import ImageError
from .workspace import Buffer

LIB_ENV: Final = "RTCC_TURBOJPEG_LIB"

type U8 = npt.NDArray[np.uint8]


class Init(IntEnum):
    COMPRESS = 0
    DECOMPRESS = 1
    TRANSFORM = 2  # compress + decompress + transform on one handle


class Param(IntEnum):
    """tj3Set/tj3Get parameters (enum TJPARAM, stable across 3.x)."""

    STOPONWARNING = 0
    NOREALLOC = 2
    QUALITY = 3
    SUBSAMP = 4
    JPEGWIDTH = 5
    JPEGHEIGHT = 6
    PRECISION = 7
    COLORSPACE = 8
    FASTUPSAMPLE = 9
    OPTIMIZE = 11
    PROGRESSIVE = 12
    SCANLIMIT = 13
    ARITHMETIC = 14
    LOSSLESS = 15
    RESTARTBLOCKS = 18
    RESTARTROWS = 19
    XDENSITY = 20
    YDENSITY = 21
    DENSITYUNITS = 22
    MAXPIXELS = 24


class Samp(IntEnum):
    """Chrominance subsampling (enum TJSAMP)."""

    S444 = 0
    S422 = 1
    S420 = 2
    GRAY = 3
    S440 = 4
    S411 = 5
    S441 = 6
    UNKNOWN = -1


class Colorspace(IntEnum):
    RGB = 0
    YCBCR = 1
    GRAY = 2
    CMYK = 3
    YCCK = 4


class PixelFormat(IntEnum):
    RGB = 0
    GRAY = 6


class Xop(IntEnum):
    """Lossless transform operations (enum TJXOP)."""

    NONE = 0
    HFLIP = 1
    VFLIP = 2
    TRANSPOSE = 3
    TRANSVERSE = 4
    ROT90 = 5
    ROT180 = 6
    ROT270 = 7


# Transform options (TJXOPT_*).
XOPT_PERFECT: Final = 1 << 0
XOPT_COPYNONE: Final = 1 << 6

# iMCU size in pixels per subsampling (tjMCUWidth / tjMCUHeight), indexed by Samp.
MCU_WIDTH: Final = {Samp.S444: 8, Samp.S422: 16, Samp.S420: 16, Samp.GRAY: 8, Samp.S440: 8,
                    Samp.S411: 32, Samp.S441: 8}  # fmt: skip
MCU_HEIGHT: Final = {Samp.S444: 8, Samp.S422: 8, Samp.S420: 16, Samp.GRAY: 8, Samp.S440: 16,
                     Samp.S411: 8, Samp.S441: 32}  # fmt: skip
# Transposing a frame swaps its subsampling's axes.
TRANSPOSED: Final = {Samp.S444: Samp.S444, Samp.S422: Samp.S440, Samp.S420: Samp.S420,
                     Samp.GRAY: Samp.GRAY, Samp.S440: Samp.S422, Samp.S411: Samp.S441,
                     Samp.S441: Samp.S411}  # fmt: skip


class Region(Structure):
    """tjregion."""

    _fields_ = (("x", c_int), ("y", c_int), ("w", c_int), ("h", c_int))


class Transform(Structure):
    """tjtransform: `custom_filter` is the address of a native filter (or None)."""

    _fields_ = (
        ("r", Region),
        ("op", c_int),
        ("options", c_int),
        ("data", c_void_p),
        ("custom_filter", c_void_p),
    )


class ScalingFactor(Structure):
    _fields_ = (("num", c_int), ("denom", c_int))


_P_UBYTE = POINTER(c_ubyte)
_PLANES = c_void_p * 3
_STRIDES = c_int * 3


def _bind(lib: ctypes.CDLL) -> None:
    """Declare the signatures of everything used (turbojpeg.h, libjpeg-turbo 3.0+)."""
    signatures: dict[str, tuple[object, list[object]]] = {
        "tj3Init": (c_void_p, [c_int]),
        "tj3Destroy": (None, [c_void_p]),
        "tj3GetErrorStr": (c_char_p, [c_void_p]),
        "tj3Set": (c_int, [c_void_p, c_int, c_int]),
        "tj3Get": (c_int, [c_void_p, c_int]),
        "tj3JPEGBufSize": (c_size_t, [c_int, c_int, c_int]),
        "tj3DecompressHeader": (c_int, [c_void_p, c_char_p, c_size_t]),
        "tj3GetScalingFactors": (POINTER(ScalingFactor), [POINTER(c_int)]),
        "tj3SetScalingFactor": (c_int, [c_void_p, ScalingFactor]),
        "tj3DecompressToYUVPlanes8": (
            c_int,
            [c_void_p, c_char_p, c_size_t, _PLANES, _STRIDES],
        ),
        "tj3Decompress8": (c_int, [c_void_p, c_char_p, c_size_t, c_void_p, c_int, c_int]),
        "tj3CompressFromYUVPlanes8": (
            c_int,
            [c_void_p, _PLANES, c_int, _STRIDES, c_int, POINTER(c_void_p), POINTER(c_size_t)],
        ),
        "tj3Compress8": (
            c_int,
            [c_void_p, c_void_p, c_int, c_int, c_int, c_int, POINTER(c_void_p), POINTER(c_size_t)],
        ),
        "tj3Transform": (
            c_int,
            [
                c_void_p,
                c_char_p,
                c_size_t,
                c_int,
                POINTER(c_void_p),
                POINTER(c_size_t),
                POINTER(Transform),
            ],
        ),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)  # AttributeError: not libjpeg-turbo 3
        function.restype = restype
        function.argtypes = argtypes


def load_library(path: str | None) -> ctypes.CDLL:
    """libturbojpeg >= 3 from `path`, else $RTCC_TURBOJPEG_LIB, else the system's."""
    candidate = path or os.environ.get(LIB_ENV) or ctypes.util.find_library("turbojpeg")
    if not candidate:
        raise ImageError(f"cannot load libjpeg-turbo 3.x: not found (set {LIB_ENV})")
    try:
        lib = ctypes.CDLL(candidate)
        _bind(lib)
    except (OSError, AttributeError) as err:
        raise ImageError(f"cannot load libjpeg-turbo 3.x from {candidate}: {err}") from err
    return lib


@dataclass(frozen=True, slots=True)
class Header:
    """What libjpeg-turbo reads from a frame's header (before any pixel is decoded)."""

    width: int
    height: int
    subsample: Samp
    colorspace: Colorspace
    precision: int
    lossless: bool


class Handle:
    """One TurboJPEG instance and its buffers. Use from one thread only."""

    def __init__(self, lib: ctypes.CDLL, *, max_pixels: int, scan_limit: int) -> None:
        self._lib = lib
        handle = lib.tj3Init(Init.TRANSFORM)
        if not handle:
            raise ImageError("libjpeg-turbo could not create a handle")
        self._handle: int = handle
        self._out = Buffer()
        # Warnings (corrupt data, premature end, extraneous bytes) are errors: such a frame
        # is refused on every path. Output goes to our own buffers, never reallocated.
        self._set(Param.STOPONWARNING, 1)
        self._set(Param.NOREALLOC, 1)
        self._set(Param.SCANLIMIT, scan_limit)
        self._set(Param.MAXPIXELS, max_pixels)

    def close(self) -> None:
        if self._handle:
            self._lib.tj3Destroy(self._handle)
            self._handle = 0

    def __del__(self) -> None:  # the owning thread ended: its handle goes with it
        self.close()

    # -- parameters and errors

    def _set(self, param: Param, value: int) -> None:
        if self._lib.tj3Set(self._handle, param, value) != 0:
            self._fail(f"cannot set parameter {param.name}")

    def _get(self, param: Param) -> int:
        value: int = self._lib.tj3Get(self._handle, param)
        return value

    def _fail(self, what: str) -> None:
        message: bytes | None = self._lib.tj3GetErrorStr(self._handle)
        detail = message.decode(errors="replace") if message else "unknown error"
        raise ImageError(f"{what}: {detail}")

    # -- operations

    def header(self, jpeg: bytes) -> Header:
        if self._lib.tj3DecompressHeader(self._handle, jpeg, len(jpeg)) != 0:
            self._fail("JPEG header is unreadable")
        try:
            subsample = Samp(self._get(Param.SUBSAMP))
            colorspace = Colorspace(self._get(Param.COLORSPACE))
        except ValueError as err:
            raise ImageError(f"JPEG header is unreadable: {err}") from err
        return Header(
            width=self._get(Param.JPEGWIDTH),
            height=self._get(Param.JPEGHEIGHT),
            subsample=subsample,
            colorspace=colorspace,
            precision=self._get(Param.PRECISION),
            lossless=bool(self._get(Param.LOSSLESS)),
        )

    def jpeg_buf_size(self, width: int, height: int, subsample: Samp) -> int:
        """Worst-case size of a JPEG of that geometry (tj3JPEGBufSize; 0 on error)."""
        size: int = self._lib.tj3JPEGBufSize(width, height, subsample)
        if not size:
            self._fail("cannot size the output buffer")
        return size

    def scaling_factors(self) -> frozenset[tuple[int, int]]:
        count = c_int()
        factors = self._lib.tj3GetScalingFactors(ctypes.byref(count))
        if not factors:
            self._fail("cannot list scaling factors")
        return frozenset((factors[i].num, factors[i].denom) for i in range(count.value))

    def transform(self, jpeg: bytes, transform: Transform, out_size: int) -> U8:
        """tj3Transform into the reused output buffer (at most `out_size` bytes): a view of
        the result, valid until the next call on this handle."""
        self._plain_output()
        out = self._out.bytes(out_size)
        dst = c_void_p(out.ctypes.data)
        size = c_size_t(out.size)
        status = self._lib.tj3Transform(
            self._handle, jpeg, len(jpeg), 1, ctypes.byref(dst), ctypes.byref(size), transform
        )
        if status != 0:
            self._fail("JPEG cannot be transformed")
        return out[: size.value]

    def decode_planes(self, jpeg: bytes, factor: tuple[int, int], planes: list[U8]) -> None:
        """Decode into `planes` (Y, or Y Cb Cr; 2-D, C-contiguous rows with any stride)."""
        self._scale(factor)
        pointers = _PLANES(*(p.ctypes.data for p in planes))
        strides = _STRIDES(*(p.strides[0] for p in planes))
        if self._lib.tj3DecompressToYUVPlanes8(self._handle, jpeg, len(jpeg), pointers, strides):
            self._fail("JPEG cannot be decoded")

    def decode_pixels(
        self, jpeg: bytes, factor: tuple[int, int], pixels: U8, pixel_format: PixelFormat
    ) -> None:
        """Decode into `pixels` (rows x cols x channels, C-contiguous rows)."""
        self._scale(factor)
        status = self._lib.tj3Decompress8(
            self._handle, jpeg, len(jpeg), pixels.ctypes.data, pixels.strides[0], pixel_format
        )
        if status != 0:
            self._fail("JPEG cannot be decoded")

    def encode_planes(
        self, planes: list[U8], width: int, height: int, subsample: Samp, quality: int
    ) -> bytes:
        self._encoding(subsample, quality)
        pointers = _PLANES(*(p.ctypes.data for p in planes))
        strides = _STRIDES(*(p.strides[0] for p in planes))
        out = self._out.bytes(self.jpeg_buf_size(width, height, subsample))
        dst = c_void_p(out.ctypes.data)
        size = c_size_t(out.size)
        status = self._lib.tj3CompressFromYUVPlanes8(
            self._handle, pointers, width, strides, height, ctypes.byref(dst), ctypes.byref(size)
        )
        if status != 0:
            self._fail("JPEG cannot be encoded")
        return out[: size.value].tobytes()

    def encode_pixels(
        self, pixels: U8, pixel_format: PixelFormat, subsample: Samp, quality: int
    ) -> bytes:
        self._encoding(subsample, quality)
        height, width = pixels.shape[:2]
        out = self._out.bytes(self.jpeg_buf_size(width, height, subsample))
        dst = c_void_p(out.ctypes.data)
        size = c_size_t(out.size)
        status = self._lib.tj3Compress8(
            self._handle,
            pixels.ctypes.data,
            width,
            pixels.strides[0],
            height,
            pixel_format,
            ctypes.byref(dst),
            ctypes.byref(size),
        )
        if status != 0:
            self._fail("JPEG cannot be encoded")
        return out[: size.value].tobytes()

    def _scale(self, factor: tuple[int, int]) -> None:
        if self._lib.tj3SetScalingFactor(self._handle, ScalingFactor(*factor)) != 0:
            self._fail("cannot set the scaling factor")

    def _plain_output(self) -> None:
        """Baseline Huffman output without restart markers, whatever the last input was.

        A handle's parameters are shared by its compressor and decompressor, and reading a
        header sets some of them from the frame (progressive, arithmetic): reset them before
        every encode and transform so that no property of an earlier frame carries over.
        """
        for param in (
            Param.PROGRESSIVE,
            Param.ARITHMETIC,
            Param.OPTIMIZE,
            Param.RESTARTBLOCKS,
            Param.RESTARTROWS,
        ):
            self._set(param, 0)

    def _encoding(self, subsample: Samp, quality: int) -> None:
        self._plain_output()
        self._set(Param.LOSSLESS, 0)
        self._set(Param.PRECISION, 8)
        self._set(Param.SUBSAMP, subsample)
        self._set(Param.QUALITY, quality)
        self._set(Param.COLORSPACE, Colorspace.GRAY if subsample == Samp.GRAY else Colorspace.YCBCR)
        # The JFIF header carries our own density, not the camera's.
        self._set(Param.DENSITYUNITS, 0)
        self._set(Param.XDENSITY, 1)
        self._set(Param.YDENSITY, 1)
