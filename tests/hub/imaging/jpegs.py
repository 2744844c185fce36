"""The imaging tests' JPEG builders live in tests/support/jpeg.py; this keeps short imports."""

from __future__ import annotations

import os

import turbojpeg as tj

from tests.support.jpeg import (
    COMMENT,
    EXIF_GPS,
    SECRET,
    SUBSAMPLINGS,
    U8,
    coefficients,
    decode_planes,
    decode_rgb,
    encode_frame,
    exif_orientation_segment,
    grown_mask,
    inside_nonzero,
    make_frame,
    markers,
    metadata_markers,
    picture,
    segment,
    size,
    splice_after_soi,
    stored_for,
    with_metadata,
    with_unused_tables,
)

CODEC = tj.TurboJPEG(lib_path=os.environ.get("RTCC_TURBOJPEG_LIB") or None)


def encode(
    rgb: U8, subsample: str = "420", *, quality: int = 92, progressive: bool = False
) -> bytes:
    return encode_frame(rgb, subsample, quality=quality, progressive=progressive)


def make_jpeg(width: int, height: int, subsample: str = "420", **kwargs: object) -> bytes:
    return make_frame(width, height, subsample, **kwargs)


def jfif_with_thumbnail() -> bytes:
    """APP0 JFIF carrying a 2x1 RGB thumbnail (6 bytes of pixels)."""
    return segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x02\x01" + b"\xff\x00\x00" * 2)


__all__ = [
    "CODEC",
    "COMMENT",
    "EXIF_GPS",
    "SECRET",
    "SUBSAMPLINGS",
    "coefficients",
    "decode_planes",
    "decode_rgb",
    "encode",
    "exif_orientation_segment",
    "grown_mask",
    "inside_nonzero",
    "jfif_with_thumbnail",
    "make_jpeg",
    "markers",
    "metadata_markers",
    "picture",
    "segment",
    "size",
    "splice_after_soi",
    "stored_for",
    "with_metadata",
    "with_unused_tables",
]
