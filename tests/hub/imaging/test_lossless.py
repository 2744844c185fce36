"""The lossless route: the camera's own coefficients outside the masked MCUs, black inside.

Coefficients are read independently of the add-on (a Python filter in tj3Transform, see
tests/support/jpeg.py) and compared block by block; decoded planes and RGB are checked too.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtcc_hub.imaging import ImageProcessor, OutputSpec, Polygon
from rtcc_hub.imaging.plan import Route

from .jpegs import coefficients, decode_planes, decode_rgb, encode_frame, grown_mask, picture, size

# (name, MCU width, MCU height, blocks per MCU of the first component)
FORMATS = {
    "444": (8, 8, (1, 1)),
    "422": (16, 8, (2, 1)),
    "420": (16, 16, (2, 2)),
    "440": (8, 16, (1, 2)),
    "411": (32, 8, (4, 1)),
    "441": (8, 32, (1, 4)),
    "gray": (8, 8, (1, 1)),
}
STRUCTURES = {
    "baseline": {},
    "progressive": {"progressive": True},
    "restarts": {"restart_rows": 1},
    "arithmetic": {"arithmetic": True},
}
TRIANGLE: Polygon = ((0.1, 0.15), (0.7, 0.3), (0.3, 0.8))
# Documented border tint (docs/DESIGN.md, "Imaging"): a decoder that interpolates chroma
# blends up to 7/16 of the neighbouring chroma into a mask's outermost pixel; with luma 0
# that is at most 99 levels in one channel (saturated blue), in no other pixel.
MAX_BORDER_TINT = 99


def inner(region: np.ndarray) -> np.ndarray:
    """`region` without its outermost pixels (8-connected: a diagonal neighbour outside
    counts, as chroma interpolation reaches diagonally)."""
    padded = np.pad(region, 1, constant_values=False)
    out = region.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out &= padded[1 + dy : 1 + dy + region.shape[0], 1 + dx : 1 + dx + region.shape[1]]
    return out


def masked_mcus(
    before: list[np.ndarray], after: list[np.ndarray], blocks: tuple[int, int]
) -> np.ndarray:
    """MCUs (rows, cols) whose luma blocks changed; checks every other block is identical."""
    h_blocks, v_blocks = blocks
    luma_before, luma_after = before[0], after[0]
    changed = (luma_before != luma_after).any(axis=2)
    rows, cols = -(-changed.shape[0] // v_blocks), -(-changed.shape[1] // h_blocks)
    padded = np.zeros((rows * v_blocks, cols * h_blocks), dtype=bool)
    padded[: changed.shape[0], : changed.shape[1]] = changed
    return padded.reshape(rows, v_blocks, cols, h_blocks).any(axis=(1, 3))


def check_coefficients(
    source: bytes,
    out: bytes,
    blocks: tuple[int, int],
    masks: tuple[Polygon, ...],
    mcu: tuple[int, int],
) -> np.ndarray:
    """Outside the masked MCUs every coefficient equals the camera's; inside, AC 0 and one
    DC per component (black luma, neutral chroma). Returns the masked MCU grid."""
    before, after = coefficients(source), coefficients(out)
    assert [a.shape for a in after] == [b.shape for b in before]
    mcus = masked_mcus(before, after, blocks)
    for index, (b, a) in enumerate(zip(before, after, strict=True)):
        h, v = blocks if index == 0 else (1, 1)
        cell = np.repeat(np.repeat(mcus, v, axis=0), h, axis=1)[: a.shape[0], : a.shape[1]]
        np.testing.assert_array_equal(a[~cell], b[~cell])
        if cell.any():
            assert not a[cell][:, 1:].any(), "AC left in a masked block"
            dcs = set(a[cell][:, 0].tolist())
            assert len(dcs) == 1
            assert (dcs.pop() < 0) if index == 0 else (a[cell][:, 0] == 0).all()
    # Every MCU holding a pixel centre inside a polygon is masked (never shrunk) ...
    width, height = size(source)
    need = grown_mask(masks, width, height, *mcu)[:: mcu[1], :: mcu[0]]
    assert not (need & ~mcus[: need.shape[0], : need.shape[1]]).any(), "a mask shrank"
    return mcus


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_outside_the_mask_the_camera_coefficients_survive(
    processor: ImageProcessor, fmt: str, structure: str
) -> None:
    mcu_w, mcu_h, blocks = FORMATS[fmt]
    width, height = 320, 240
    source = encode_frame(picture(width, height), fmt, **STRUCTURES[structure])  # type: ignore[arg-type]
    spec = OutputSpec(masks=(TRIANGLE,))
    assert processor.route(source, spec) == Route.LOSSLESS
    out = processor.process(source, spec)
    mcus = check_coefficients(source, out, blocks, spec.masks, (mcu_w, mcu_h))
    # ... and no MCU beyond those the triangle's bounding box touches (an edge exactly on an
    # MCU boundary touches the MCUs on both sides).
    left, top = int((0.1 * width - 1e-6) // mcu_w), int((0.15 * height - 1e-6) // mcu_h)
    right, bottom = int((0.7 * width) // mcu_w), int((0.8 * height) // mcu_h)
    outside_box = np.ones_like(mcus)
    outside_box[top : bottom + 1, left : right + 1] = False
    assert not (mcus & outside_box).any()

    # Decoded: identical planes outside, black inside (exactly, beyond the border tint).
    pixels = np.repeat(np.repeat(mcus, mcu_h, axis=0), mcu_w, axis=1)[:height, :width]
    planes_in, planes_out = decode_planes(source), decode_planes(out)
    np.testing.assert_array_equal(
        planes_out[0][:height, :width][~pixels], planes_in[0][:height, :width][~pixels]
    )
    assert int(planes_out[0][:height, :width][pixels].max()) == 0
    for chroma_in, chroma_out in zip(planes_in[1:], planes_out[1:], strict=True):
        cells = np.repeat(np.repeat(mcus, 8, axis=0), 8, axis=1)[
            : chroma_in.shape[0], : chroma_in.shape[1]
        ]
        np.testing.assert_array_equal(chroma_out[~cells], chroma_in[~cells])
        assert set(np.unique(chroma_out[cells]).tolist()) == {128}
    rgb = decode_rgb(out)
    assert int(rgb[inner(pixels)].max(initial=0)) == 0
    assert int(rgb[pixels].max()) <= MAX_BORDER_TINT


@pytest.mark.parametrize("fmt", ["420", "422", "440"])
def test_border_tint_is_bounded_and_only_colour(processor: ImageProcessor, fmt: str) -> None:
    """Worst case: saturated blue around the mask. Only the outermost pixel is tinted."""
    rgb = np.zeros((256, 256, 3), dtype=np.uint8)
    rgb[:] = (0, 0, 255)
    source = encode_frame(rgb, fmt, quality=95)
    out = processor.process(
        source, OutputSpec(masks=(((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)),))
    )
    luma = decode_planes(out)[0]
    masked = luma == 0
    decoded = decode_rgb(out).astype(int)
    assert int(decoded[masked].max()) <= MAX_BORDER_TINT
    assert int(decoded[masked][:, :2].max()) <= 1  # red and green stay black: colour only
    assert int(decoded[inner(masked)].max()) == 0


@pytest.mark.parametrize(
    ("width", "height", "fmt"),
    [
        (1, 1, "420"),
        (1, 1, "gray"),
        (17, 9, "420"),
        (17, 9, "444"),
        (8193, 16, "420"),
        (33, 47, "411"),
    ],
)
def test_odd_sizes(processor: ImageProcessor, width: int, height: int, fmt: str) -> None:
    mcu_w, mcu_h, blocks = FORMATS[fmt]
    source = encode_frame(picture(width, height), fmt)
    everything: Polygon = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    corner: Polygon = ((0.9, 0.9), (1.0, 0.9), (1.0, 1.0))
    for masks in ((everything,), (corner,)):
        spec = OutputSpec(masks=masks)
        assert processor.route(source, spec) == Route.LOSSLESS
        out = processor.process(source, spec)
        assert size(out) == (width, height)
        mcus = check_coefficients(source, out, blocks, masks, (mcu_w, mcu_h))
        if masks == (everything,):
            assert mcus.all()
            assert int(decode_planes(out)[0].max()) == 0


def test_unmasked_frames_are_reserialised_not_copied(processor: ImageProcessor) -> None:
    source = encode_frame(picture(320, 240), "420", restart_rows=1)
    out = processor.process(source, OutputSpec())
    assert out != source
    assert b"\xff\xd0" not in out  # no restart markers: libjpeg-turbo wrote the scan anew
    for before, after in zip(coefficients(source), coefficients(out), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(decode_rgb(out), decode_rgb(source))


def test_coarse_luma_quantiser_is_masked_after_decoding(processor: ImageProcessor) -> None:
    """With a DC step above 1024 no quantised DC is safely black: a decode route is used."""
    source = bytearray(encode_frame(picture(64, 64), "420", quality=50))
    dqt = source.index(b"\xff\xdb")
    assert source[dqt + 4] == 0x00  # 8-bit table 0
    source[dqt + 4] = 0x10  # 16-bit precision: rewrite table 0 with a huge DC step
    table = bytes(source[dqt + 5 : dqt + 69])
    wide = b"".join(b"\x00" + bytes([v]) for v in table)
    wide = b"\x08\x00" + wide[2:]  # DC step 2048
    length = 2 + 1 + 128
    patched = (
        bytes(source[:dqt])
        + b"\xff\xdb"
        + length.to_bytes(2, "big")
        + b"\x10"
        + wide
        + bytes(source[dqt + 69 :])
    )
    spec = OutputSpec(masks=(TRIANGLE,))
    assert processor.route(patched, spec) == Route.PLANES
    out = processor.process(patched, spec)
    assert size(out) == (64, 64)
