"""Scaling: width limited, aspect kept, never upscaled; unscaled frames keep their coefficients."""

from __future__ import annotations

import numpy as np
import pytest

from rtcc_hub.imaging import ImageProcessor, OutputSpec

from .jpegs import (
    coefficients,
    decode_rgb,
    encode,
    make_jpeg,
    markers,
    metadata_markers,
    size,
    with_metadata,
)

ALLOWED_MARKERS = {0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xDA, 0xD9, 0xDD}


@pytest.mark.parametrize(
    ("source_size", "max_width", "expected"),
    [
        ((1920, 1080), 1280, (1280, 720)),
        ((1920, 1080), 960, (960, 540)),
        ((1001, 333), 500, (500, 166)),
        ((4000, 3000), 1000, (1000, 750)),
        ((640, 480), 639, (639, 479)),
        ((640, 480), 17, (17, 13)),
        ((300, 2000), 100, (100, 667)),
    ],
)
def test_width_limited_and_aspect_kept(
    processor: ImageProcessor,
    source_size: tuple[int, int],
    max_width: int,
    expected: tuple[int, int],
) -> None:
    source = make_jpeg(*source_size, quality=75)
    out = processor.process(source, OutputSpec(max_width=max_width))
    assert size(out) == expected
    width, height = source_size
    assert abs(expected[1] / expected[0] - height / width) <= 1 / expected[0]


@pytest.mark.parametrize("fmt", ["444", "422", "420", "440", "411", "441", "gray"])
def test_scaled_picture_matches_the_source(processor: ImageProcessor, fmt: str) -> None:
    """Left half white, right half black: the edge stays in the middle; colours survive."""
    rgb = np.zeros((600, 1000, 3), dtype=np.uint8)
    rgb[:, :500] = (230, 180, 40)
    out = processor.process(encode(rgb, fmt), OutputSpec(max_width=333))
    decoded = decode_rgb(out).astype(int)
    assert size(out) == (333, 200)
    left, right = decoded[:, :160], decoded[:, 174:]
    expected = (230, 180, 40) if fmt != "gray" else tuple([int(np.mean((230, 180, 40)))] * 3)
    assert np.abs(left.mean(axis=(0, 1)) - expected).max() < 6
    assert right.max() < 12


def test_never_upscales_and_unscaled_frames_keep_their_coefficients(
    processor: ImageProcessor,
) -> None:
    source = with_metadata(make_jpeg(640, 480))
    for spec in (OutputSpec(), OutputSpec(max_width=640), OutputSpec(max_width=4000)):
        out = processor.process(source, spec)
        assert size(out) == (640, 480)
        assert out != source
        for before, after in zip(coefficients(source), coefficients(out), strict=True):
            np.testing.assert_array_equal(before, after)  # no generation loss


@pytest.mark.parametrize(
    "spec",
    [OutputSpec(), OutputSpec(max_width=320), OutputSpec(masks=(((0, 0), (0.5, 0), (0, 0.5)),))],
    ids=["strip-only", "scaled", "masked"],
)
@pytest.mark.parametrize("progressive", [False, True])
def test_no_metadata_in_any_path(
    processor: ImageProcessor, spec: OutputSpec, progressive: bool
) -> None:
    source = with_metadata(make_jpeg(640, 480, progressive=progressive)) + b"GPS trailer"
    out = processor.process(source, spec)
    assert metadata_markers(out) == []
    assert set(markers(out)) <= ALLOWED_MARKERS  # baseline, whatever the input was
    assert b"32.2988" not in out and b"Jane Doe" not in out


def test_scaled_and_masked_mask_in_output_coordinates(processor: ImageProcessor) -> None:
    right_half = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))
    out = processor.process(make_jpeg(1920, 1080), OutputSpec(masks=(right_half,), max_width=1280))
    decoded = decode_rgb(out)
    assert decoded.shape == (720, 1280, 3)
    assert int(decoded[:, 640:].max()) <= 2
    assert decoded[:, :600].mean() > 60
