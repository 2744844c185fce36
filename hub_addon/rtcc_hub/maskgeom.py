"""Mask geometry: which blocks of a frame the owner's polygons touch.

One implementation for every path that blacks out pixels (stills through libjpeg-turbo, video
frames of recorded clips): a polygon covers every block it touches, so a mask may grow to
whole blocks, never shrink (PROTOCOL.md section 2).

Polygons are in coordinates normalised to the frame (0..1, origin top left), filled by the
nonzero winding rule, which covers a superset of even-odd for self-intersecting polygons (the
side of caution); degenerate polygons (a point, a line) still cover the blocks they touch.
Block boundaries count as touching: an edge exactly on a block boundary also takes the next
block.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

type Point = tuple[float, float]
type Polygon = tuple[Point, ...]  # normalised (x, y), origin top left

# Polygons come from the owner's policy (0..1); a little slack, but not absurd magnitudes
# that would overflow the geometry below.
_COORD_LIMIT: Final = 1000.0
# Geometry tolerance in block units: boundary cases round towards covering.
_EPS: Final = 1e-6
_GRID_CACHE: Final = 64

type Rect = tuple[int, int, int, int]  # row start, row stop, column start, column stop


class MaskError(ValueError):
    """The masks are not a list of polygons of finite (x, y) points."""


def validated_masks(masks: object) -> tuple[Polygon, ...]:
    """Canonical float tuples; anything malformed is an error (fail closed: nothing shared)."""
    try:
        polygons = tuple(
            tuple((float(point[0]), float(point[1])) for point in polygon)
            for polygon in masks  # type: ignore[attr-defined]
        )
    except (TypeError, ValueError, IndexError) as err:
        raise MaskError("mask is not a list of polygons of (x, y) points") from err
    for polygon in polygons:
        if not polygon:
            raise MaskError("mask polygon has no points")
        for x, y in polygon:
            if not (abs(x) <= _COORD_LIMIT and abs(y) <= _COORD_LIMIT):  # also rejects NaN
                raise MaskError("mask coordinate is not a finite normalised value")
    return polygons


def _mark_edge(
    grid: npt.NDArray[np.bool_], p0: tuple[float, float], p1: tuple[float, float]
) -> None:
    """Mark every block the closed segment p0-p1 touches (coordinates in block units)."""
    rows, cols = grid.shape
    (x0, y0), (x1, y1) = p0, p1
    y_low, y_high = min(y0, y1), max(y0, y1)
    first_row = max(0, math.floor(y_low - _EPS))
    last_row = min(rows - 1, math.floor(y_high + _EPS))
    for row in range(first_row, last_row + 1):
        if y1 == y0:
            x_a, x_b = x0, x1
        else:
            # The part of the segment inside this block row's band.
            band_low = max(y_low, row - _EPS)
            band_high = min(y_high, row + 1 + _EPS)
            x_a = x0 + (band_low - y0) / (y1 - y0) * (x1 - x0)
            x_b = x0 + (band_high - y0) / (y1 - y0) * (x1 - x0)
        first_col = max(0, math.floor(min(x_a, x_b) - _EPS))
        last_col = min(cols - 1, math.floor(max(x_a, x_b) + _EPS))
        if first_col <= last_col:
            grid[row, first_col : last_col + 1] = True


def block_mask(
    masks: tuple[Polygon, ...], width: int, height: int, block_w: int, block_h: int
) -> npt.NDArray[np.bool_]:
    """Blocks (rows, cols) of `block_w` x `block_h` pixels that any polygon touches.

    A block meets the filled polygon iff an edge touches it or, if none does, the whole block
    lies in one face of the polygon, so its centre's winding number decides.
    """
    rows, cols = -(-height // block_h), -(-width // block_w)
    grid = np.zeros((rows, cols), dtype=np.bool_)
    centre_x = np.arange(cols, dtype=np.float64)[None, :] + 0.5
    scale_x, scale_y = width / block_w, height / block_h
    for polygon in masks:
        points = [(x * scale_x, y * scale_y) for x, y in polygon]
        winding = np.zeros((rows, cols), dtype=np.int32)
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
            _mark_edge(grid, (x0, y0), (x1, y1))
            # Winding number (Sunday's crossing rule, half-open in y): an edge only affects
            # the rows whose centre lies in [y_low, y_high), so only those are computed.
            first = min(rows, max(0, math.ceil(min(y0, y1) - 0.5)))
            stop = min(rows, max(0, math.ceil(max(y0, y1) - 0.5)))
            if first >= stop:
                continue
            centre_y = np.arange(first, stop, dtype=np.float64)[:, None] + 0.5
            left = (x1 - x0) * (centre_y - y0) - (centre_x - x0) * (y1 - y0)
            if y0 < y1:
                winding[first:stop] += left > 0
            else:
                winding[first:stop] -= left < 0
        grid |= winding != 0
    return grid


def row_runs(grid: npt.NDArray[np.bool_]) -> list[tuple[int, int, int]]:
    """(row, first col, end col) of every horizontal run of marked blocks."""
    runs: list[tuple[int, int, int]] = []
    for row in np.flatnonzero(grid.any(axis=1)):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], grid[row].view(np.int8), [0]))))
        runs.extend(
            (int(row), int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)
        )
    return runs


@lru_cache(maxsize=_GRID_CACHE)
def cached_block_mask(
    masks: tuple[Polygon, ...], width: int, height: int, block_w: int, block_h: int
) -> npt.NDArray[np.bool_]:
    """`block_mask`, remembered (read-only): a camera's masks and frame size rarely change."""
    grid = block_mask(masks, width, height, block_w, block_h)
    grid.flags.writeable = False
    return grid


def block_rects(grid: npt.NDArray[np.bool_], block_w: int, block_h: int) -> tuple[Rect, ...]:
    """Pixel rectangles covering the marked blocks, one per horizontal run.

    The far edges may lie beyond the frame (partial blocks at the right and bottom): numpy
    slicing clips them.
    """
    return tuple(
        (row * block_h, (row + 1) * block_h, first * block_w, end * block_w)
        for row, first, end in row_runs(grid)
    )
