"""The demo's synthetic pictures: the mask really covers the neighbour's window, the clock ticks.

No processes here; these guard the assumptions test_demo.py's image checks rest on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import demo_scene


def _mask_box() -> tuple[float, float, float, float]:
    xs = [p[0] for p in demo_scene.NEIGHBOUR_WINDOW_MASK]
    ys = [p[1] for p in demo_scene.NEIGHBOUR_WINDOW_MASK]
    return min(xs), min(ys), max(xs), max(ys)


def test_mask_is_a_rectangle_covering_the_window_and_the_probe() -> None:
    x0, y0, x1, y1 = _mask_box()
    # Four corners of an axis-aligned rectangle, so its bounding box is the polygon itself.
    assert len(demo_scene.NEIGHBOUR_WINDOW_MASK) == 4
    assert {(p[0], p[1]) for p in demo_scene.NEIGHBOUR_WINDOW_MASK} == {
        (x0, y0),
        (x1, y0),
        (x1, y1),
        (x0, y1),
    }
    for box in (demo_scene.NEIGHBOUR_WINDOW, demo_scene.MASK_PROBE):
        bx0, by0, bx1, by1 = box
        assert x0 < bx0 < bx1 < x1
        assert y0 < by0 < by1 < y1
    # The street probe is well clear of the mask.
    _sx0, sy0, _, _ = demo_scene.STREET_PROBE
    assert sy0 > y1


def test_street_frame_shows_the_lit_window_and_the_street() -> None:
    img = demo_scene.decode(demo_scene.street_frame(0))
    assert img.shape == (demo_scene.HEIGHT, demo_scene.WIDTH, 3)
    window = demo_scene.region(img, demo_scene.MASK_PROBE).reshape(-1, 3).mean(axis=0)
    assert window.mean() > 120  # bright: a mask that failed would leave this visible
    street = demo_scene.region(img, demo_scene.STREET_PROBE)
    assert 30 < street.mean() < 120  # asphalt


def test_clock_changes_only_its_corner() -> None:
    a = demo_scene.decode(demo_scene.street_frame(3600 * 10 + 1)).astype(int)
    b = demo_scene.decode(demo_scene.street_frame(3600 * 13 + 42)).astype(int)
    diff = np.abs(a - b).max(axis=2) > 40
    assert diff.any()
    ys, xs = np.nonzero(diff)
    assert ys.max() < demo_scene.HEIGHT * 0.15
    assert xs.min() > demo_scene.WIDTH * 0.6


def test_region_scales_with_the_image() -> None:
    small = np.zeros((100, 200, 3), dtype=np.uint8)
    assert demo_scene.region(small, (0.5, 0.5, 1.0, 1.0)).shape == (50, 100, 3)
