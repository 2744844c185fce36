"""Scaling: DCT-domain scaling in libjpeg-turbo, then an area resample to the exact size.

Trade-off: libjpeg-turbo has SIMD IDCTs for the scaling factors 1/1, 1/2, 1/4 and 1/8 only;
the other eighths (3/4 for 1920 -> 1280) run in plain C and cost about twice a full SIMD
decode (measured: 10.9 ms at 3/4 against 4.7 ms at 1/1 for the 1080p photo). So the frame
is decoded at the smallest fast factor that still covers the target, and the rest, a ratio
of at most 2, is bridged by an area (box) resample in the native library: every output pixel
is the exact average of the input area it covers, which cannot alias at these ratios.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from .native import Native, Taps
from .workspace import Workspace

type U8 = npt.NDArray[np.uint8]

_WEIGHT_ONE: Final = 1 << 14
# Scaling factors with SIMD IDCTs in libjpeg-turbo 3 (jidctred / jsimd): decoding at these is
# fast; the others are not worth their smaller output.
FAST_FACTORS: Final = frozenset({(1, 1), (1, 2), (1, 4), (1, 8)})


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
    """Smallest fast DCT-domain scaling factor whose output still covers `target`."""
    usable = [f for f in factors & FAST_FACTORS if f[0] <= f[1]]
    fits = [f for f in usable if scaled(width, f) >= target[0] and scaled(height, f) >= target[1]]
    return min(fits, key=lambda f: f[0] / f[1], default=(1, 1))


@lru_cache(maxsize=32)
def area_taps(size_in: int, size_out: int) -> Taps:
    """Area weights: output i averages input [i * r, (i + 1) * r), r = size_in / size_out.

    For r < 1 (never the case after `decode_factor`, but defined) each output takes the
    input pixel under its centre.
    """
    ratio = size_in / size_out
    spans = [
        math.ceil(min(size_in, (i + 1) * ratio) - 1e-9) - math.floor(i * ratio)
        for i in range(size_out)
    ]
    count = min(size_in, max(spans)) if ratio >= 1 else 1
    first = np.zeros(size_out, dtype=np.int32)
    weights = np.zeros((size_out, count), dtype=np.int16)
    for i in range(size_out):
        if ratio < 1:
            first[i] = min(size_in - 1, int((i + 0.5) * ratio))
            weights[i, 0] = _WEIGHT_ONE
            continue
        low, high = i * ratio, min(size_in, (i + 1) * ratio)
        start = min(math.floor(low), size_in - count)
        first[i] = start
        shares = [
            max(0.0, min(high, start + k + 1) - max(low, start + k)) / ratio for k in range(count)
        ]
        fixed = [round(share * _WEIGHT_ONE) for share in shares]
        fixed[int(np.argmax(fixed))] += _WEIGHT_ONE - sum(fixed)  # exactly one in total
        weights[i] = fixed
    for array in (first, weights):
        array.flags.writeable = False
    return Taps(first, weights, count)


def resize_into(source: U8, target: U8, work: Workspace, native: Native) -> None:
    """Area resample of a 2-D plane or 3-D interleaved image into `target`.

    Every temporary comes from `work`, so a stream of frames of one size allocates nothing
    after the first.
    """
    (rows_in, cols_in), (rows_out, cols_out) = source.shape[:2], target.shape[:2]
    if (rows_in, cols_in) == (rows_out, cols_out):
        np.copyto(target, source)
        return
    channels = source.shape[2] if source.ndim == 3 else 1
    if source.strides[-1] != 1 or source.strides[-2] != channels:
        source = np.ascontiguousarray(source)  # an upright view of a turned frame
    middle = work.u8("resize.middle", (rows_out * cols_in * channels,))
    row = work.array("resize.row", (cols_in * channels,), np.int32)
    native.resample(
        source,
        target,
        columns=area_taps(cols_in, cols_out),
        rows=area_taps(rows_in, rows_out),
        middle=middle,
        row=row,
    )
