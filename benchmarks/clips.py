"""Recorded clips: how fast a masked 720p clip is made from 1080p footage, and what it costs
the live streams meanwhile.

Source: a 5-minute 1920x1080 15 fps H.264 recording (camera-like: High profile, no B-frames,
2 s GOP, textured scene with sensor noise and moving objects), made once and kept in
.cache/bench. The clip: the whole 5 minutes, two masks (a rectangle and a triangle), scaled to
1280x720, through the real `ClipMaker` (worker process, default encoder settings).

Printed, all from the same run:
- seconds of video per wall second for the clip (goal >= 5x real time on the 2-core machine);
- the floor: plain PyAV decode of the source, and our speed as a fraction of it;
- the anchor: Debian's ffmpeg doing the same mask (the same macroblock rectangles as drawbox
  filters) + scale + encode (same preset/CRF/GOP), and our speed as a ratio of it
  (benchmarks/fetch_ffmpeg.sh fetches it into .cache; without it that line says so);
- the output size per minute;
- the live stream's frame gaps: a stream's frame loop on this event loop (one 1280x720 JPEG
  masked and scaled per frame through the real `ImageProcessor`, at --stream-fps) measured
  without a clip and while the clip is made, max and p99 gap against 1/fps.

    .venv/bin/python benchmarks/clips.py [--seconds 300] [--stream-fps 10] [--presets faster]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtcc_hub.clipmaker import DEFAULT_ENCODER, ClipMaker, ClipSpec, EncoderSettings
from rtcc_hub.clipmaker.planes import mask_rects, output_size
from rtcc_hub.imaging import ImageProcessor, OutputSpec
from rtcc_hub.policy import RecorderSource
from rtcc_hub.recorders import Footage, MediaSpan
from tests.support import frames

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
EPOCH = 1_780_000_000.0
WIDTH, HEIGHT, FPS = 1920, 1080, 15
MAX_WIDTH = 1280
MASKS = (
    ((0.02, 0.05), (0.30, 0.05), (0.30, 0.45), (0.02, 0.45)),
    ((0.60, 0.10), (0.95, 0.35), (0.70, 0.80)),
)


# -- the source recording ------------------------------------------------------------------------


def _scene() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Noisy variants of a textured background (Y), and its chroma planes."""
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = 90 + 40 * np.sin(xs / 37.0) * np.cos(ys / 53.0) + (xs // 120 + ys // 90) % 2 * 30
    base = base + rng.normal(0, 12, size=(HEIGHT, WIDTH))  # texture: bricks, leaves, grass
    noisy = [
        np.clip(base + rng.normal(0, 2.5, size=base.shape), 16, 235).astype(np.uint8)
        for _ in range(8)
    ]
    u = (128 + 20 * np.sin(xs[::2, ::2] / 91.0)).astype(np.uint8)
    v = (128 + 20 * np.cos(ys[::2, ::2] / 71.0)).astype(np.uint8)
    return noisy, u, v


def make_source(path: Path, seconds: int) -> None:
    noisy, u, v = _scene()
    partial = path.with_suffix(f".{os.getpid()}.part")
    with av.open(str(partial), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "crf": "23", "g": "30", "bf": "0"}
        for i in range(seconds * FPS):
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            planes = [
                np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
                for p in frame.planes
            ]
            planes[0][...] = noisy[i % len(noisy)]
            planes[1][...] = u
            planes[2][...] = v
            for k in range(3):  # people and cars crossing the scene
                x = (i * (7 + 5 * k) + 400 * k) % (WIDTH - 200)
                y = 300 + 200 * k
                planes[0][y : y + 160, x : x + 120] = 200 - 50 * k
                planes[1][y // 2 : y // 2 + 80, x // 2 : x // 2 + 60] = 90 + 40 * k
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    partial.replace(path)


def source_path(seconds: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"clips-source-{WIDTH}x{HEIGHT}-{FPS}fps-{seconds}s.mp4"
    if not path.exists():
        print(f"making the source recording ({seconds} s, once) ...", flush=True)
        began = time.perf_counter()
        make_source(path, seconds)
        print(f"  made in {time.perf_counter() - began:.0f} s: {path}", flush=True)
    return path


# -- the anchors -----------------------------------------------------------------------------------


def plain_decode(path: Path) -> tuple[float, int]:
    began = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        for _frame in container.decode(stream):
            count += 1
    return time.perf_counter() - began, count


def ffmpeg_binary() -> str | None:
    found = shutil.which("ffmpeg")
    if found:
        return found
    script = ROOT / "benchmarks" / "fetch_ffmpeg.sh"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def ffmpeg_anchor(binary: str, source: Path, out: Path, settings: EncoderSettings) -> float:
    """The same work with ffmpeg: scale, black the same macroblocks, encode alike."""
    width, height = output_size(WIDTH, HEIGHT, MAX_WIDTH)
    luma, _chroma = mask_rects(MASKS, width, height)
    boxes = [
        f"drawbox=x={left}:y={top}:w={right - left}:h={bottom - top}:color=black:t=fill"
        for top, bottom, left, right in luma
    ]
    chain = ",".join([f"scale={width}:{height}:flags=bilinear", *boxes])
    options = settings.codec_options(FPS)
    command = [
        binary, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
        "-an", "-sn", "-dn", "-map_metadata", "-1", "-vf", chain,
        "-c:v", "libx264", "-preset", options["preset"], "-crf", options["crf"],
        "-g", options["g"], "-keyint_min", options["keyint_min"], "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - began


# -- the live stream while a clip is made ---------------------------------------------------------


def ffmpeg_run(binary: str, source: Path, out: Path) -> tuple[str, float, int]:
    version = subprocess.run(
        [binary, "-hide_banner", "-version"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    took = ffmpeg_anchor(binary, source, out, DEFAULT_ENCODER)
    return version, took, out.stat().st_size


async def stream_gaps(processor: ImageProcessor, fps: float, until: asyncio.Event) -> list[float]:
    """A live stream's loop: one camera still masked and scaled per frame, at `fps`."""
    still = frames.make_frame(1920, 1080, 1, seed=3)
    spec = OutputSpec(masks=MASKS, max_width=MAX_WIDTH)
    interval = 1 / fps
    gaps: list[float] = []
    last = time.perf_counter()
    deadline = last
    while not until.is_set():
        deadline += interval
        await processor.process_async(still, spec)
        delay = deadline - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    return gaps


def gap_line(name: str, gaps: list[float], fps: float) -> str:
    gaps = sorted(gaps[1:])  # the first interval includes the loop's start
    p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
    return (
        f"{name:<28} frames {len(gaps):5d}  max gap {gaps[-1] * 1000:6.1f} ms  "
        f"p99 {p99 * 1000:6.1f} ms  median {statistics.median(gaps) * 1000:6.1f} ms  "
        f"(1/fps = {1000 / fps:.0f} ms; worst delay {max(0.0, gaps[-1] - 1 / fps) * fps:.2f}"
        " frame intervals)"
    )


def footage_of(source: Path, seconds: int) -> Footage:
    return Footage(
        path=source,
        sha256="0" * 64,
        bytes=source.stat().st_size,
        source=RecorderSource.FRIGATE,
        spans=(MediaSpan(0.0, float(seconds), EPOCH),),
        expected_media_s=float(seconds),
        tolerance_s=0.5,
    )


async def make_clip(
    footage: Footage, seconds: int, out: Path, settings: EncoderSettings
) -> tuple[float, int, int]:
    spec = ClipSpec(EPOCH, EPOCH + seconds, masks=MASKS, max_width=MAX_WIDTH)
    began = time.perf_counter()
    result = await ClipMaker(settings=settings).make(footage, spec, out)
    return time.perf_counter() - began, result.bytes, result.frames


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--stream-fps", type=float, default=10.0)
    parser.add_argument("--presets", default="", help="also compare these x264 presets")
    parser.add_argument("--baseline-s", type=float, default=30.0, help="stream alone, seconds")
    parser.add_argument("--no-ffmpeg", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds
    source = source_path(seconds)
    print(f"machine: {os.cpu_count()} cores; PyAV {av.__version__}; source {source.name}, "
          f"{source.stat().st_size / 1e6:.0f} MB")  # fmt: skip

    decode_s, decoded = plain_decode(source)
    print(f"plain PyAV decode (floor)      {decode_s:6.1f} s  {seconds / decode_s:5.1f}x real time"
          f"  ({decoded} frames)")  # fmt: skip

    processor = ImageProcessor()
    footage = footage_of(source, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        idle_stop = asyncio.Event()
        idle = asyncio.create_task(stream_gaps(processor, args.stream_fps, idle_stop))
        await asyncio.sleep(args.baseline_s)
        idle_stop.set()
        idle_gaps = await idle

        busy_stop = asyncio.Event()
        busy = asyncio.create_task(stream_gaps(processor, args.stream_fps, busy_stop))
        clip_s, size, count = await make_clip(footage, seconds, out, DEFAULT_ENCODER)
        busy_stop.set()
        busy_gaps = await busy
        print(f"masked 720p clip (ClipMaker)   {clip_s:6.1f} s  {seconds / clip_s:5.1f}x real time"
              f"  ({count} frames; {DEFAULT_ENCODER.preset}, CRF {DEFAULT_ENCODER.crf};"
              f" stream running alongside)")  # fmt: skip
        print(f"  = {decode_s / clip_s:.2f} of the plain-decode floor's speed")
        print(f"  output {size / 1e6:.1f} MB = {size / 1e6 / (seconds / 60):.1f} MB per minute"
              f" ({size * 8 / seconds / 1e6:.2f} Mbit/s)")  # fmt: skip

        quiet_s, _, _ = await make_clip(footage, seconds, out, DEFAULT_ENCODER)
        print(f"masked 720p clip, no stream    {quiet_s:6.1f} s  "
              f"{seconds / quiet_s:5.1f}x real time")  # fmt: skip

        binary = None if args.no_ffmpeg else ffmpeg_binary()
        if binary is None:
            print("ffmpeg anchor: no ffmpeg here and benchmarks/fetch_ffmpeg.sh could not fetch it")
        else:
            version, ff_s, ff_size = await asyncio.to_thread(
                ffmpeg_run, binary, source, Path(tmp) / "ffmpeg.mp4"
            )
            print(f"ffmpeg CLI same work (anchor)  {ff_s:6.1f} s  {seconds / ff_s:5.1f}x real time"
                  f"  ({version}; {ff_size / 1e6 / (seconds / 60):.1f} MB per minute)")  # fmt: skip
            print(f"  ClipMaker / ffmpeg speed ratio: {ff_s / quiet_s:.2f}")

        for preset in filter(None, args.presets.split(",")):
            settings = EncoderSettings(preset=preset, crf=DEFAULT_ENCODER.crf)
            took, size, _ = await make_clip(footage, seconds, out, settings)
            print(f"  preset {preset:<10} {took:6.1f} s  {seconds / took:5.1f}x real time  "
                  f"{size / 1e6 / (seconds / 60):5.1f} MB per minute")  # fmt: skip

    print(gap_line("live stream, no clip", idle_gaps, args.stream_fps))
    print(gap_line("live stream, clip being made", busy_gaps, args.stream_fps))
    processor.close()


if __name__ == "__main__":
    asyncio.run(main())
