"""The lossless route: `tj3Transform` with TJXOPT_COPYNONE and the native mask filter.

libjpeg-turbo entropy-decodes the camera's coefficients, turns them upright if the EXIF
orientation asks for it, hands every row of blocks to the filter, and entropy-codes them
again with its own tables. Nothing of the input's byte stream survives: no marker segment
(COPYNONE), no Huffman table, no fill byte, no restart marker, nothing hidden in a scan.
What does survive is every coefficient outside the masked MCUs, so a decode of the output
equals a decode of the camera frame there.

Masks grow to whole MCUs of the transformed frame (the camera's MCUs, turned upright): in
every masked MCU all luma blocks become black (DC only) and the chroma blocks neutral, so
no component keeps anything of the masked content. A decoder that interpolates chroma
("fancy upsampling") still blends the neighbouring, unmasked chroma into the outermost pixel
of a mask: a tint of the colour outside, never the content inside (docs/DESIGN.md has the
measured size).
"""

from __future__ import annotations

import ctypes
from typing import Final

import numpy as np

from ..maskgeom import Polygon, cached_block_mask
from .jpegfile import JpegFile
from .native import Native
from .plan import Plan, blocks_per_mcu, fill_dc, transformed_mcu
from .spec import ImageError
from .turbo import XOPT_COPYNONE, XOPT_PERFECT, Handle, Region, Transform

# JFIF header as libjpeg-turbo writes it, but with our density: the camera's density fields
# are copied by jpeg_copy_critical_parameters and are camera bytes like any other.
CANONICAL_JFIF: Final = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_JFIF_PREFIX: Final = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def transform(
    handle: Handle, native: Native, frame: JpegFile, plan: Plan, masks: tuple[Polygon, ...]
) -> bytes:
    options = XOPT_COPYNONE | XOPT_PERFECT  # PERFECT: libjpeg-turbo re-checks `lossless_op`
    spec = Transform(r=Region(0, 0, 0, 0), op=plan.op, options=options)
    mcu_w, mcu_h = transformed_mcu(frame, plan.orientation)
    grid = cached_block_mask(masks, plan.width, plan.height, mcu_w, mcu_h) if masks else None
    # `bitmap` (and the cells it points to) must live until tj3Transform returns.
    bitmap = None
    if grid is not None and grid.any():
        bitmap = native.bitmap(grid, blocks_per_mcu(frame, plan.orientation), fill_dc(frame))
        spec.data = ctypes.addressof(bitmap.struct)
        spec.custom_filter = native.address
    out = handle.transform(
        frame.data, spec, handle.jpeg_buf_size(plan.width, plan.height, plan.subsample)
    )
    if bitmap is not None and bitmap.struct.blocks_masked == 0:
        raise ImageError("the mask filter did not run")  # never share an unmasked frame
    if out[: len(_JFIF_PREFIX)].tobytes() == _JFIF_PREFIX:
        out[2 : 2 + len(CANONICAL_JFIF)] = np.frombuffer(CANONICAL_JFIF, dtype=np.uint8)
    return out.tobytes()
