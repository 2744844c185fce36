"""Synthetic camera pictures for the demo: a street with a neighbour's window, and a clock.

Everything is drawn with numpy and encoded with libjpeg-turbo (PyTurboJPEG), so the demo needs
no camera, no sample files and no image library beyond what the add-on already uses.

The scene (normalised coordinates, origin top left):

- sky above, a neighbour's house on the left whose lit **window** sits inside
  ``NEIGHBOUR_WINDOW_MASK`` (the polygon the owner masks), a tree, our own fence on the right;
- the **street** in the lower half (asphalt, dashed centre line, kerb, a parked car);
- a seven-segment clock (HH:MM:SS) in the top right corner, so stream frames visibly change.
"""

from __future__ import annotations

import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT = 960, 540

# The neighbour's window (what must never leave the home) and the mask the owner draws over it.
NEIGHBOUR_WINDOW = (0.13, 0.24, 0.29, 0.44)  # x0, y0, x1, y1
NEIGHBOUR_WINDOW_MASK: list[list[float]] = [[0.10, 0.20], [0.32, 0.20], [0.32, 0.48], [0.10, 0.48]]
# An area inside the mask, clear of its edges, that must be black in what the city receives.
MASK_PROBE = (0.14, 0.25, 0.28, 0.43)
# An area of the street that must stay visible.
STREET_PROBE = (0.40, 0.80, 0.60, 0.95)

WINDOW_COLOUR = (255, 214, 90)  # warm lamp light, RGB

_REPO = Path(__file__).resolve().parent.parent
_DEV_TURBOJPEG = _REPO / ".cache/py314/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"


def turbojpeg_lib() -> str | None:
    """The libjpeg-turbo the project uses: $RTCC_TURBOJPEG_LIB, else the dev copy, else None."""
    env = os.environ.get("RTCC_TURBOJPEG_LIB")
    if env:
        return env
    if _DEV_TURBOJPEG.exists():
        return str(_DEV_TURBOJPEG)
    return None


@cache
def _jpeg() -> Any:
    from turbojpeg import TurboJPEG  # noqa: PLC0415

    lib = turbojpeg_lib()
    return TurboJPEG(lib_path=lib) if lib else TurboJPEG()


def encode(rgb: np.ndarray, quality: int = 88) -> bytes:
    from turbojpeg import TJPF_RGB, TJSAMP_420  # noqa: PLC0415

    return bytes(
        _jpeg().encode(
            np.ascontiguousarray(rgb),
            quality=quality,
            pixel_format=TJPF_RGB,
            jpeg_subsample=TJSAMP_420,
        )
    )


def decode(jpeg: bytes) -> np.ndarray:
    """Decode a JPEG to an RGB array (height, width, 3)."""
    from turbojpeg import TJPF_RGB  # noqa: PLC0415

    return np.asarray(_jpeg().decode(jpeg, pixel_format=TJPF_RGB))


def region(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The pixels of a normalised box (x0, y0, x1, y1) of an image of any size."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    return img[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)]


def _box(
    img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: tuple[int, ...]
) -> None:
    region(img, (x0, y0, x1, y1))[...] = colour


@cache
def _street_scene() -> np.ndarray:
    img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    # Sky: a vertical gradient.
    horizon = int(0.55 * HEIGHT)
    t = np.linspace(0.0, 1.0, horizon)[:, None]
    sky = (1 - t) * np.array([110, 160, 225]) + t * np.array([190, 215, 240])
    img[:horizon] = sky[:, None, :].astype(np.uint8)
    # Lawn between the houses and the street.
    _box(img, 0.0, 0.50, 1.0, 0.58, (70, 140, 60))
    # The neighbour's house: wall, roof (a triangle), door, and the lit window.
    _box(img, 0.05, 0.18, 0.40, 0.55, (150, 95, 70))
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    xn, yn = xs / WIDTH, ys / HEIGHT
    roof = (yn >= 0.05) & (yn < 0.18) & (np.abs(xn - 0.225) <= (yn - 0.05) / 0.13 * 0.19)
    img[roof] = (90, 50, 45)
    _box(img, 0.33, 0.36, 0.38, 0.55, (80, 50, 35))
    x0, y0, x1, y1 = NEIGHBOUR_WINDOW
    _box(img, x0 - 0.01, y0 - 0.015, x1 + 0.01, y1 + 0.015, (240, 240, 235))  # frame
    _box(img, x0, y0, x1, y1, WINDOW_COLOUR)
    _box(img, x0 + 0.05, y0 + 0.06, x0 + 0.09, y1, (60, 40, 50))  # someone at the window
    _box(img, (x0 + x1) / 2 - 0.003, y0, (x0 + x1) / 2 + 0.003, y1, (240, 240, 235))
    # A tree.
    _box(img, 0.52, 0.30, 0.54, 0.55, (90, 60, 30))
    crown = (xn - 0.53) ** 2 + ((yn - 0.25) * HEIGHT / WIDTH) ** 2 < 0.06**2
    img[crown] = (40, 110, 45)
    # Our fence on the right.
    for i in range(12):
        x = 0.70 + i * 0.025
        _box(img, x, 0.38, x + 0.015, 0.56, (205, 190, 160))
    _box(img, 0.70, 0.42, 1.0, 0.44, (205, 190, 160))
    # The street: kerb, asphalt, dashed centre line, a parked car.
    _box(img, 0.0, 0.58, 1.0, 0.62, (175, 175, 170))
    _box(img, 0.0, 0.62, 1.0, 1.0, (62, 64, 68))
    for i in range(8):
        x = 0.02 + i * 0.13
        _box(img, x, 0.80, x + 0.07, 0.815, (235, 235, 225))
    _box(img, 0.62, 0.64, 0.86, 0.74, (170, 30, 35))  # car body
    _box(img, 0.66, 0.60, 0.80, 0.65, (120, 160, 190))  # windows
    for cx in (0.67, 0.81):
        wheel = (xn - cx) ** 2 + ((yn - 0.745) * HEIGHT / WIDTH) ** 2 < 0.018**2
        img[wheel] = (20, 20, 20)
    return img


# Seven-segment digits: segments a b c d e f g.
_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


def _draw_digit(
    img: np.ndarray, x: int, y: int, digit: str, s: int, colour: tuple[int, ...]
) -> None:
    t = max(2, s // 5)  # stroke
    h = 2 * s
    bars = {
        "a": (x, y, x + s, y + t),
        "d": (x, y + h - t, x + s, y + h),
        "g": (x, y + s - t // 2, x + s, y + s + t - t // 2),
        "f": (x, y, x + t, y + s),
        "b": (x + s - t, y, x + s, y + s),
        "e": (x, y + s, x + t, y + h),
        "c": (x + s - t, y + s, x + s, y + h),
    }
    for seg in _SEGMENTS[digit]:
        bx0, by0, bx1, by1 = bars[seg]
        img[by0:by1, bx0:bx1] = colour


def draw_clock(img: np.ndarray, text: str, *, s: int = 18) -> None:
    """Draw HH:MM:SS in the top right corner, on a dark plate."""
    gap = s // 2
    width = len(text) * (s + gap) + gap
    x = img.shape[1] - width - 12
    y = 12
    img[y - 6 : y + 2 * s + 6, x - gap : x + width] = (15, 15, 20)
    for ch in text:
        if ch == ":":
            t = max(2, s // 5)
            cx = x + s // 4
            img[y + s // 2 : y + s // 2 + t, cx : cx + t] = (255, 80, 60)
            img[y + 3 * s // 2 : y + 3 * s // 2 + t, cx : cx + t] = (255, 80, 60)
            x += s // 2 + gap
        else:
            _draw_digit(img, x, y, ch, s, (255, 80, 60))
            x += s + gap


def street_frame(now: float | None = None) -> bytes:
    """The street camera's picture at ``now`` (a JPEG with the clock burnt in)."""
    img = _street_scene().copy()
    draw_clock(img, time.strftime("%H:%M:%S", time.localtime(now)))
    return encode(img)


def backyard_frame() -> bytes:
    """A second, private camera: the back yard. The owner never shares it."""
    img = np.zeros((480, 640, 3), dtype=np.uint8)
    img[:200] = (150, 190, 230)
    img[200:] = (60, 130, 55)
    region(img, (0.1, 0.5, 0.35, 0.75))[...] = (30, 100, 170)  # a paddling pool
    region(img, (0.6, 0.25, 0.9, 0.6))[...] = (200, 200, 190)  # the shed
    return encode(img)


def side_by_side(left: bytes, right: bytes, gap: int = 12) -> bytes:
    """Two JPEGs next to each other (the right one scaled to the left one's height)."""
    a, b = decode(left), decode(right)
    if b.shape[0] != a.shape[0]:  # nearest-neighbour scaling is plenty for a comparison
        rows = np.linspace(0, b.shape[0] - 1, a.shape[0]).round().astype(int)
        width = round(b.shape[1] * a.shape[0] / b.shape[0])
        cols = np.linspace(0, b.shape[1] - 1, width).round().astype(int)
        b = b[rows][:, cols]
    out = np.full((a.shape[0], a.shape[1] + gap + b.shape[1], 3), 255, dtype=np.uint8)
    out[:, : a.shape[1]] = a
    out[:, a.shape[1] + gap :] = b
    return encode(out)
