"""Which path a frame takes: a pure decision on what its header says and what the spec asks.

- `Route.LOSSLESS`: no scaling needed, YCbCr or greyscale with a known subsampling, and an
  orientation libjpeg-turbo can undo exactly: `tj3Transform` re-serialises the camera's own
  DCT coefficients (turned upright if needed), the native filter blacking out masked MCUs.
  Bit-identical to the camera outside the masks, and about twice as fast as a decode.
- `Route.PLANES`: scaling needed, upright YCbCr or greyscale: libjpeg-turbo's scaled decode
  into YUV planes (no colour conversion), a small resample, masks painted, encoded again.
- `Route.PIXELS`: everything else libjpeg-turbo can decode (RGB-coded, unusual subsampling, an
  orientation that needs moving partial edge MCUs, or a luma quantiser too coarse to reach
  black in the DCT domain): decoded to pixels, turned upright, resampled, painted, encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .jpegfile import JpegFile
from .orientation import Orientation, lossless_op, transposes, upright_size
from .resize import target_size
from .turbo import TRANSPOSED, Colorspace, Header, Samp, Xop

# A block whose DC is -1024 decodes to black (the level shift is 128 and the DC gain 8). With
# a DC step above 1024 the nearest quantised value could overshoot into the range where
# decoders wrap around; such a frame is masked in pixels instead.
BLACK_DC: Final = -1024
_MAX_DC_STEP: Final = -BLACK_DC
_DCT_COLORSPACES: Final = {Colorspace.YCBCR: 3, Colorspace.GRAY: 1}


class Route(StrEnum):
    LOSSLESS = "lossless"
    PLANES = "planes"
    PIXELS = "pixels"


@dataclass(frozen=True, slots=True)
class Plan:
    route: Route
    orientation: Orientation
    width: int  # output (upright, scaled) size
    height: int
    op: Xop = Xop.NONE  # lossless route: the transform that turns the frame upright
    subsample: Samp = Samp.S444  # output subsampling (lossless: of the transformed frame)


def plan(frame: JpegFile, header: Header, max_width: int | None) -> Plan:
    orientation = Orientation(frame.orientation)
    upright = upright_size(orientation, header.width, header.height)
    width, height = target_size(*upright, max_width)
    dct_friendly = (
        _DCT_COLORSPACES.get(header.colorspace) == len(frame.components)
        and header.subsample != Samp.UNKNOWN
    )
    if dct_friendly and (width, height) == upright:
        mcu_w, mcu_h = stored_mcu(frame)
        op = lossless_op(orientation, header.width, header.height, mcu_w, mcu_h)
        if op is not None and 1 <= frame.dc_steps[0] <= _MAX_DC_STEP:
            subsample = (
                TRANSPOSED[header.subsample] if transposes(orientation) else header.subsample
            )
            return Plan(Route.LOSSLESS, orientation, width, height, op, subsample)
    if dct_friendly and orientation == Orientation.UPRIGHT:
        return Plan(Route.PLANES, orientation, width, height, subsample=header.subsample)
    if header.colorspace == Colorspace.GRAY:
        subsample = Samp.GRAY
    elif not dct_friendly:
        subsample = Samp.S444  # no chroma shared between masked and unmasked pixels
    else:
        subsample = TRANSPOSED[header.subsample] if transposes(orientation) else header.subsample
    return Plan(Route.PIXELS, orientation, width, height, subsample=subsample)


def fill_dc(frame: JpegFile) -> tuple[int, ...]:
    """Quantised DC per component of a black block: luma (or grey) black, chroma neutral."""
    step = frame.dc_steps[0]
    return (BLACK_DC // step, *(0 for _ in frame.components[1:]))


def stored_mcu(frame: JpegFile) -> tuple[int, int]:
    """The stored frame's MCU in pixels, from its own sampling factors.

    Not from libjpeg-turbo's subsampling name: it calls 2x2/2x2/2x2 "4:4:4" and 2x2/1x2/1x2
    "4:2:2", whose MCUs are 16x16 all the same.
    """
    if len(frame.components) == 1:
        return 8, 8  # a single component is coded in 8x8 MCUs whatever its factors say
    return 8 * max(c.h for c in frame.components), 8 * max(c.v for c in frame.components)


def transformed_mcu(frame: JpegFile, orientation: Orientation) -> tuple[int, int]:
    width, height = stored_mcu(frame)
    return (height, width) if transposes(orientation) else (width, height)


def blocks_per_mcu(frame: JpegFile, orientation: Orientation) -> tuple[tuple[int, int], ...]:
    """(across, down) DCT blocks of each component in one MCU of the transformed frame."""
    if len(frame.components) == 1:
        return ((1, 1),)
    factors = tuple((c.h, c.v) for c in frame.components)
    return tuple((v, h) for h, v in factors) if transposes(orientation) else factors
