"""Masks: everything inside a polygon decodes to black; the rest is left alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcc_hub.imaging import ImageError, ImageProcessor, OutputSpec, Polygon

from .jpegs import decode_planes, decode_rgb, encode, inside_nonzero, make_jpeg, picture, size

SQUARE: Polygon = ((0.25, 0.25), (0.5, 0.25), (0.5, 0.75), (0.25, 0.75))
FORMATS = ["444", "422", "420", "440", "411", "441", "gray"]
# Masked blocks are constant, so JPEG reproduces them almost exactly: Y off by a DC rounding.
MAX_MASKED_Y = 2
MAX_MASKED_CHROMA_OFFSET = 2
# An RGB decoder interpolates chroma from the neighbouring (unmasked) sample at a mask's
# border: a trace of the outside colour, never of the masked content. On the lossless route
# (unscaled frames) that is up to 7/16 of the outside chroma in the outermost pixel: at most
# 99 levels in one channel (docs/DESIGN.md, "Imaging"; measured in test_lossless.py).
MAX_MASKED_RGB_BORDER = 99


def assert_black(jpeg: bytes, pixels: np.ndarray) -> None:
    """`pixels` (bool, image size) decode to Y ~ 0 and neutral chroma, in planes and RGB."""
    planes = decode_planes(jpeg)
    rows, cols = np.nonzero(pixels)
    assert int(planes[0][rows, cols].max(initial=0)) <= MAX_MASKED_Y
    if len(planes) == 3:
        v_factor = planes[0].shape[0] // planes[1].shape[0]
        h_factor = planes[0].shape[1] // planes[1].shape[1]
        for chroma in planes[1:]:
            samples = chroma[rows // v_factor, cols // h_factor].astype(int)
            assert int(np.abs(samples - 128).max(initial=0)) <= MAX_MASKED_CHROMA_OFFSET
    rgb = decode_rgb(jpeg)
    assert int(rgb[rows, cols].max(initial=0)) <= MAX_MASKED_RGB_BORDER


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("progressive", [False, True])
def test_square_is_black_and_the_rest_unchanged(
    processor: ImageProcessor, fmt: str, progressive: bool
) -> None:
    width, height = 320, 240
    source = make_jpeg(width, height, fmt, progressive=progressive)
    out = processor.process(source, OutputSpec(masks=(SQUARE,)))

    assert size(out) == (width, height)
    inside = inside_nonzero(SQUARE, width, height)
    assert_black(out, inside)
    interior = np.zeros_like(inside)
    interior[70:170, 90:150] = True
    assert int(decode_rgb(out)[interior].max()) <= 2  # no border effects well inside

    # Two MCUs (4:1:1 has 32 px wide ones) away from the mask only generation loss changed.
    far = np.ones_like(inside)
    far[60 - 32 : 180 + 32, 80 - 64 : 160 + 64] = False
    before = decode_rgb(source)[far].astype(int)
    after = decode_rgb(out)[far].astype(int)
    assert np.abs(before - after).mean() < 2.5
    assert np.abs(before - after).max() < 40


def test_pixels_touched_by_a_sliver_are_covered(processor: ImageProcessor) -> None:
    """Polygon area inside a pixel but no pixel centre inside: the pixel is still black."""
    width, height = 200, 100
    sliver: Polygon = ((0.1, 0.401), (0.9, 0.401), (0.9, 0.4015), (0.1, 0.4015))  # y in 40.1..40.15
    out = processor.process(make_jpeg(width, height), OutputSpec(masks=(sliver,)))
    touched = np.zeros((height, width), dtype=bool)
    touched[40, 20:180] = True
    assert_black(out, touched)


@pytest.mark.parametrize(
    ("polygon", "pixel"),
    [
        (((0.5, 0.5),), (50, 100)),  # a point covers its block
        (((0.1, 0.2), (0.9, 0.2)), (20, 50)),  # a line covers what it crosses
        (((0.2, 0.2), (0.4, 0.4), (0.6, 0.6)), (60, 120)),  # collinear
    ],
)
def test_degenerate_polygons_cover_what_they_touch(
    processor: ImageProcessor, polygon: Polygon, pixel: tuple[int, int]
) -> None:
    out = processor.process(make_jpeg(200, 100), OutputSpec(masks=(polygon,)))
    touched = np.zeros((100, 200), dtype=bool)
    touched[pixel] = True
    assert_black(out, touched)


def test_self_intersecting_polygon_both_lobes_and_overlap_covered(
    processor: ImageProcessor,
) -> None:
    """A bow tie and a doubly wound star: nonzero winding fills what even-odd leaves open."""
    bow_tie: Polygon = ((0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9))
    star: Polygon = tuple(
        (0.5 + 0.4 * np.cos(4 * np.pi * k / 5), 0.5 + 0.4 * np.sin(4 * np.pi * k / 5))
        for k in range(5)
    )
    for polygon in (bow_tie, star):
        out = processor.process(make_jpeg(240, 240), OutputSpec(masks=(polygon,)))
        assert_black(out, inside_nonzero(polygon, 240, 240))
    centre = np.zeros((240, 240), dtype=bool)
    centre[110:130, 110:130] = True  # the pentagon even-odd would leave uncovered
    assert_black(out, centre)


def test_several_polygons_and_coordinates_beyond_the_frame(processor: ImageProcessor) -> None:
    masks: tuple[Polygon, ...] = (
        ((-0.5, -0.5), (0.2, -0.5), (0.2, 0.2), (-0.5, 0.2)),
        ((0.7, 0.7), (1.5, 0.7), (1.5, 1.5), (0.7, 1.5)),
    )
    out = processor.process(make_jpeg(300, 200), OutputSpec(masks=masks))
    covered = inside_nonzero(masks[0], 300, 200) | inside_nonzero(masks[1], 300, 200)
    assert covered[0, 0] and covered[-1, -1]
    assert_black(out, covered)


def test_whole_frame_mask_leaves_nothing(processor: ImageProcessor) -> None:
    everything: Polygon = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    out = processor.process(make_jpeg(123, 77, "422"), OutputSpec(masks=(everything,)))
    assert int(decode_rgb(out).max()) <= 2


@pytest.mark.parametrize(
    "masks",
    [
        ((),),  # a polygon without points
        (((0.1, float("nan")), (0.5, 0.5), (0.2, 0.9)),),
        (((0.1, float("inf")), (0.5, 0.5), (0.2, 0.9)),),
        (((0.1, 1e300), (0.5, 0.5), (0.2, 0.9)),),
        (((0.1,), (0.5, 0.5), (0.2, 0.9)),),
        (("ab", (0.5, 0.5), (0.2, 0.9)),),
    ],
)
def test_malformed_masks_share_nothing(processor: ImageProcessor, masks: object) -> None:
    with pytest.raises(ImageError):
        processor.process(make_jpeg(64, 64), OutputSpec(masks=masks))  # type: ignore[arg-type]


coordinate = st.floats(-0.3, 1.3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    polygon=st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=9).map(tuple),
    width=st.integers(9, 160),
    height=st.integers(9, 160),
    fmt=st.sampled_from(FORMATS),
    max_width=st.none() | st.integers(8, 160),
    seed=st.integers(0, 3),
)
def test_every_pixel_a_random_polygon_covers_or_touches_is_black(
    polygon: Polygon, width: int, height: int, fmt: str, max_width: int | None, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    noisy = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    source = encode(noisy if seed % 2 else picture(width, height, seed), fmt)
    proc = ImageProcessor(workers=1)
    try:
        out = proc.process(source, OutputSpec(masks=(polygon,), max_width=max_width))
    finally:
        proc.close()
    out_width, out_height = size(out)
    assert_black(out, inside_nonzero(polygon, out_width, out_height))
    assert_black(out, touched_by_edges(polygon, out_width, out_height))


def touched_by_edges(polygon: Polygon, width: int, height: int) -> np.ndarray:
    """Pixels containing a point of the outline (sampled densely, vertices included)."""
    touched = np.zeros((height, width), dtype=bool)
    points = np.array(polygon, dtype=np.float64)
    ends = np.roll(points, -1, axis=0)
    steps = np.linspace(0.0, 1.0, 4 * (width + height))[:, None, None]
    samples = (points + steps * (ends - points)).reshape(-1, 2)
    cols = np.floor(samples[:, 0] * width).astype(int)
    rows = np.floor(samples[:, 1] * height).astype(int)
    visible = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    touched[rows[visible], cols[visible]] = True
    return touched
