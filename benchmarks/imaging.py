"""Imaging benchmark: rtcc_hub.imaging on a real photo, against anchors measured in the same run.

    . scripts/env.sh && .venv/bin/python benchmarks/imaging.py [--frames N] [--seconds S]
        [--no-http] [--no-allocator]

The photo is benchmarks/data/friends-1080p.jpg (a real photograph, 1920x1080, q85 4:2:0; see
benchmarks/data/README.md); the 4K frame is that photo upscaled (smoother than a real 4K
camera frame, so its codec figures flatter a little). Anchors, all in this run:

- bare:   PyTurboJPEG decode + encode of the frame (RGB, q85, the frame's subsampling) = 1.00
- floor:  tj3Transform with TJXOPT_COPYNONE and no filter (what any lossless route costs)
- HA:     Home Assistant core's `scale_jpeg_camera_image` (1080p -> 1280 wide)
- Pillow: Image.open + save (q85)
- today:  the processor as it was before the lossless route (read from git history)

Candidates run round-robin and the median is reported, so background load hits all of them
alike. Figures are for this machine only; the ratios are the point. Then: quality figures,
the allocator experiment (per-thread buffers vs glibc malloc settings, in child processes),
and end-to-end snapshots over HTTP against the real add-on (subprocess) and a stand-in Home
Assistant serving the photo, compared with the in-process two-thread rate.
"""

# Optional dependencies (Pillow, Home Assistant, the test harness) are imported where used:
# the benchmark still runs the rest without them.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import turbojpeg as tj

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hub_addon"))
sys.path.insert(0, str(REPO))

from rtcc_hub.imaging import ImageProcessor, OutputSpec, Polygon  # noqa: E402
from rtcc_hub.imaging.turbo import XOPT_COPYNONE, Handle, Region, Transform, load_library  # noqa: E402

PHOTO = REPO / "benchmarks" / "data" / "friends-1080p.jpg"
# The window on the left and the dog in it: what an owner would mask on this house.
MASK: Polygon = ((0.05, 0.0), (0.52, 0.0), (0.52, 0.68), (0.3, 0.72), (0.05, 0.6))
LIB = os.environ.get("RTCC_TURBOJPEG_LIB") or None
GOALS: list[tuple[str, bool, str]] = []


def goal(name: str, ok: bool, figure: str) -> None:
    GOALS.append((name, ok, figure))


def measure_samples(cases: dict[str, Callable[[], object]], frames: int) -> dict[str, list[float]]:
    """Seconds per call of every round, candidates interleaved.

    On a shared machine bursts of load hit some rounds and not others: the best round of each
    candidate is the most repeatable figure, so the goals are judged on it (medians printed
    alongside).
    """
    for call in cases.values():
        call()  # warm-up: thread-locals, caches, page faults
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(frames):
        for name, call in cases.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return samples


def measure(cases: dict[str, Callable[[], object]], frames: int) -> dict[str, float]:
    """Best round per candidate (see `measure_samples`)."""
    return {name: min(times) for name, times in measure_samples(cases, frames).items()}


def legacy_processor() -> Any | None:
    """The processor before the lossless route, from git history (None if unavailable)."""
    try:
        deleted = subprocess.run(
            [
                "git",
                "log",
                "--diff-filter=D",
                "-1",
                "--format=%H",
                "--",
                "hub_addon/rtcc_hub/imaging.py",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        source = subprocess.run(
            ["git", "show", f"{deleted}^:hub_addon/rtcc_hub/imaging.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if not source:
        return None
    module = types.ModuleType("rtcc_hub.legacy_imaging")
    module.__package__ = "rtcc_hub"
    sys.modules[module.__name__] = module
    exec(compile(source, "legacy_imaging.py", "exec"), module.__dict__)
    return module.ImageProcessor(lib_path=LIB, workers=1)


def ha_scaler() -> Callable[[bytes], bytes] | None:
    try:
        from homeassistant.components.camera import Image, img_util
    except ImportError:
        return None
    # HA loads libturbojpeg from the system path; point its singleton at libjpeg-turbo 3.
    img_util.TurboJPEGSingleton._TurboJPEGSingleton__instance = tj.TurboJPEG(lib_path=LIB)  # type: ignore[attr-defined]

    def scale(jpeg: bytes) -> bytes:
        return img_util.scale_jpeg_camera_image(Image("image/jpeg", jpeg), 1280, 720)

    return scale


def pillow_roundtrip() -> Callable[[bytes], bytes] | None:
    try:
        from PIL import Image
    except ImportError:
        return None

    def roundtrip(jpeg: bytes) -> bytes:
        out = io.BytesIO()
        Image.open(io.BytesIO(jpeg)).save(out, "JPEG", quality=85)
        return out.getvalue()

    return roundtrip


def frame_4k(codec: Any, photo: bytes) -> bytes | None:
    try:
        from PIL import Image
    except ImportError:
        return None
    big = (
        Image.open(io.BytesIO(photo)).convert("RGB").resize((3840, 2160), Image.Resampling.LANCZOS)
    )
    out: bytes = codec.encode(
        np.asarray(big), quality=85, pixel_format=tj.TJPF_RGB, jpeg_subsample=tj.TJSAMP_420
    )
    return out


class Floor:
    """tj3Transform, COPYNONE, no filter, on one handle and buffer: the lossless minimum."""

    def __init__(self) -> None:
        self.handle = Handle(load_library(LIB), max_pixels=100_000_000, scan_limit=100)

    def __call__(self, jpeg: bytes) -> bytes:
        spec = Transform(r=Region(0, 0, 0, 0), op=0, options=XOPT_COPYNONE)
        return self.handle.transform(jpeg, spec, 4 * len(jpeg) + 65536).tobytes()


def bench_size(label: str, source: bytes, frames: int, legacy: Any | None) -> dict[str, float]:
    codec = tj.TurboJPEG(lib_path=LIB)
    processor = ImageProcessor(lib_path=LIB, workers=1)
    floor = Floor()
    width, height, subsample, _ = codec.decode_header(source)
    masked = OutputSpec(masks=(MASK,))
    scaled = OutputSpec(masks=(MASK,), max_width=1280)
    cases: dict[str, Callable[[], object]] = {
        "bare decode+encode": lambda: codec.encode(
            codec.decode(source, pixel_format=tj.TJPF_RGB),
            quality=85,
            pixel_format=tj.TJPF_RGB,
            jpeg_subsample=subsample,
        ),
        "floor: tj3Transform": lambda: floor(source),
        "unmasked, unscaled": lambda: processor.process(source, OutputSpec()),
        "masked, unscaled": lambda: processor.process(source, masked),
        "masked, scaled to 1280": lambda: processor.process(source, scaled),
        "unmasked, scaled to 1280": lambda: processor.process(source, OutputSpec(max_width=1280)),
    }
    if legacy is not None:
        cases["today: masked, unscaled"] = lambda: legacy.process(source, masked)
        cases["today: unmasked, unscaled"] = lambda: legacy.process(source, OutputSpec())
        cases["today: masked, scaled to 1280"] = lambda: legacy.process(source, scaled)
    if (scale := ha_scaler()) is not None:
        cases["HA scale_jpeg_camera_image 1280"] = lambda: scale(source)
    if (roundtrip := pillow_roundtrip()) is not None:
        cases["Pillow open+save"] = lambda: roundtrip(source)
    samples = measure_samples(cases, frames)
    processor.close()
    best = {name: min(times) for name, times in samples.items()}
    median = {name: statistics.median(times) for name, times in samples.items()}
    print(
        f"\n{label}: {width}x{height}, {len(source)} bytes; {frames} rounds, "
        f"load {os.getloadavg()[0]:.2f}; best round (median in brackets)"
    )
    print(f"  {'case':34s} {'ms':>16s} {'x bare':>14s} {'x floor':>14s}")
    bare, low = best["bare decode+encode"], best["floor: tj3Transform"]
    m_bare, m_low = median["bare decode+encode"], median["floor: tj3Transform"]
    for name in samples:
        b, m = best[name], median[name]
        print(
            f"  {name:34s} {b * 1000:7.2f} ({m * 1000:6.2f}) {b / bare:5.2f} ({m / m_bare:5.2f})"
            f" {b / low:5.2f} ({m / m_low:5.2f})"
        )
    return best


def quality(source: bytes) -> None:
    """Identical pixels outside the grown mask (lossless) and PSNR of the scaled route."""
    from tests.support import jpeg as jp

    processor = ImageProcessor(lib_path=LIB, workers=1)
    out = processor.process(source, OutputSpec(masks=(MASK,)))
    planes_in, planes_out = jp.decode_planes(source), jp.decode_planes(out)
    # The grown mask: the MCUs (16x16 in this 4:2:0 photo) whose luma changed.
    luma_in, luma_out = planes_in[0], planes_out[0]
    rows, cols = -(-luma_in.shape[0] // 16), -(-luma_in.shape[1] // 16)
    padded = np.zeros((rows * 16, cols * 16), dtype=bool)
    padded[: luma_in.shape[0], : luma_in.shape[1]] = luma_in != luma_out
    changed_mcus = padded.reshape(rows, 16, cols, 16).any(axis=(1, 3))

    def cells(plane: np.ndarray, block: int) -> np.ndarray:
        grid = np.repeat(np.repeat(changed_mcus, block, axis=0), block, axis=1)
        return grid[: plane.shape[0], : plane.shape[1]]

    same_planes = np.array_equal(
        luma_in[~cells(luma_in, 16)], luma_out[~cells(luma_out, 16)]
    ) and all(
        np.array_equal(a[~cells(a, 8)], b[~cells(b, 8)])
        for a, b in zip(planes_in[1:], planes_out[1:], strict=True)
    )
    masked = luma_out == 0
    grown = cells(luma_in, 16)
    rgb_in, rgb_out = jp.decode_rgb(source), jp.decode_rgb(out)
    h, w = rgb_in.shape[:2]
    outside = ~grown[:h, :w]
    identical = float((rgb_in[outside] == rgb_out[outside]).all(axis=1).mean())
    ring = outside & ~jp.erode(outside, 1)
    far = outside & ~ring
    identical_far = float((rgb_in[far] == rgb_out[far]).all(axis=1).mean())
    inside = grown[:h, :w] & masked[:h, :w]
    padded = np.pad(inside, 1)
    deep = inside.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            deep &= padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    print("\nquality (1080p photo, one mask)")
    print(
        "  lossless route: YUV planes outside the grown mask identical to the camera's: "
        f"{same_planes}"
    )
    print(
        f"  lossless route: RGB pixels outside the grown mask identical: {100 * identical:.2f} % "
        f"({100 * identical_far:.2f} % beyond the 1-pixel ring where chroma interpolation "
        "mixes in the mask)"
    )
    print(
        f"  lossless route: masked pixels max value {int(rgb_out[inside].max())} (border tint), "
        f"{int(rgb_out[deep].max())} one pixel (8-connected) further in"
    )
    goal("lossless: identical outside the grown mask (planes)", same_planes, f"{same_planes}")
    reencoded = tj.TurboJPEG(lib_path=LIB)
    round_trip = reencoded.decode(
        reencoded.encode(
            rgb_in, quality=85, pixel_format=tj.TJPF_RGB, jpeg_subsample=tj.TJSAMP_420
        ),
        pixel_format=tj.TJPF_RGB,
    )
    print(
        "  for comparison, a q85 re-encode keeps "
        f"{100 * float((round_trip == rgb_in).all(axis=2).mean()):.1f} % of pixels identical"
    )
    scaled = processor.process(source, OutputSpec(masks=(MASK,), max_width=1280))
    try:
        from PIL import Image

        reference = np.asarray(
            Image.fromarray(rgb_in).resize((1280, 720), Image.Resampling.LANCZOS)
        ).astype(float)
        got = jp.decode_rgb(scaled).astype(float)
        visible = jp.decode_planes(scaled)[0][:720, :1280] != 0
        visible &= jp.erode(visible, 16)
        mse = float(((got[visible] - reference[visible]) ** 2).mean())
        print(
            f"  scaled route (1280x720): PSNR {10 * np.log10(255**2 / mse):.1f} dB against a "
            "Lanczos resize of the decoded photo (outside the mask)"
        )
    except ImportError:
        pass
    processor.close()


def allocator_probe(source: bytes, frames: int) -> dict[str, float]:
    """(child mode) scaled + masked, with our per-thread buffers and with today's path."""
    legacy = legacy_processor()
    processor = ImageProcessor(lib_path=LIB, workers=1)
    spec = OutputSpec(masks=(MASK,), max_width=1280)
    cases: dict[str, Callable[[], object]] = {"ours": lambda: processor.process(source, spec)}
    if legacy is not None:
        cases["today"] = lambda: legacy.process(source, spec)
    usage0 = os.times()
    results = measure(cases, frames)
    usage1 = os.times()
    results["sys_s"] = usage1.system - usage0.system
    return results


def allocator(frames: int) -> None:
    settings = {
        "default malloc": {},
        "glibc: MALLOC_MMAP_THRESHOLD_=64M, MALLOC_TRIM_THRESHOLD_=128M": {
            "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
            "MALLOC_TRIM_THRESHOLD_": str(128 << 20),
        },
    }
    print("\nallocator (scaled to 1280 + mask, child processes; per-thread buffers are ours)")
    for name, extra in settings.items():
        env = os.environ | extra
        out = subprocess.run(
            [sys.executable, __file__, "--allocator-probe", "--frames", str(frames)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        today = f", today's path {result['today'] * 1000:.2f} ms" if "today" in result else ""
        print(
            f"  {name:62s} ours {result['ours'] * 1000:.2f} ms{today}; "
            f"system time {result['sys_s']:.2f} s"
        )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_snapshots(source: bytes, seconds: float) -> None:
    """Snapshots/s over HTTP (two clients) against the add-on, vs two threads in process."""
    import aiohttp

    from tests.support.city import DEFAULT_HOME, CityHub, area_at
    from tests.support.hub_process import HubProcess
    from tests.support.standin_ha import Camera, StandinHA

    class PhotoHA(StandinHA):
        async def _answer(self, cam: Camera, number: int) -> Any:
            from aiohttp import web

            cam.served += 1
            return web.Response(body=source, content_type="image/jpeg")

    camera = "camera.front_door"
    spec = OutputSpec(masks=(MASK,), max_width=1280)
    processor = ImageProcessor(lib_path=LIB, workers=2)
    done = 0
    stop = time.monotonic() + seconds

    def loop() -> None:
        nonlocal done
        while time.monotonic() < stop:
            processor.process(source, spec)
            done += 1

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(loop) for _ in range(2)]:
            future.result()
    processor.close()
    in_process = done / seconds

    city = CityHub.generate("bench-rtcc", "Bench RTCC")
    with (
        PhotoHA(
            token="bench-ha-token", cameras=[Camera(camera, width=1920, height=1080)]
        ).running() as ha,
        tempfile.TemporaryDirectory() as data,
        HubProcess(
            Path(data), hubs=[city.hub_config()], ha_url=ha.url, ha_token="bench-ha-token"
        ) as hub,
    ):
        hub.put_policy(
            {
                "consent": True,
                "home": DEFAULT_HOME,
                "max_unlocks_per_week": 1000,
                "cameras": [
                    {
                        "entity_id": camera,
                        "label": "Front door",
                        "share": True,
                        "masks": [[list(p) for p in MASK]],
                        "max_width": 1280,
                    }
                ],
            }
        )

        async def run() -> int:
            count = 0
            async with aiohttp.ClientSession() as session:
                token = city.token(
                    hub.home_id, area=area_at(50), scope=["snapshot"], duration_s=600
                )
                async with session.post(
                    f"{hub.city_url}/api/v1/unlocks", json={"token": token}
                ) as r:
                    unlock = await r.json()
                camera_id = unlock["cameras"][0]["id"]
                url = (
                    f"{hub.city_url}/api/v1/unlocks/{unlock['unlock_id']}"
                    f"/cameras/{camera_id}/snapshot"
                )
                headers = {"Authorization": f"Bearer {unlock['access_token']}"}
                end = time.monotonic() + seconds

                async def client() -> None:
                    nonlocal count
                    while time.monotonic() < end:
                        async with session.get(url, headers=headers) as resp:
                            assert resp.status == 200, resp.status
                            await resp.read()
                            count += 1

                await asyncio.gather(client(), client())
            return count

        assert hub.proc is not None
        cpu0 = _cpu_seconds(hub.proc.pid)
        count = asyncio.run(run())
        addon_cpu_ms = 1000 * (_cpu_seconds(hub.proc.pid) - cpu0) / max(count, 1)
        over_http = count / seconds
    ratio = over_http / in_process
    print("\nend to end (1080p photo, mask, max_width 1280, two concurrent clients)")
    print(f"  in process, two threads: {in_process:.1f} frames/s")
    print(
        "  over HTTP (add-on subprocess, stand-in HA, audit and receipt per snapshot): "
        f"{over_http:.1f} snapshots/s ({ratio:.2f}x); add-on CPU {addon_cpu_ms:.1f} ms per "
        "snapshot (imaging, HTTP, receipt, audit)"
    )
    goal("snapshots over HTTP >= 0.85 x in-process two-thread rate", ratio >= 0.85, f"{ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-allocator", action="store_true")
    parser.add_argument("--allocator-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    photo = PHOTO.read_bytes()
    if args.allocator_probe:
        print(json.dumps(allocator_probe(photo, args.frames)))
        return

    legacy = legacy_processor()
    hd = bench_size("1080p photo", photo, args.frames, legacy)
    bare, floor = hd["bare decode+encode"], hd["floor: tj3Transform"]
    masked, unmasked = hd["masked, unscaled"], hd["unmasked, unscaled"]
    goal("masked unscaled <= 1.10x floor", masked <= 1.10 * floor, f"{masked / floor:.2f}x")
    if "today: masked, unscaled" in hd:
        speedup = hd["today: masked, unscaled"] / masked
        goal("masked unscaled >= 1.8x faster than today", speedup >= 1.8, f"{speedup:.2f}x")
    goal("unmasked unscaled <= 1.05x floor", unmasked <= 1.05 * floor, f"{unmasked / floor:.2f}x")
    scaled = hd["masked, scaled to 1280"] / bare
    goal("scaled to 1280 + mask <= 0.80x bare decode+encode", scaled <= 0.80, f"{scaled:.2f}x")
    codec = tj.TurboJPEG(lib_path=LIB)
    if (big := frame_4k(codec, photo)) is not None:
        bench_size("4K (the photo upscaled)", big, max(10, args.frames // 3), legacy)
    quality(photo)
    if not args.no_allocator:
        allocator(args.frames)
    if not args.no_http:
        http_snapshots(photo, args.seconds)
    print("\ngoals")
    for name, ok, figure in GOALS:
        print(f"  [{'met' if ok else 'NOT MET'}] {name}: {figure}")


if __name__ == "__main__":
    main()
