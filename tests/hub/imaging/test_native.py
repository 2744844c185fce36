"""The native mask filter: found where the package is installed, and strict about its input.

The filter is called directly here with coefficient rows laid out as libjpeg-turbo lays them
out (one row of 64-coefficient blocks per call), so its C is tested without tj3Transform.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import pytest

import rtcc_hub
from rtcc_hub.imaging import native
from rtcc_hub.imaging.native import Native
from rtcc_hub.imaging.turbo import Region, Transform

FILTER = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    Region,
    Region,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(Transform),
)


def call(native: Native, coeffs: np.ndarray, region: Region, component: int, data: object) -> int:
    function = FILTER(native.address)
    transform = Transform(r=Region(0, 0, 0, 0), op=0, options=0)
    transform.data = ctypes.addressof(data) if data is not None else None  # type: ignore[arg-type]
    return int(function(coeffs.ctypes.data, region, region, component, 0, ctypes.byref(transform)))


def test_the_library_is_built_into_the_installed_package() -> None:
    path = native.library_path()
    assert path.parent == Path(rtcc_hub.__file__).resolve().parent / "imaging"
    assert path.stat().st_size > 0
    # In the clean add-on environment that is site-packages, not the source tree.
    if "site-packages" in rtcc_hub.__file__:
        assert "site-packages" in str(path)
    assert sys.prefix in str(path) or "hub_addon" in str(path)


def test_masks_exactly_the_marked_mcus() -> None:
    native = Native()
    grid = np.zeros((2, 3), dtype=bool)
    grid[0, 1] = grid[1, 2] = True
    # 4:2:0 luma: 2x2 blocks per MCU; a 6-block-wide row (48 px), block row 1 (MCU row 0).
    frame = native.bitmap(grid, ((2, 2), (1, 1), (1, 1)), (-205, 0, 0))
    coeffs = np.arange(6 * 64, dtype=np.int16).reshape(6, 64) + 1
    assert call(native, coeffs, Region(0, 8, 48, 8), 0, frame.struct) == 0
    assert frame.struct.blocks_masked == 2
    for block in range(6):
        if block in (2, 3):  # MCU column 1
            assert coeffs[block, 0] == -205 and not coeffs[block, 1:].any()
        else:
            assert (coeffs[block] == np.arange(block * 64, block * 64 + 64) + 1).all()
    chroma = np.ones((3, 64), dtype=np.int16)
    assert call(native, chroma, Region(0, 8, 24, 8), 1, frame.struct) == 0  # MCU row 1
    assert not chroma[2].any() and chroma[:2].all()


@pytest.mark.parametrize(
    ("region", "component", "why"),
    [
        (Region(0, 32, 48, 8), 0, "row beyond the bitmap"),
        (Region(0, 0, 56, 8), 0, "column beyond the bitmap"),
        (Region(0, 0, 48, 8), 3, "no such component"),
        (Region(0, 4, 48, 8), 0, "not on a block boundary"),
    ],
)
def test_inconsistent_calls_fail(region: Region, component: int, why: str) -> None:
    native = Native()
    frame = native.bitmap(np.ones((2, 3), dtype=bool), ((2, 2), (1, 1), (1, 1)), (-205, 0, 0))
    coeffs = np.ones((region.w // 8 or 1, 64), dtype=np.int16)
    assert call(native, coeffs, region, component, frame.struct) == -1, why


def test_missing_data_or_wrong_version_fails() -> None:
    native = Native()
    coeffs = np.ones((1, 64), dtype=np.int16)
    assert call(native, coeffs, Region(0, 0, 8, 8), 0, None) == -1
    frame = native.bitmap(np.ones((1, 1), dtype=bool), ((1, 1),), (-128,))
    frame.struct.version = 99
    assert call(native, coeffs, Region(0, 0, 8, 8), 0, frame.struct) == -1
    assert coeffs.all()  # untouched


def test_a_missing_library_stops_the_processor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rtcc_hub.imaging import ImageError, ImageProcessor

    monkeypatch.setattr(native, "__file__", str(tmp_path / "native.py"))
    with pytest.raises(ImageError, match="native mask filter"):
        ImageProcessor()
