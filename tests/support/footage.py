"""Recorded footage for the clip tests: real MP4s made with PyAV, the way cameras record.

Every file has what must never leave the home: an AAC audio track and metadata tags (title,
location, creation_time, the camera's make/model and a device name in the stream's handler).
Every frame carries its own number in a bar code along the bottom (`frame_number` reads it
back, also after scaling and re-encoding), so a test can tell exactly which recorded instant a
clip frame shows: wall time = `epoch + number / fps`. The rest of the frame is bright,
colourful texture, so a mask that leaks anything shows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import numpy as np
import numpy.typing as npt

BITS: Final = 20  # frame numbers up to ~1M (19 h at 15 fps)
CODE_ROWS: Final = 6  # the bar code takes the bottom 1/6 of the frame
TAGS: Final = {
    "title": "Front door camera",
    "location": "+32.2988-090.1848/",
    "creation_time": "2026-05-01T12:00:00.000000Z",
    "make": "Acme Cameras",
    "model": "AC-1080 SN 4711",
    "comment": "recorded at 12 Main St",
}
DEVICE_HANDLER: Final = "Acme AC-1080 SN 4711 front door"


@dataclass(frozen=True)
class Recording:
    """A camera's recording: frames `first`..`first + count - 1` at `fps` from `epoch` on."""

    epoch: float
    fps: int
    width: int
    height: int

    def wall_time(self, number: int) -> float:
        return self.epoch + number / self.fps

    def number_at(self, wall: float) -> int:
        return round((wall - self.epoch) * self.fps)


def frame_rgb(width: int, height: int, number: int) -> npt.NDArray[np.uint8]:
    """Bright texture with `number` as a bar code (white = 1) in the bottom strip."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = 150 + (xs * 7 + number * 3) % 100
    rgb[..., 1] = 150 + (ys * 5 + number) % 100
    rgb[..., 2] = 200 + ((xs + ys) // 4 % 2) * 50
    strip = height - height // CODE_ROWS
    rgb[strip:] = 0
    cell = width / BITS
    for bit in range(BITS):
        if number >> bit & 1:
            left, right = round(bit * cell), round((bit + 1) * cell)
            rgb[strip + 2 :, left + 1 : max(left + 2, right - 1)] = 255
    return rgb


def frame_number(gray: npt.NDArray[np.uint8]) -> int:
    """Read the bar code of an upright frame (greyscale, any size)."""
    height, width = gray.shape
    strip = height - height // CODE_ROWS
    row = (strip + height) // 2
    cell = width / BITS
    number = 0
    for bit in range(BITS):
        centre = int((bit + 0.5) * cell)
        if gray[row, centre] > 128:
            number |= 1 << bit
    return number


def write_recording(
    path: Path,
    recording: Recording,
    first: int,
    count: int,
    *,
    gop: int | None = None,
    audio: bool = True,
    tags: bool = True,
    b_frames: bool = False,
    fragmented: bool = False,
    pix_fmt: str = "yuv420p",
) -> None:
    """Frames `first`..`first + count - 1` as H.264 (+ AAC) MP4, timestamps from 0."""
    options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as out:
        if tags:
            out.metadata.update(TAGS)
        video = out.add_stream("libx264", rate=recording.fps)
        video.width, video.height = recording.width, recording.height
        video.pix_fmt = pix_fmt  # odd sizes need 4:4:4 (x264 codes 4:2:0 only even)
        video.codec_context.options = {
            "preset": "ultrafast",
            "g": str(gop or recording.fps * 2),
            "bf": "2" if b_frames else "0",
        }
        if tags:
            video.metadata.update({"handler_name": DEVICE_HANDLER, "title": DEVICE_HANDLER})
        sound = out.add_stream("aac", rate=16000) if audio else None
        if sound is not None:
            sound.layout = "mono"
            if tags:
                sound.metadata.update({"handler_name": "Acme microphone"})
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(
                frame_rgb(recording.width, recording.height, first + i), format="rgb24"
            )
            frame.pts = i
            frame.time_base = Fraction(1, recording.fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = round(count / recording.fps * 16000)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start : start + 1024]
                if len(chunk) < 1024:
                    chunk = np.pad(chunk, (0, 1024 - len(chunk)))
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = 16000
                af.pts = start
                for packet in sound.encode(af):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)


def media_duration(path: Path) -> float:
    """The container's duration, as ffprobe reports it (Frigate's segment `duration`)."""
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / av.time_base


def set_display_matrix(data: bytes, matrix: tuple[int, ...]) -> bytes:
    """The MP4 with its (first) video track's tkhd matrix replaced (16.16 / 2.30 fixed)."""
    out = bytearray(data)
    at = out.index(b"tkhd")
    version = out[at + 4]
    offset = at + 4 + 4 + (20 if version == 0 else 32) + 8 + 8
    out[offset : offset + 36] = struct.pack(">9i", *matrix)
    return bytes(out)


ONE: Final = 1 << 16
W_ONE: Final = 1 << 30
# tkhd matrices: a b u / c d v / x y w (translation left 0: FFmpeg ignores it for rotation).
ROTATE_90_CW: Final = (0, ONE, 0, -ONE, 0, 0, 0, 0, W_ONE)
ROTATE_180: Final = (-ONE, 0, 0, 0, -ONE, 0, 0, 0, W_ONE)
ROTATE_90_CCW: Final = (0, -ONE, 0, ONE, 0, 0, 0, 0, W_ONE)
MIRROR: Final = (-ONE, 0, 0, 0, ONE, 0, 0, 0, W_ONE)
ROTATE_45: Final = (46341, 46341, 0, -46341, 46341, 0, 0, 0, W_ONE)


@dataclass
class DecodedClip:
    """Everything a test checks about a made clip."""

    stream_types: list[str]
    container_tags: dict[str, str]
    stream_tags: list[dict[str, str]]
    codec: str
    pix_fmt: str
    width: int
    height: int
    times: list[float]  # presentation times, seconds
    luma: list[npt.NDArray[np.uint8]]
    chroma: list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]]
    has_display_matrix: bool
    moov_before_mdat: bool


def top_level_boxes(data: bytes) -> list[bytes]:
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        boxes.append(kind)
        if size < 8:
            break
        at += size
    return boxes


def decode_clip(path: Path) -> DecodedClip:
    boxes = top_level_boxes(path.read_bytes())
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        times, luma, chroma = [], [], []
        matrix = False
        for frame in container.decode(video):
            times.append(float(frame.pts * frame.time_base))
            y, u, v = (
                np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy()
                for p in frame.planes
            )
            luma.append(y)
            chroma.append((u, v))
            matrix |= frame.rotation != 0
        return DecodedClip(
            stream_types=[s.type for s in container.streams],
            container_tags=dict(container.metadata),
            stream_tags=[dict(s.metadata) for s in container.streams],
            codec=video.codec_context.name,
            pix_fmt=str(video.codec_context.pix_fmt),
            width=video.codec_context.width,
            height=video.codec_context.height,
            times=times,
            luma=luma,
            chroma=chroma,
            has_display_matrix=matrix,
            moov_before_mdat=b"moov" in boxes
            and b"mdat" in boxes
            and boxes.index(b"moov") < boxes.index(b"mdat"),
        )


def gray_of_luma(y: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Limited-range luma stretched to 0..255 (what `frame_number` thresholds)."""
    return np.clip((y.astype(np.int32) - 16) * 255 // 219, 0, 255).astype(np.uint8)


def inside_polygon(
    polygon: tuple[tuple[float, float], ...], width: int, height: int
) -> npt.NDArray[np.bool_]:
    """Pixels whose centre lies inside `polygon` (normalised), even-odd rule."""
    ys, xs = np.mgrid[0:height, 0:width]
    px, py = (xs + 0.5) / width, (ys + 0.5) / height
    inside = np.zeros((height, width), dtype=np.bool_)
    points = list(polygon)
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        crosses = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < x_at)
    return inside
