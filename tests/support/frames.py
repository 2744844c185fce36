"""Synthetic camera frames: bright textured background plus a frame-counter bar.

The counter occupies the bottom 10 % of the frame, right half, as `COUNTER_BITS` cells
(dark = 1, bright = 0, most significant bit first), so it survives scaling and masks placed
elsewhere. `read_counter()` recovers it from a decoded RGB frame.
"""

from __future__ import annotations

import numpy as np

from tests.support import jpeg as jp

COUNTER_BITS = 16
_BAR_X0 = 0.5
_BAR_Y0 = 0.9


def base_image(width: int, height: int, seed: int = 0, *, noise: bool = False) -> np.ndarray:
    """Bright checkerboard with a gentle gradient (no pixel darker than ~150).

    With `noise`, bright random noise (values 150..255): JPEGs of it are large, which helps
    fill socket buffers in slow-viewer tests.
    """
    if noise:
        rng = np.random.default_rng(seed)
        return rng.integers(150, 256, size=(height, width, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    checker = ((xs // 32 + ys // 32 + seed) % 2).astype(np.int16)
    value = 170 + 50 * checker + (20 * xs // max(width, 1)).astype(np.int16)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = np.clip(value, 0, 255)
    img[..., 1] = np.clip(value - 10, 0, 255)
    img[..., 2] = np.clip(value + 10 * seed % 30, 0, 255)
    return img


def draw_counter(img: np.ndarray, counter: int) -> np.ndarray:
    h, w = img.shape[:2]
    out = img.copy()
    y0 = int(h * _BAR_Y0)
    x0 = int(w * _BAR_X0)
    cell = (w - x0) / COUNTER_BITS
    out[y0:, x0:] = 255
    for bit in range(COUNTER_BITS):
        if counter >> (COUNTER_BITS - 1 - bit) & 1:
            a = x0 + round(bit * cell)
            b = x0 + round((bit + 1) * cell)
            out[y0:, a:b] = 0
    return out


def read_counter(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    y = int(h * (_BAR_Y0 + 1.0) / 2)
    x0 = w * _BAR_X0
    cell = (w - x0) / COUNTER_BITS
    value = 0
    for bit in range(COUNTER_BITS):
        x = int(x0 + (bit + 0.5) * cell)
        dark = int(img[y, x].mean()) < 128
        value = value << 1 | int(dark)
    return value


EXIF_PAYLOAD = (
    b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"RTCC-SECRET-EXIF GPS 32.2988,-90.1848"
)
XMP_PAYLOAD = (
    b"http://ns.adobe.com/xap/1.0/\x00"
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">RTCC-SECRET-XMP</x:xmpmeta>'
)
IPTC_PAYLOAD = b"Photoshop 3.0\x00RTCC-SECRET-IPTC"
COMMENT_PAYLOAD = b"RTCC-SECRET-COMMENT"


def with_metadata(jpeg: bytes, entity_id: str = "") -> bytes:
    """Add EXIF (APP1), XMP (APP1), IPTC (APP13) and a COM segment to a JPEG."""
    return jp.insert_segments(
        jpeg,
        [
            (jp.APP1, EXIF_PAYLOAD),
            (jp.APP1, XMP_PAYLOAD),
            (0xED, IPTC_PAYLOAD),
            (jp.COM, COMMENT_PAYLOAD + b" " + entity_id.encode()),
        ],
    )


def make_frame(
    width: int,
    height: int,
    counter: int,
    *,
    seed: int = 0,
    entity_id: str = "",
    quality: int = 85,
    noise: bool = False,
) -> bytes:
    img = draw_counter(base_image(width, height, seed, noise=noise), counter)
    return with_metadata(jp.encode(img, quality=quality), entity_id)
