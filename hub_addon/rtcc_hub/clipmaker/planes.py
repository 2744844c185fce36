"""Pure plane work of the clip maker: orientation, output size, mask rectangles, painting.

Masks use the one mask geometry (`rtcc_hub.maskgeom`) on blocks of the *output* frame, as the
still path does with JPEG MCUs: for H.264 4:2:0 the block is the 16x16 macroblock (8x8 in each
chroma plane), so a painted macroblock is flat and codes as flat, with nothing of the masked
content for prediction or ringing to carry. Luma is painted black (16: the clip is limited
range), chroma neutral (128) and, as for stills, one chroma sample beyond the painted blocks,
because players interpolate 4:2:0 chroma from the neighbouring sample and a mask's border
pixels would otherwise pick up colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from ..maskgeom import Polygon, block_mask, row_runs

type U8 = npt.NDArray[np.uint8]
type Rect = tuple[int, int, int, int]  # row start, row stop, column start, column stop

MACROBLOCK: Final = 16
LUMA_BLACK: Final = 16  # limited ("TV") range black
CHROMA_NEUTRAL: Final = 128
_FIXED_ONE: Final = 1 << 16  # display matrix entries are 16.16 fixed point


class OrientationError(ValueError):
    """A display matrix that is not a multiple of 90 degrees (with or without a flip)."""


@dataclass(frozen=True, slots=True)
class Orientation:
    """How to turn decoded planes upright: transpose first, then flip columns/rows."""

    transpose: bool = False
    flip_x: bool = False
    flip_y: bool = False

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_x or self.flip_y)

    def upright_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.transpose else (width, height)

    def apply(self, plane: U8) -> U8:
        out = plane.T if self.transpose else plane
        if self.flip_x:
            out = out[:, ::-1]
        if self.flip_y:
            out = out[::-1, :]
        return out


UPRIGHT: Final = Orientation()


def _unit(value: int) -> int:
    """A 16.16 matrix entry as -1, 0 or 1; anything in between is a free rotation."""
    if abs(value) < _FIXED_ONE // 64:
        return 0
    if abs(abs(value) - _FIXED_ONE) <= _FIXED_ONE // 64:
        return 1 if value > 0 else -1
    raise OrientationError("display matrix is not a multiple of 90 degrees")


def orientation_from_matrix(matrix: tuple[int, ...]) -> Orientation:
    """Orientation from FFmpeg's display matrix (libavutil/display.h, row vectors).

    A source pixel (p, q) is shown at (a*p + c*q + x, b*p + d*q + y): with a = d = 0 the
    axes swap (transpose), and a negative coefficient mirrors the axis it lands on.
    """
    if len(matrix) != 9:
        raise OrientationError("display matrix must have 9 entries")
    a, b, c, d = (_unit(v) for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    if a != 0 and b == 0 and c == 0 and d != 0:
        return Orientation(False, a < 0, d < 0)
    if a == 0 and b != 0 and c != 0 and d == 0:
        # Transposed: display x comes from source y (coefficient c), display y from x (b).
        return Orientation(True, c < 0, b < 0)
    raise OrientationError("display matrix is singular or skewed")


def output_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """At most `max_width` wide, aspect kept, never upscaled; even, as 4:2:0 H.264 needs."""
    if max_width is not None and width > max_width:
        height = max(2, round(height * max_width / width))
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


@lru_cache(maxsize=64)
def mask_rects(
    masks: tuple[Polygon, ...], width: int, height: int
) -> tuple[tuple[Rect, ...], tuple[Rect, ...]]:
    """(luma rects, chroma rects) to paint in a `width` x `height` 4:2:0 frame."""
    if not masks:
        return ((), ())
    runs = row_runs(block_mask(masks, width, height, MACROBLOCK, MACROBLOCK))
    luma = tuple(
        (r * MACROBLOCK, (r + 1) * MACROBLOCK, a * MACROBLOCK, b * MACROBLOCK) for r, a, b in runs
    )
    half = MACROBLOCK // 2
    chroma = tuple(
        (max(0, r * half - 1), (r + 1) * half + 1, max(0, a * half - 1), b * half + 1)
        for r, a, b in runs
    )
    return luma, chroma


def paint_masks(planes: tuple[U8, U8, U8], masks: tuple[Polygon, ...]) -> None:
    """Black out the masks in 4:2:0 planes (Y, U, V), in place."""
    y, u, v = planes
    luma, chroma = mask_rects(masks, y.shape[1], y.shape[0])
    for top, bottom, left, right in luma:
        y[top:bottom, left:right] = LUMA_BLACK  # numpy clips the far edges to the plane
    for top, bottom, left, right in chroma:
        u[top:bottom, left:right] = CHROMA_NEUTRAL
        v[top:bottom, left:right] = CHROMA_NEUTRAL


def frame_step(max_fps: float | None) -> float:
    """Smallest wall-time step between two kept frames (0: keep every frame)."""
    if max_fps is None:
        return 0.0
    if not (math.isfinite(max_fps) and max_fps >= 5):
        raise ValueError("clips keep at least 5 frames per second")
    return 1.0 / max_fps
