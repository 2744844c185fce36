"""The decode routes: frames that need scaling, or that the lossless transform cannot take.

`planes`: the frame is decoded straight into its YUV planes (no colour conversion) with
libjpeg-turbo's (fast) DCT-domain scaling to the smallest size that is still at least the
target, area-resampled to the exact target (`resize`), masked and encoded with the input's
subsampling.
Masks grow to whole MCUs of the *output* JPEG: every painted block is constant (Y = 0,
Cb = Cr = 128), so its DCT has only a DC term and it decodes to black without ringing from
neighbouring content. Chroma is neutralised one chroma sample beyond the painted blocks
because decoders interpolate subsampled chroma from the neighbouring sample; without the
margin the border pixels of a mask could pick up the outside colour. (The margin sample lies
in an unmasked block and is quantised with it, so a trace of a few levels may remain.)

`pixels`: decoded to RGB (or grey), turned upright with numpy, resampled, whole output MCUs
painted black, encoded. Used for RGB-coded frames, unusual subsampling (re-encoded 4:4:4),
and orientations libjpeg-turbo cannot undo without moving partial edge MCUs.

Every buffer comes from the calling thread's `Workspace`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np

from ..maskgeom import Polygon, Rect, block_rects, cached_block_mask
from .native import Native
from .orientation import upright_pixels, upright_size
from .plan import Plan
from .resize import U8, decode_factor, resize_into, scaled
from .turbo import MCU_HEIGHT, MCU_WIDTH, Handle, Header, PixelFormat, Samp
from .workspace import Workspace

_NEUTRAL_CHROMA: Final = 128
_RECT_CACHE: Final = 64


def via_planes(
    handle: Handle,
    *,
    native: Native,
    work: Workspace,
    jpeg: bytes,
    header: Header,
    plan: Plan,
    masks: tuple[Polygon, ...],
    quality: int,
) -> bytes:
    subsample = header.subsample
    target = (plan.width, plan.height)
    factor = decode_factor(header.width, header.height, target, handle.scaling_factors())
    decoded = (scaled(header.width, factor), scaled(header.height, factor))
    planes = _planes(work, "decoded", subsample, *decoded)
    handle.decode_planes(jpeg, factor, planes)
    if decoded != target:
        resized = _planes(work, "resized", subsample, *target)
        for index, (source, out) in enumerate(zip(planes, resized, strict=True)):
            if index == 0:
                # Luma is resampled over the image area only, then its edge is replicated
                # into the padding to whole chroma samples.
                resize_into(
                    source[: decoded[1], : decoded[0]],
                    out[: plan.height, : plan.width],
                    work,
                    native,
                )
                out[: plan.height, plan.width :] = out[: plan.height, plan.width - 1 : plan.width]
                out[plan.height :, :] = out[plan.height - 1 : plan.height, :]
            else:
                resize_into(source, out, work, native)
        planes = resized
    for index, rects in enumerate(_plane_rects(masks, *target, subsample)):
        _paint(planes[index], rects, 0 if index == 0 else _NEUTRAL_CHROMA)
    return handle.encode_planes(planes, plan.width, plan.height, subsample, quality)


def via_pixels(
    handle: Handle,
    *,
    native: Native,
    work: Workspace,
    jpeg: bytes,
    header: Header,
    plan: Plan,
    masks: tuple[Polygon, ...],
    quality: int,
) -> bytes:
    grey = plan.subsample == Samp.GRAY
    pixel_format = PixelFormat.GRAY if grey else PixelFormat.RGB
    channels = 1 if grey else 3
    target = (plan.width, plan.height)
    upright = upright_size(plan.orientation, header.width, header.height)
    factor = decode_factor(*upright, target, handle.scaling_factors())
    stored = (scaled(header.width, factor), scaled(header.height, factor))
    pixels = work.u8("pixels.decoded", (stored[1], stored[0], channels))
    handle.decode_pixels(jpeg, factor, pixels, pixel_format)
    view = upright_pixels(pixels, plan.orientation)
    if view.shape[:2] != (plan.height, plan.width) or view is not pixels:
        out = work.u8("pixels.upright", (plan.height, plan.width, channels))
        if view.shape[:2] == (plan.height, plan.width):
            np.copyto(out, view)
        else:
            resize_into(view, out, work, native)
        pixels = out
    _paint(pixels, _pixel_rects(masks, plan.width, plan.height, plan.subsample), 0)
    return handle.encode_pixels(pixels, pixel_format, plan.subsample, quality)


def _plane_shape(index: int, width: int, height: int, subsample: Samp) -> tuple[int, int]:
    """(rows, cols) of a plane in libjpeg-turbo's YUV layout (luma padded to whole samples)."""
    h_factor = MCU_WIDTH[subsample] // 8
    v_factor = MCU_HEIGHT[subsample] // 8
    cols, rows = -(-width // h_factor), -(-height // v_factor)
    if index == 0:
        return rows * v_factor, cols * h_factor
    return rows, cols


def _planes(work: Workspace, name: str, subsample: Samp, width: int, height: int) -> list[U8]:
    count = 1 if subsample == Samp.GRAY else 3
    return [
        work.u8(f"planes.{name}.{i}", _plane_shape(i, width, height, subsample))
        for i in range(count)
    ]


@lru_cache(maxsize=_RECT_CACHE)
def _pixel_rects(
    masks: tuple[Polygon, ...], width: int, height: int, subsample: Samp
) -> tuple[Rect, ...]:
    """Whole output MCUs to paint black in an interleaved frame."""
    mcu_w, mcu_h = MCU_WIDTH[subsample], MCU_HEIGHT[subsample]
    return block_rects(cached_block_mask(masks, width, height, mcu_w, mcu_h), mcu_w, mcu_h)


@lru_cache(maxsize=_RECT_CACHE)
def _plane_rects(
    masks: tuple[Polygon, ...], width: int, height: int, subsample: Samp
) -> tuple[tuple[Rect, ...], ...]:
    """Rectangles to paint per plane (luma first) of a `width` x `height` output frame.

    Luma rectangles cover whole MCUs; chroma rectangles cover the same MCUs' 8x8 chroma
    blocks plus one sample of margin for the decoder's chroma interpolation.
    """
    mcu_w, mcu_h = MCU_WIDTH[subsample], MCU_HEIGHT[subsample]
    grid = cached_block_mask(masks, width, height, mcu_w, mcu_h)
    luma = block_rects(grid, mcu_w, mcu_h)
    if subsample == Samp.GRAY:
        return (luma,)
    chroma = tuple(
        (max(0, top - 1), bottom + 1, max(0, left - 1), right + 1)
        for top, bottom, left, right in block_rects(grid, 8, 8)
    )
    return (luma, chroma, chroma)


def _paint(plane: U8, rects: tuple[Rect, ...], value: int) -> None:
    for top, bottom, left, right in rects:
        plane[top:bottom, left:right] = value  # numpy clips the far edges to the plane
