"""The native part (hub_addon/native/rtcc_imaging.c), loaded with ctypes: the DCT-domain mask
filter for tj3Transform and the plane resampler of the scaled route.

Why a plain shared library and not a CPython extension module: the filter is a C function
that libjpeg-turbo calls, not something Python calls, and the resampler takes nothing but
pointers and integers. It needs no Python API, no Python.h and
no turbojpeg.h (only two struct layouts), so it builds with nothing but a C compiler, works
with any interpreter build (free-threaded included), and ctypes hands its address to
`tj3Transform`. setuptools compiles it when the package is installed (pyproject.toml,
`ext-modules`), which is why the file carries an extension-module name.

There is no fallback: without the filter the lossless path cannot mask, so the processor
refuses to start (`ImageError`) rather than pass frames on some other way.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from ctypes import POINTER, c_int, c_int32, c_int64, c_uint8, c_void_p
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from .spec import ImageError

LIBRARY_STEM: Final = "_native"
_VERSION: Final = 1
_MAX_COMPONENTS: Final = 4


class MaskBitmap(ctypes.Structure):
    """rtcc_mask_bitmap in rtcc_imaging.c: keep the two in step (checked by `version`)."""

    _fields_ = (
        ("version", c_int32),
        ("cols", c_int32),
        ("rows", c_int32),
        ("components", c_int32),
        ("h_blocks", c_int32 * _MAX_COMPONENTS),
        ("v_blocks", c_int32 * _MAX_COMPONENTS),
        ("fill_dc", c_int32 * _MAX_COMPONENTS),
        ("masked", POINTER(c_uint8)),
        ("blocks_masked", c_int64),
    )


def library_path() -> Path:
    """Where the built filter lives: next to this module, with an extension-module suffix."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"{LIBRARY_STEM}{suffix}"
        if candidate.is_file():
            return candidate
    raise ImageError(
        f"the native mask filter ({LIBRARY_STEM}) is not built in {here}: install the "
        "add-on package with a C compiler present (pip install ./hub_addon, or "
        "scripts/setup.sh); frames are never shared without it"
    )


class Native:
    """The loaded library: `address` (the filter) goes into `tjtransform.customFilter`."""

    def __init__(self) -> None:
        path = library_path()
        try:
            lib = ctypes.CDLL(str(path))
            lib.rtcc_dctmask_version.restype = ctypes.c_int
            version = int(lib.rtcc_dctmask_version())
            address = ctypes.cast(lib.rtcc_dctmask_filter, ctypes.c_void_p).value
            lib.rtcc_resample.restype = ctypes.c_int
            lib.rtcc_resample.argtypes = [
                c_void_p, c_int, c_int, c_int, c_int, c_void_p, c_int, c_int, c_int,
                c_void_p, c_void_p, c_int, c_void_p, c_void_p, c_int, c_void_p, c_void_p,
            ]  # fmt: skip
        except (OSError, AttributeError) as err:
            raise ImageError(f"the native mask filter {path} cannot be loaded: {err}") from err
        if version != _VERSION or not address:
            raise ImageError(f"the native mask filter {path} is version {version}, not {_VERSION}")
        self._lib = lib  # keeps the library (and so `address`) alive
        self.address: int = address

    def resample(
        self,
        source: npt.NDArray[np.uint8],
        target: npt.NDArray[np.uint8],
        *,
        columns: Taps,
        rows: Taps,
        middle: npt.NDArray[np.uint8],
        row: npt.NDArray[np.int32],
    ) -> None:
        """Resample `source` (rows x cols [x channels]) into `target` (rtcc_resample in the C)."""
        src_h, src_w = source.shape[:2]
        dst_h, dst_w = target.shape[:2]
        channels = source.shape[2] if source.ndim == 3 else 1
        pixel = (channels,) if channels > 1 else ()
        if (
            source.strides[1:] != (channels, 1)[: source.ndim - 1]
            or target.strides[1:]
            != (
                channels,
                1,
            )[: target.ndim - 1]
        ):
            raise ImageError("resample needs pixels with contiguous rows")
        if target.shape[2:] != pixel or source.shape[2:] != pixel:
            raise ImageError("resample needs the same channels in and out")
        if middle.size < dst_h * src_w * channels or row.size < src_w * channels:
            raise ImageError("resample scratch is too small")
        if columns.first.size != dst_w or rows.first.size != dst_h:
            raise ImageError("resample taps do not fit the target")
        status = self._lib.rtcc_resample(
            source.ctypes.data, source.strides[0], src_w, src_h, channels,
            target.ctypes.data, target.strides[0], dst_w, dst_h,
            columns.first.ctypes.data, columns.weights.ctypes.data, columns.count,
            rows.first.ctypes.data, rows.weights.ctypes.data, rows.count,
            middle.ctypes.data, row.ctypes.data,
        )  # fmt: skip
        if status != 0:
            raise ImageError("resample refused its arguments")

    @staticmethod
    def bitmap(
        masked: npt.NDArray[np.bool_],
        blocks: tuple[tuple[int, int], ...],
        fill_dc: tuple[int, ...],
    ) -> FrameMask:
        """The filter's data for one frame: MCU grid `masked`, blocks per MCU, DC per component."""
        cells = np.ascontiguousarray(masked, dtype=np.uint8)
        rows, cols = cells.shape
        pad = (0,) * (_MAX_COMPONENTS - len(blocks))
        bitmap = MaskBitmap(
            version=_VERSION,
            cols=cols,
            rows=rows,
            components=len(blocks),
            h_blocks=(c_int32 * _MAX_COMPONENTS)(*(h for h, _ in blocks), *pad),
            v_blocks=(c_int32 * _MAX_COMPONENTS)(*(v for _, v in blocks), *pad),
            fill_dc=(c_int32 * _MAX_COMPONENTS)(*fill_dc, *pad),
            masked=cells.ctypes.data_as(POINTER(c_uint8)),
            blocks_masked=0,
        )
        return FrameMask(bitmap, cells)


@dataclass(frozen=True, slots=True)
class Taps:
    """Resampling taps of one axis: for output i, `count` weights from input `first[i]`."""

    first: npt.NDArray[np.int32]  # (outputs,)
    weights: npt.NDArray[np.int16]  # (outputs, count), each row summing to 1 << 14
    count: int


@dataclass(frozen=True, slots=True)
class FrameMask:
    """The struct handed to the filter and the cells it points into: keep it alive until
    the transform returns."""

    struct: MaskBitmap
    cells: npt.NDArray[np.uint8]
