"""EXIF orientation: stills leave upright, masks apply where the owner sees them (PROTOCOL 1)."""

from __future__ import annotations

import numpy as np
import pytest

from rtcc_hub.imaging import ImageError, ImageProcessor, OutputSpec, Polygon
from rtcc_hub.imaging.plan import Route

from .jpegs import (
    SECRET,
    coefficients,
    decode_rgb,
    encode_frame,
    exif_orientation_segment,
    inside_nonzero,
    metadata_markers,
    size,
    splice_after_soi,
    stored_for,
)

# The upright scene: a bright left half with a red marker in the top-left corner, so that
# every mirror and rotation is told apart.
TOP_LEFT: Polygon = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))
# TJXOP per orientation (the lossless op that turns the stored frame upright).
OPS = {1: 0, 2: 1, 3: 6, 4: 2, 5: 3, 6: 5, 7: 4, 8: 7}


def upright_scene(width: int, height: int) -> np.ndarray:
    rgb = np.full((height, width, 3), 60, dtype=np.uint8)
    rgb[:, : width // 2] = 200
    rgb[: height // 4, : width // 4] = (220, 30, 30)
    rgb[height // 2 :, width // 2 :] = (30, 30, 220)
    return rgb


def oriented_jpeg(
    width: int, height: int, orientation: int, fmt: str = "420", **kw: object
) -> bytes:
    stored = stored_for(upright_scene(width, height), orientation)
    jpeg = encode_frame(stored, fmt, quality=95, **kw)  # type: ignore[arg-type]
    return splice_after_soi(
        jpeg, exif_orientation_segment(orientation, big_endian=orientation % 2 == 0)
    )


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(
    ("width", "height"), [(320, 192), (330, 250)], ids=["whole-mcus", "partial-mcus"]
)
def test_upright_and_masked_where_the_owner_sees_it(
    processor: ImageProcessor, orientation: int, width: int, height: int
) -> None:
    source = oriented_jpeg(width, height, orientation)
    spec = OutputSpec(masks=(TOP_LEFT,))
    out = processor.process(source, spec)

    assert size(out) == (width, height)
    assert metadata_markers(out) == []
    assert SECRET not in out
    decoded = decode_rgb(out).astype(int)
    expected = upright_scene(width, height).astype(int)
    masked = inside_nonzero(TOP_LEFT, width, height)
    assert int(decoded[masked].max()) <= 2  # the owner's top-left quarter is black
    visible = np.ones_like(masked)
    visible[: height // 2 + 24, : width // 2 + 24] = False
    edges = np.zeros_like(masked)
    edges[height // 2 - 4 : height // 2 + 4] = edges[:, width // 2 - 4 : width // 2 + 4] = True
    assert np.abs(decoded[visible & ~edges] - expected[visible & ~edges]).mean() < 3

    # libjpeg-turbo can only move whole MCUs: a partial right column must stay for 2, 3, 7
    # and 8, a partial bottom row for 3, 4, 6 and 7 (else the pixel route turns the frame).
    exact = not (orientation in (2, 3, 7, 8) and width % 16) and not (
        orientation in (3, 4, 6, 7) and height % 16
    )
    assert processor.route(source, spec) == (Route.LOSSLESS if exact else Route.PIXELS)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_lossless_turn_keeps_the_camera_coefficients(
    processor: ImageProcessor, orientation: int
) -> None:
    """Unmasked, the output's coefficients are the camera's, turned by libjpeg-turbo's op."""
    source = oriented_jpeg(320, 192, orientation, "422")
    out = processor.process(source, OutputSpec())
    for turned, after in zip(
        coefficients(source, OPS[orientation]), coefficients(out), strict=True
    ):
        np.testing.assert_array_equal(turned, after)


@pytest.mark.parametrize("orientation", [3, 6])
def test_scaled_frames_are_turned_too(processor: ImageProcessor, orientation: int) -> None:
    source = oriented_jpeg(640, 384, orientation)
    out = processor.process(source, OutputSpec(masks=(TOP_LEFT,), max_width=320))
    assert size(out) == (320, 192)
    decoded = decode_rgb(out).astype(int)
    assert int(decoded[:90, :150].max()) <= 2
    assert np.abs(decoded[130:, 200:] - (30, 30, 220)).mean() < 6  # bottom right is blue


@pytest.mark.parametrize("fmt", ["gray", "444", "411"])
def test_other_layouts(processor: ImageProcessor, fmt: str) -> None:
    for orientation in (5, 6, 8):
        out = processor.process(
            oriented_jpeg(256, 128, orientation, fmt), OutputSpec(masks=(TOP_LEFT,))
        )
        assert size(out) == (256, 128)
        assert int(decode_rgb(out)[:60, :120].max()) <= 2


@pytest.mark.parametrize("value", [0, 9, 0xFFFF])
def test_unusable_orientation_values_are_ignored_like_viewers_do(
    processor: ImageProcessor, value: int
) -> None:
    plain = encode_frame(upright_scene(64, 64), "420")
    source = splice_after_soi(plain, exif_orientation_segment(value))
    out = processor.process(source, OutputSpec())
    np.testing.assert_array_equal(decode_rgb(out), decode_rgb(plain))


def test_disagreeing_exif_segments_are_refused(processor: ImageProcessor) -> None:
    plain = encode_frame(upright_scene(64, 64), "420")
    source = splice_after_soi(plain, exif_orientation_segment(1), exif_orientation_segment(6))
    with pytest.raises(ImageError, match="orientation"):
        processor.process(source, OutputSpec())
    same = splice_after_soi(plain, exif_orientation_segment(6), exif_orientation_segment(6))
    assert size(processor.process(same, OutputSpec())) == (64, 64)


def test_malformed_exif_is_ignored(processor: ImageProcessor) -> None:
    plain = encode_frame(upright_scene(64, 64), "420")
    good = exif_orientation_segment(6)
    for bad in (
        good[:20],
        good[:4] + b"Exif\x00\x00XX" + good[12:],
        good[:18] + b"\xff\xff\xff\xff" + good[22:],
    ):
        fixed = bad[:2] + (len(bad) - 2).to_bytes(2, "big") + bad[4:]
        out = processor.process(splice_after_soi(plain, fixed), OutputSpec())
        np.testing.assert_array_equal(decode_rgb(out), decode_rgb(plain))
