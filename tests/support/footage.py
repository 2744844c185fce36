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
) -> None:
    """Frames `first`..`first + count - 1` as H.264 (+ AAC) MP4, timestamps from 0."""
    options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as out:
        if tags:
            out.metadata.update(TAGS)
        video = out.add_stream("libx264", rate=recording.fps)
        video.width, video.height = recording.width, recording.height
        video.pix_fmt = "yuv420p"
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
