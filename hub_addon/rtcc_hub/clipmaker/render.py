"""The clip pipeline itself (synchronous; the worker runs it in a process of its own).

decode -> keep frames whose wall time is in the window -> scale (swscale, to the pre-rotation
size) -> turn upright (numpy) -> paint masks -> encode H.264 -> MP4 with the index first.

Only the chosen video stream is decoded; audio, data and subtitle streams are never read into
the output, and nothing of the source container (tags, side data, SEI) is copied: the output is
a new container with a new stream. Input is opened with the MP4 demuxer only, so a download
that is something else (a playlist naming other files, say) cannot make FFmpeg open anything.
"""

from __future__ import annotations

import contextlib
import math
import queue
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import av.error
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from ..maskgeom import MaskError, Polygon, validated_masks
from ..recorders.base import SPAN_SLACK_S
from .planes import (
    U8,
    UPRIGHT,
    Orientation,
    OrientationError,
    frame_step,
    orientation_from_matrix,
    output_size,
    paint_masks,
)

_ALLOWED_CODECS: Final = frozenset({"h264", "hevc", "mpeg4", "mjpeg", "vp8", "vp9", "av1"})
_TIME_BASE: Final = Fraction(1, 90000)  # MP4's customary video timescale
_PROGRESS_STEP: Final = 0.01


class ClipFailed(Exception):
    """The footage could not be made into a clip (status `failed`); `reason` is for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoFramesInWindow(Exception):
    """The footage has no frame inside the window (status `no_footage`)."""


class RenderCancelled(Exception):
    """`should_stop` asked to stop."""


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """libx264 settings. Defaults and why: see `DEFAULT_ENCODER`."""

    preset: str = "veryfast"
    crf: int = 20
    keyint_s: float = 2.0
    threads: int = 0  # 0: libx264 picks (1.5 x cores)

    def codec_options(self, fps: float) -> dict[str, str]:
        keyint = max(1, round(self.keyint_s * fps))
        return {
            "preset": self.preset,
            "crf": str(self.crf),
            "g": str(keyint),
            "keyint_min": str(max(1, keyint // 2)),
            "threads": str(self.threads),
        }


# CRF 20 with `veryfast`: CRF 18-20 is where x264 output is hard to tell from its source at
# normal viewing (x264's and FFmpeg's guidance), which is what evidence needs -- faces, plates,
# clothing as the camera saw them -- while the recording itself was already compressed once.
# Slower presets buy ~5-15 % size at 2-4x the CPU on a 2-core home server; faster ones
# (superfast/ultrafast) drop CABAC/B-frames and grow files by 30-100 %. A keyframe every 2 s
# lets a reviewer seek anywhere quickly for a few percent of size.
DEFAULT_ENCODER: Final = EncoderSettings()


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """What the city may receive: the window (Unix seconds, [start, end)), the owner's masks
    (normalised polygons), the width cap, and optionally fewer frames (never below 5 fps)."""

    start: float
    end: float
    masks: tuple[Polygon, ...] = ()
    max_width: int | None = None
    max_fps: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.end > self.start):
            raise ValueError("clip window must be finite and end after it starts")
        try:
            object.__setattr__(self, "masks", validated_masks(self.masks))
        except MaskError as err:
            raise ValueError(str(err)) from err
        if self.max_width is not None and not (16 <= self.max_width <= 16384):
            raise ValueError("max_width must be between 16 and 16384")
        frame_step(self.max_fps)  # validates


@dataclass(frozen=True, slots=True)
class Timeline:
    """Media time -> wall time of the footage (see `recorders.base.Footage`)."""

    spans: tuple[tuple[float, float, float], ...]  # (media_start, media_end, wall_start)
    expected_media_s: float
    tolerance_s: float

    def wall_time(self, media_time: float) -> float | None:
        for media_start, media_end, wall_start in self.spans:
            if media_start - SPAN_SLACK_S <= media_time < media_end - SPAN_SLACK_S:
                return wall_start + (media_time - media_start)
        return None


@dataclass(frozen=True, slots=True)
class RenderLimits:
    max_pixels: int = 8192 * 4320  # 8K: no camera records more; bigger is hostile
    max_frames: int = 200 * 3600 * 2  # 200 fps for 2 h (max_clip_s)


@dataclass(frozen=True, slots=True)
class RenderStats:
    frames: int
    width: int
    height: int
    start: float  # wall time of the first frame
    end: float  # wall time the last frame lasts until (within the window)


@dataclass(slots=True)
class _Progress:
    report: Callable[[float], None]
    last: float = field(default=-1.0)

    def __call__(self, value: float) -> None:
        value = min(1.0, max(0.0, value))
        if value >= self.last + _PROGRESS_STEP or (value >= 1.0 > self.last):
            self.last = value
            self.report(value)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    data = frame.side_data.get(SideDataType.DISPLAYMATRIX)
    if data is None:
        return None
    raw = bytes(data)
    if len(raw) != 36:
        raise ClipFailed("display matrix of unexpected size")
    return struct.unpack("=9i", raw)


def _orientation(frame: av.VideoFrame) -> Orientation:
    matrix = _display_matrix(frame)
    if matrix is None:
        return UPRIGHT
    try:
        return orientation_from_matrix(matrix)
    except OrientationError as err:
        raise ClipFailed(str(err)) from err


def _plane_view(plane: Any) -> U8:
    array = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
    return array[:, : plane.width]


def _planes(frame: av.VideoFrame) -> tuple[U8, U8, U8]:
    y, u, v = (_plane_view(p) for p in frame.planes)
    return y, u, v


def _nominal_fps(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            fps = float(rate)
            if 0.5 <= fps <= 240:
                return fps
    return 15.0


class _Encoder:
    """The output container, created at the first kept frame (its size fixes the clip's)."""

    def __init__(self, path: Path, settings: EncoderSettings, fps: float) -> None:
        self._path = path
        self._settings = settings
        self._fps = fps
        self._container: Any = None
        self._stream: Any = None
        self.size: tuple[int, int] | None = None

    def open(self, width: int, height: int) -> None:
        container = av.open(
            str(self._path), mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        self._container = container
        stream = container.add_stream("libx264", rate=Fraction(self._fps).limit_denominator(1001))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = _TIME_BASE
        stream.codec_context.time_base = _TIME_BASE
        stream.codec_context.color_range = ColorRange.MPEG
        stream.codec_context.options = dict(self._settings.codec_options(self._fps))
        self._stream = stream
        self.size = (width, height)

    def encode(self, frame: av.VideoFrame | None) -> None:
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def finish(self) -> None:
        self.encode(None)
        self._container.close()
        self._container = None

    def abandon(self) -> None:
        if self._container is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
                self._container.close()
            self._container = None


class _EncoderThread:
    """Encodes in a thread of its own, so decoding the next frames overlaps encoding these
    (both release the GIL in FFmpeg/x264): about a third faster on two cores. Only this
    thread touches the encoder; a small queue bounds the frames in flight."""

    _END: Final = object()

    def __init__(self, encoder: _Encoder) -> None:
        self._encoder = encoder
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtcc-clip-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._queue.get()
                if item is self._END:
                    self._encoder.finish()
                    return
                if self._encoder.size is None:
                    self._encoder.open(item.width, item.height)
                self._encoder.encode(item)
        except BaseException as err:  # reported to the decoding thread
            self._error = err

    def _raise_error(self) -> None:
        if self._error is not None:
            if isinstance(self._error, (av.error.FFmpegError, OSError, ValueError)):
                raise ClipFailed(f"encoding failed: {type(self._error).__name__}") from self._error
            raise self._error

    def put(self, item: Any) -> None:
        while True:
            self._raise_error()
            if not self._thread.is_alive():
                raise ClipFailed("encoder stopped")
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return

    def finish(self) -> None:
        self.put(self._END)
        self._thread.join()
        self._raise_error()

    def abandon(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(self._END)
        self._thread.join(10)
        self._encoder.abandon()


def render_clip(
    source: Path,
    timeline: Timeline,
    spec: ClipSpec,
    output: Path,
    *,
    settings: EncoderSettings = DEFAULT_ENCODER,
    limits: RenderLimits | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RenderStats:
    """Make the clip of `spec` from `source` into `output` (created; removed on failure)."""
    report = _Progress(progress or (lambda _value: None))
    try:
        with av.open(str(source), mode="r", format="mp4") as container:
            clip = _Clip(container, timeline, spec, output, settings, limits or RenderLimits())
            stats = clip.run(report, should_stop)
    except (ClipFailed, NoFramesInWindow, RenderCancelled):
        output.unlink(missing_ok=True)
        raise
    except (av.error.FFmpegError, OSError, ValueError, MemoryError, struct.error) as err:
        output.unlink(missing_ok=True)
        raise ClipFailed(f"footage unreadable: {type(err).__name__}") from err
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    report(1.0)
    return stats


class _Clip:
    """One clip being made: which frames are kept, their timestamps, the encoder."""

    def __init__(  # noqa: PLR0917 - one place that ties the pieces together
        self,
        container: Any,
        timeline: Timeline,
        spec: ClipSpec,
        output: Path,
        settings: EncoderSettings,
        limits: RenderLimits,
    ) -> None:
        if not container.streams.video:
            raise ClipFailed("footage has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec.name not in _ALLOWED_CODECS:
            raise ClipFailed(f"footage codec {codec.name} is not accepted")
        if codec.width * codec.height > limits.max_pixels:
            raise ClipFailed("footage frame size too large")
        codec.thread_type = "AUTO"  # frame threads: the decoder uses both cores
        self._container = container
        self._stream = stream
        self._timeline = timeline
        self._spec = spec
        self._limits = limits
        fps = _nominal_fps(stream)
        self._encoder = _Encoder(output, settings, fps)
        self._size: tuple[int, int] | None = None  # the clip's, fixed by its first frame
        self._scaler = VideoReformatter()
        self._step = frame_step(spec.max_fps)
        self._media_limit = timeline.expected_media_s + timeline.tolerance_s
        # Media time counts from the video stream's first presentation time: a stream with
        # B-frames in a fragmented MP4 (no edit list, like Frigate's clip.mp4) starts its
        # pictures a few frames after zero, and those frames show the recording's first instant.
        start_time = stream.start_time
        self._origin = float(start_time * stream.time_base) if start_time is not None else 0.0
        self.kept = 0
        self._first_wall = self._last_wall = -math.inf
        self._last_duration = 1.0 / fps
        self._last_pts = -1

    def run(self, report: _Progress, should_stop: Callable[[], bool] | None) -> RenderStats:
        sink = _EncoderThread(self._encoder)
        try:
            self._decode_all(sink, report, should_stop)
        except BaseException:
            sink.abandon()
            raise
        assert self._size is not None
        width, height = self._size
        end = min(self._spec.end, self._last_wall + max(0.0, min(self._last_duration, 1.0)))
        return RenderStats(self.kept, width, height, self._first_wall, end)

    def _decode_all(
        self, sink: _EncoderThread, report: _Progress, should_stop: Callable[[], bool] | None
    ) -> None:
        for packet in self._container.demux(self._stream):
            for frame in packet.decode():
                if should_stop is not None and should_stop():
                    raise RenderCancelled
                self._feed(frame, sink, report)
        if not self.kept:
            raise NoFramesInWindow("no frame of the footage lies in the window")
        sink.finish()

    def _wall_time(self, frame: av.VideoFrame, report: _Progress) -> float | None:
        """The frame's wall time if it belongs in the clip, else None."""
        if frame.pts is None or frame.time_base is None:
            return None  # cannot be placed in time: never leaves
        if frame.width * frame.height > self._limits.max_pixels:
            raise ClipFailed("footage frame size too large")
        media_time = float(frame.pts * frame.time_base) - self._origin
        if media_time > self._media_limit:
            raise ClipFailed("footage runs past what the recorder said it holds")
        expected = self._timeline.expected_media_s
        report(media_time / expected if expected > 0 else 0.0)
        wall = self._timeline.wall_time(media_time)
        # Mapped times carry microseconds of rounding (time bases, summed durations): a frame
        # at the window's end must not slip in at end - 20 us, nor one at its start drop out.
        if wall is None or not (
            self._spec.start - SPAN_SLACK_S <= wall < self._spec.end - SPAN_SLACK_S
        ):
            return None
        if self.kept and wall - self._last_wall < self._step - 1e-6:
            return None  # thinned to max_fps
        return wall

    def _feed(self, frame: av.VideoFrame, sink: _EncoderThread, report: _Progress) -> None:
        wall = self._wall_time(frame, report)
        if wall is None:
            return
        first = self._first_wall if self.kept else wall
        pts = round((wall - first) / _TIME_BASE)
        if self.kept and pts <= self._last_pts:
            return  # timestamps must increase
        orientation = _orientation(frame)
        if self._size is None:
            upright = orientation.upright_size(frame.width, frame.height)
            self._size = output_size(*upright, self._spec.max_width)
        out = _prepare(frame, orientation, self._size, self._spec, self._scaler)
        out.pts = pts
        out.time_base = _TIME_BASE
        sink.put(out)
        if not self.kept:
            self._first_wall = wall
        self.kept += 1
        if self.kept > self._limits.max_frames:
            raise ClipFailed("footage has too many frames")
        self._last_wall, self._last_pts = wall, pts
        if frame.duration:
            self._last_duration = float(frame.duration * frame.time_base)


def _prepare(
    frame: av.VideoFrame,
    orientation: Orientation,
    size: tuple[int, int],
    spec: ClipSpec,
    scaler: VideoReformatter,
) -> av.VideoFrame:
    """Scale, turn upright and mask one frame into a new yuv420p frame of the clip's size."""
    width, height = size
    scaled_w, scaled_h = orientation.upright_size(width, height)  # pre-rotation size
    scaled = scaler.reformat(
        frame,
        width=scaled_w,
        height=scaled_h,
        format="yuv420p",
        src_color_range=frame.color_range or None,
        dst_color_range=ColorRange.MPEG,
        interpolation=Interpolation.BILINEAR,
        threads=0,
    )
    if orientation.identity and scaled is not frame:
        out = scaled
        planes = _planes(out)
    else:
        # A new frame: the decoded one may be a reference picture the decoder still reads,
        # painting into it would corrupt the frames that follow.
        out = av.VideoFrame(width, height, "yuv420p")
        planes = _planes(out)
        for target, plane in zip(planes, _planes(scaled), strict=True):
            target[...] = orientation.apply(plane)
    paint_masks(planes, spec.masks)
    out.color_range = ColorRange.MPEG
    return out
