"""Imaging benchmark: rtcc_hub.imaging against a naive pipeline measured in the same run.

    RTCC_TURBOJPEG_LIB=... .venv/bin/python benchmarks/imaging.py [--frames N] [--size WxH]

Cases (1920x1080 4:2:0 camera frame by default, one mask, max_width 1280):

- pipeline:   ImageProcessor.process (YUV planes, DCT scaling, MCU masks, strip check)
- naive:      full-size RGB decode, numpy polygon mask (rasterised once), float bilinear
                resize, RGB encode; also with a nearest-neighbour resize (cheaper, aliased)
- strip-only: ImageProcessor.process without mask or scaling (marker walk, byte copy)
- re-encode:  full-size decode and encode, what a strip-only frame would cost otherwise

The candidates run round-robin and the median is reported, so background load hits all of
them alike. Figures are for this machine only; the ratios are the point.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import turbojpeg as tj

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub_addon"))

from rtcc_hub.imaging import ImageProcessor, OutputSpec, Polygon

U8 = npt.NDArray[np.uint8]
MASK: Polygon = ((0.05, 0.1), (0.35, 0.05), (0.4, 0.55), (0.2, 0.7), (0.08, 0.5))


def camera_frame(width: int, height: int) -> U8:
    """Gradients, texture and sensor noise: compresses like a real camera frame."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = 50 * np.sin(x / 7.0) * np.cos(y / 11.0)
    rgb = np.stack([60 + 150 * x / width, 60 + 150 * y / height, 128 + texture], axis=-1)
    rgb += rng.normal(0, 6, rgb.shape).astype(np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def polygon_mask(polygon: Polygon, width: int, height: int) -> npt.NDArray[np.bool_]:
    """Pixel-centre even-odd rasterisation, the obvious numpy way."""
    y, x = np.mgrid[0:height, 0:width]
    px, py = (x + 0.5) / width, (y + 0.5) / height
    inside = np.zeros((height, width), dtype=np.bool_)
    points = list(polygon)
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        crosses = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < x_at)
    return inside


def bilinear(rgb: U8, width: int, height: int) -> U8:
    src_h, src_w = rgb.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * src_h / height - 0.5, 0, src_h - 1)
    xs = np.clip((np.arange(width) + 0.5) * src_w / width - 0.5, 0, src_w - 1)
    y0, x0 = ys.astype(int), xs.astype(int)
    y1, x1 = np.minimum(y0 + 1, src_h - 1), np.minimum(x0 + 1, src_w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = rgb.astype(np.float32)
    rows = img[y0] * (1 - wy) + img[y1] * wy
    out = rows[:, x0] * (1 - wx) + rows[:, x1] * wx
    resized: U8 = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return resized


def policy_limit_masks(jitter: float) -> tuple[Polygon, ...]:
    """32 polygons of 100 points, the most a policy allows; `jitter` makes each set new."""
    rng = np.random.default_rng(11)
    masks = []
    for _ in range(32):
        cx, cy = rng.uniform(0.1, 0.9, 2)
        radius = rng.uniform(0.02, 0.1)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 100))
        masks.append(
            tuple(
                (float(cx + radius * np.cos(a) + jitter), float(cy + radius * np.sin(a)))
                for a in angles
            )
        )
    return tuple(masks)


def measure(cases: dict[str, Callable[[], object]], frames: int) -> dict[str, float]:
    """Median seconds per call, candidates interleaved."""
    for call in cases.values():
        call()  # warm-up: thread-locals, caches, page faults
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(frames):
        for name, call in cases.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--max-width", type=int, default=1280)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    target_h = round(height * args.max_width / width)

    lib = os.environ.get("RTCC_TURBOJPEG_LIB") or None
    codec = tj.TurboJPEG(lib_path=lib)
    processor = ImageProcessor(lib_path=lib, workers=1)
    source: bytes = codec.encode(
        camera_frame(width, height),
        quality=90,
        pixel_format=tj.TJPF_RGB,
        jpeg_subsample=tj.TJSAMP_420,
    )
    spec = OutputSpec(masks=(MASK,), max_width=args.max_width)
    naive_mask = polygon_mask(MASK, width, height)  # rasterised once, as ours is cached

    def naive() -> bytes:
        rgb = codec.decode(source, pixel_format=tj.TJPF_RGB)
        rgb[naive_mask] = 0
        small = bilinear(rgb, args.max_width, target_h)
        out: bytes = codec.encode(small, pixel_format=tj.TJPF_RGB, jpeg_subsample=tj.TJSAMP_420)
        return out

    rows = np.arange(target_h) * height // target_h
    cols = np.arange(args.max_width) * width // args.max_width

    def naive_nearest() -> bytes:
        rgb = codec.decode(source, pixel_format=tj.TJPF_RGB)
        rgb[naive_mask] = 0
        small = np.ascontiguousarray(rgb[rows][:, cols])
        out: bytes = codec.encode(small, pixel_format=tj.TJPF_RGB, jpeg_subsample=tj.TJSAMP_420)
        return out

    def reencode() -> bytes:
        out: bytes = codec.encode(
            codec.decode(source, pixel_format=tj.TJPF_RGB),
            pixel_format=tj.TJPF_RGB,
            jpeg_subsample=tj.TJSAMP_420,
        )
        return out

    heavy = policy_limit_masks(0.0)
    jitter = (i * 1e-9 for i in itertools.count(1))  # a new spec each call: mask cache misses
    results = measure(
        {
            "pipeline": lambda: processor.process(source, spec),
            "naive": naive,
            "naive, nearest resize": naive_nearest,
            "strip-only": lambda: processor.process(source, OutputSpec()),
            "re-encode": reencode,
            "pipeline, mask only": lambda: processor.process(source, OutputSpec(masks=(MASK,))),
            "pipeline, scale only": lambda: processor.process(
                source, OutputSpec(max_width=args.max_width)
            ),
            "pipeline, 32x100-point masks, warm": lambda: processor.process(
                source, OutputSpec(masks=heavy, max_width=args.max_width)
            ),
            "pipeline, 32x100-point masks, cold": lambda: processor.process(
                source, OutputSpec(masks=policy_limit_masks(next(jitter)), max_width=args.max_width)
            ),
        },
        args.frames,
    )
    processor.close()

    print(
        f"{width}x{height} 4:2:0 q90 ({len(source)} bytes) -> max_width {args.max_width}, "
        f"1 mask; median of {args.frames} frames, load avg {os.getloadavg()[0]:.2f}"
    )
    for name, seconds in results.items():
        print(f"  {name:36s} {seconds * 1000:8.2f} ms/frame {1 / seconds:9.1f} frames/s")
    print(f"  pipeline vs naive:      {results['naive'] / results['pipeline']:.2f}x faster")
    nearest = results["naive, nearest resize"] / results["pipeline"]
    print(f"  pipeline vs naive with nearest resize (worse quality): {nearest:.2f}x")
    print(f"  strip-only vs re-encode: {results['re-encode'] / results['strip-only']:.1f}x faster")


if __name__ == "__main__":
    main()
