"""Scaling: DCT-domain scaling in libjpeg-turbo, then a small two-tap resample to the exact size.

Trade-off: the scaled IDCT averages properly and costs about what a full decode costs (3/4 is
no faster than 1/1 in libjpeg-turbo 3, 1/2 and below are faster), but it only comes in steps
of 1/8. Decoding to the step at or above the target and resampling the rest keeps the allowed
width instead of dropping to the step below (1920 -> 1280 would otherwise give 1200), and the
resample only bridges a small ratio (1440 -> 1280 here; at most 5/4 for reductions down to
1/2, at most 2 below that) where two taps suffice.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from .workspace import Workspace

type U8 = npt.NDArray[np.uint8]
type _Taps = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.uint16]]

_WEIGHT_ONE: Final = 256  # 8-bit fixed point: 255 * 256 still fits uint16


def target_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """Output size: at most `max_width` wide, aspect ratio kept, never upscaled."""
    if max_width is None or width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def scaled(size: int, factor: tuple[int, int]) -> int:
    return -(-size * factor[0] // factor[1])  # libjpeg-turbo's TJSCALED (ceiling)


def decode_factor(
    width: int, height: int, target: tuple[int, int], factors: frozenset[tuple[int, int]]
) -> tuple[int, int]:
    """Smallest DCT-domain scaling factor (<= 1) whose output still covers `target`."""
    usable = [f for f in factors if f[0] <= f[1]]
    fits = [f for f in usable if scaled(width, f) >= target[0] and scaled(height, f) >= target[1]]
    return min(fits, key=lambda f: f[0] / f[1], default=(1, 1))


@lru_cache(maxsize=32)
def _taps(size_in: int, size_out: int) -> _Taps:
    """Source indices and 8-bit weights (of the second tap) of a pixel-centre aligned lerp."""
    source = (np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0.0, size_in - 1)
    first = np.floor(source).astype(np.intp)
    second = np.minimum(first + 1, size_in - 1)
    weight = np.rint((source - first) * _WEIGHT_ONE).astype(np.uint16)
    for array in (first, second, weight):
        array.flags.writeable = False
    return first, second, weight


def resize_into(source: U8, target: U8, work: Workspace) -> None:
    """Two-tap linear resample of a 2-D (or 3-D interleaved) uint8 image into `target`.

    Rows first, then columns; every temporary comes from `work`, so a stream of frames of
    one size allocates nothing after the first.
    """
    rows_out, cols_out = target.shape[:2]
    if source.shape[0] == rows_out:
        middle = source
    else:
        middle = work.array("resize.middle", (rows_out, *source.shape[1:]))
        _lerp_into(source, middle, 0, work)
    if middle.shape[1] == cols_out:
        np.copyto(target, middle)
    else:
        _lerp_into(middle, target, 1, work)


def _lerp_into(source: U8, target: U8, axis: int, work: Workspace) -> None:
    first, second, weight = _taps(source.shape[axis], target.shape[axis])
    shape = [1] * source.ndim
    shape[axis] = target.shape[axis]
    w_second = weight.reshape(shape)
    gather = work.array("resize.gather", target.shape)
    acc = work.array("resize.acc", target.shape, np.uint16)
    part = work.array("resize.part", target.shape, np.uint16)
    np.take(source, first, axis=axis, out=gather, mode="clip")
    np.multiply(gather, _WEIGHT_ONE - w_second, out=acc)
    np.take(source, second, axis=axis, out=gather, mode="clip")
    np.multiply(gather, w_second, out=part)
    acc += part
    acc += _WEIGHT_ONE // 2
    acc >>= 8
    np.copyto(target, acc, casting="unsafe")
