"""Turning a stored frame upright: EXIF Orientation as transforms, in pixels and losslessly.

EXIF Orientation (TIFF 6.0, tag 0x0112) names where the stored rows and columns belong:
1 upright, 2 mirrored, 3 upside down, 4 upside down mirrored, 5 transposed, 6 turned a
quarter left (shown rotated 90 degrees clockwise), 7 transversed, 8 turned a quarter right.
libjpeg-turbo can apply each of these to the DCT coefficients without decoding (`Xop`); that
is exact only when the edges it moves hold whole MCUs ("perfect"), otherwise it leaves the
partial edge blocks where they were. `lossless_op` says when the lossless route is exact.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from .turbo import Xop


class Orientation(IntEnum):
    UPRIGHT = 1
    MIRRORED = 2
    ROTATED_180 = 3
    FLIPPED = 4
    TRANSPOSED = 5
    ROTATED_90_CW = 6
    TRANSVERSED = 7
    ROTATED_270_CW = 8


UPRIGHT_OP: Final = {
    Orientation.UPRIGHT: Xop.NONE,
    Orientation.MIRRORED: Xop.HFLIP,
    Orientation.ROTATED_180: Xop.ROT180,
    Orientation.FLIPPED: Xop.VFLIP,
    Orientation.TRANSPOSED: Xop.TRANSPOSE,
    Orientation.ROTATED_90_CW: Xop.ROT90,
    Orientation.TRANSVERSED: Xop.TRANSVERSE,
    Orientation.ROTATED_270_CW: Xop.ROT270,
}

# Which stored edges an operation moves to the far side (libjpeg-turbo's transupp rules):
# a partial MCU column on the right must not move for these ...
_MOVES_RIGHT_EDGE: Final = frozenset({Xop.HFLIP, Xop.ROT180, Xop.TRANSVERSE, Xop.ROT270})
# ... and a partial MCU row at the bottom must not move for these.
_MOVES_BOTTOM_EDGE: Final = frozenset({Xop.VFLIP, Xop.ROT180, Xop.TRANSVERSE, Xop.ROT90})


def transposes(orientation: Orientation) -> bool:
    """Rows become columns (the upright frame is height x width of the stored one)."""
    return orientation >= Orientation.TRANSPOSED


def upright_size(orientation: Orientation, width: int, height: int) -> tuple[int, int]:
    return (height, width) if transposes(orientation) else (width, height)


def lossless_op(
    orientation: Orientation, width: int, height: int, mcu_width: int, mcu_height: int
) -> Xop | None:
    """The transform op that turns the stored frame upright exactly, or None if none can.

    `mcu_*` are the stored frame's iMCU size in pixels.
    """
    op = UPRIGHT_OP[orientation]
    if op in _MOVES_RIGHT_EDGE and width % mcu_width:
        return None
    if op in _MOVES_BOTTOM_EDGE and height % mcu_height:
        return None
    return op


def upright_pixels[T: np.generic](
    pixels: npt.NDArray[T], orientation: Orientation
) -> npt.NDArray[T]:
    """A view of `pixels` (rows x cols [x channels]) as the viewer shows it."""
    flipped = pixels
    if orientation in _REVERSE_ROWS:
        flipped = flipped[::-1]
    if orientation in _REVERSE_COLUMNS:
        flipped = flipped[:, ::-1]
    return flipped.swapaxes(0, 1) if transposes(orientation) else flipped


# The stored rows and columns each orientation reverses before (for 5-8) swapping the axes.
_REVERSE_ROWS: Final = frozenset(
    {
        Orientation.ROTATED_180,
        Orientation.FLIPPED,
        Orientation.ROTATED_90_CW,
        Orientation.TRANSVERSED,
    }
)
_REVERSE_COLUMNS: Final = frozenset(
    {
        Orientation.MIRRORED,
        Orientation.ROTATED_180,
        Orientation.TRANSVERSED,
        Orientation.ROTATED_270_CW,
    }
)
