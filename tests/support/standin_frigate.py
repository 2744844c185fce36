"""A stand-in Frigate NVR: its recordings list and its clip route, as Frigate's source has them.

Routes (frigate/api/record.py, frigate/api/media.py):

- ``GET /api/{camera}/recordings?after=&before=`` -> ``200`` JSON list of
  ``{id, start_time, end_time, segment_size, motion, objects, motion_heatmap, duration}``
  with ``end_time >= after`` and ``start_time <= before``, oldest first (unknown cameras: ``[]``).
- ``GET /api/{camera}/start/{start}/end/{end}/clip.mp4`` -> Frigate's query
  (``start_time between`` or ``end_time between`` or containing), its concat playlist with
  ``inpoint int(start - seg.start)`` / ``outpoint int(end - seg.start)``, and ``-c copy`` into a
  fragmented MP4 (``frag_keyframe+empty_moov``), here with PyAV's libavformat (the same concat
  demuxer and mp4 muxer as Frigate's ffmpeg). Streamed as ``video/mp4`` without a length;
  ``400 {"success": false, "message": "No recordings found for the specified time range"}``
  when nothing matches; ``422`` for times that are not numbers (FastAPI).

Segments are real MP4 files (`tests.support.footage`: H.264 + AAC + tags, frame numbers in
the picture), 10 s each by default, ``start_time`` on whole seconds as Frigate's file names
give, ``duration`` as ffprobe measures it and ``end_time = start_time + duration``.

Modes per camera for the clip route: ``ok``, ``hang`` (no answer until the stand-in stops),
``stall`` (headers and 64 KiB, then nothing), ``garbage`` (an ``ftyp`` box, then noise),
``not_mp4`` (noise), ``empty`` (``200`` with no body, as when Frigate's ffmpeg fails),
``huge`` (an MP4 header and then zeros without end), ``error`` (``500``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiohttp import web

from tests.support import footage as ft
from tests.support.standin_server import StandinServer

MODES = ("ok", "hang", "stall", "garbage", "not_mp4", "empty", "huge", "error")
_FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


@dataclass
class SegmentRow:
    id: str
    path: Path
    start_time: float
    end_time: float
    duration: float
    segment_size: float

    @classmethod
    def of(cls, camera: str, path: Path, start_time: float) -> SegmentRow:
        """The row Frigate keeps for a segment file: `start_time` as its file name gives it,
        `duration` as ffprobe measures it, `end_time = start_time + duration`."""
        duration = ft.media_duration(path)
        return cls(
            id=f"{start_time}-{camera}",
            path=path,
            start_time=start_time,
            end_time=start_time + duration,
            duration=duration,
            segment_size=path.stat().st_size / 1e6,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "segment_size": self.segment_size,
            "motion": 0,
            "objects": 0,
            "motion_heatmap": None,
            "duration": self.duration,
        }


@dataclass
class FrigateCamera:
    name: str
    segments: list[SegmentRow] = field(default_factory=list)
    mode: str = "ok"
    clip_requests: list[tuple[float, float]] = field(default_factory=list)
    playlists: list[str] = field(default_factory=list)


class StandinFrigate(StandinServer):
    def __init__(
        self, directory: Path, *, host: str = "127.0.0.1", port: int = 0, hang_s: float = 60.0
    ) -> None:
        super().__init__(host=host, port=port, hang_s=hang_s)
        self.directory = directory
        self.cameras: dict[str, FrigateCamera] = {}
        self._lock = threading.Lock()

    # -- recording ------------------------------------------------------------------------------
    def record(
        self,
        camera: str,
        recording: ft.Recording,
        first: int,
        seconds: float,
        *,
        segment_s: int = 10,
        **write_options: Any,
    ) -> list[SegmentRow]:
        """Record `seconds` of `recording` from frame `first` on, in segments of `segment_s`."""
        cam = self.cameras.setdefault(camera, FrigateCamera(camera))
        rows: list[SegmentRow] = []
        total = round(seconds * recording.fps)
        per_segment = segment_s * recording.fps
        for offset in range(0, total, per_segment):
            number = first + offset
            start = recording.wall_time(number)
            path = self.directory / f"{camera}-{number}.mp4"
            ft.write_recording(
                path, recording, number, min(per_segment, total - offset), **write_options
            )
            rows.append(SegmentRow.of(camera, path, start))
        with self._lock:
            cam.segments.extend(rows)
            cam.segments.sort(key=lambda r: r.start_time)
        return rows

    def add_segment(self, camera: str, path: Path, start_time: float) -> SegmentRow:
        """Register a segment recorded elsewhere (e.g. the demo's own camera) as Frigate does:
        `start_time` as its file name gives it, `duration` as ffprobe measures it."""
        row = SegmentRow.of(camera, path, start_time)
        with self._lock:
            cam = self.cameras.setdefault(camera, FrigateCamera(camera))
            cam.segments.append(row)
            cam.segments.sort(key=lambda r: r.start_time)
        return row

    def delete_segment(self, camera: str, row: SegmentRow) -> None:
        with self._lock:
            self.cameras[camera].segments.remove(row)

    def set_mode(self, camera: str, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.cameras.setdefault(camera, FrigateCamera(camera)).mode = mode

    # -- HTTP -----------------------------------------------------------------------------------
    async def _recordings(self, request: web.Request) -> web.Response:
        cam = self.cameras.get(request.match_info["camera_name"])
        try:
            after = float(request.query.get("after", "0"))
            before = float(request.query.get("before", "1e12"))
        except ValueError:
            return web.json_response({"detail": "invalid float"}, status=422)
        rows = [] if cam is None else list(cam.segments)
        body = [r.as_json() for r in rows if r.end_time >= after and r.start_time <= before]
        return web.json_response(body)

    def _selected(self, cam: FrigateCamera, start: float, end: float) -> list[SegmentRow]:
        return [
            r
            for r in cam.segments
            if start <= r.start_time <= end
            or start <= r.end_time <= end
            or (start > r.start_time and end < r.end_time)
        ]

    async def _clip(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["camera_name"]
        try:
            start = float(request.match_info["start_ts"])
            end = float(request.match_info["end_ts"])
        except ValueError:
            return web.json_response({"detail": "value is not a valid float"}, status=422)
        if not (math.isfinite(start) and math.isfinite(end)):
            return web.json_response({"detail": "value is not a valid float"}, status=422)
        cam = self.cameras.setdefault(name, FrigateCamera(name))
        cam.clip_requests.append((start, end))
        rows = self._selected(cam, start, end)
        if not rows:
            return web.json_response(
                {"success": False, "message": "No recordings found for the specified time range"},
                status=400,
            )
        if cam.mode != "ok":
            return await self._misbehave(request, cam.mode)
        playlist = self._playlist(rows, start, end)
        cam.playlists.append(playlist)
        body = await asyncio.to_thread(_concat_copy, self.directory, playlist)
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for at in range(0, len(body), 8192):
            await response.write(body[at : at + 8192])
        await response.write_eof()
        return response

    @staticmethod
    def _playlist(rows: list[SegmentRow], start: float, end: float) -> str:
        lines: list[str] = []
        for clip in rows:
            lines.append(f"file '{clip.path}'")
            if clip.start_time < start:
                lines.append(f"inpoint {int(start - clip.start_time)}")
            if clip.end_time > end:
                lines.append(f"outpoint {int(end - clip.start_time)}")
        return "\n".join(lines) + "\n"

    async def _misbehave(self, request: web.Request, mode: str) -> web.StreamResponse:
        if mode == "error":
            return web.Response(status=500, text="Internal Server Error")
        if mode == "hang":
            await self.hang()
            return web.Response(status=504)
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if mode == "stall":
            await response.write(_FTYP + os.urandom(64 * 1024))
            await self.hang()
        elif mode == "garbage":
            await response.write(_FTYP + os.urandom(256 * 1024))
        elif mode == "not_mp4":
            await response.write(b"<html>" + os.urandom(64 * 1024))
        elif mode == "huge":
            await response.write(_FTYP + b"\x00\x00\x00\x01mdat" + b"\xff" * 8)
            zeros = bytes(1 << 20)
            with contextlib.suppress(ConnectionError):
                for _ in range(4096):  # bounded: at most 4 GiB, the client gives up long before
                    await response.write(zeros)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/{camera_name}/recordings", self._recordings)
        app.router.add_get("/api/{camera_name}/start/{start_ts}/end/{end_ts}/clip.mp4", self._clip)
        return app


class _Sink:
    """A write-only pipe-like target: the muxer cannot seek, as into Frigate's `pipe:`."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)


def _concat_copy(directory: Path, playlist: str) -> bytes:
    """`ffmpeg -f concat -safe 0 -i playlist -c copy -movflags frag_keyframe+empty_moov`."""
    path = directory / f"playlist-{threading.get_ident()}-{os.getpid()}.txt"
    path.write_text(playlist)
    sink = _Sink()
    try:
        with (
            av.open(str(path), format="concat", options={"safe": "0"}) as source,
            av.open(
                sink, mode="w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
            ) as out,
        ):
            # ffmpeg copies the input's global tags (-map_metadata default).
            out.metadata.update(ft.TAGS)
            mapping = {}
            for stream in source.streams:
                if stream.type in ("video", "audio"):
                    target = out.add_stream_from_template(stream)
                    target.metadata.update(ft.TAGS | {"handler_name": ft.DEVICE_HANDLER})
                    mapping[stream.index] = target
            last_dts: dict[int, int] = {}
            for packet in source.demux(*[source.streams[i] for i in mapping]):
                if packet.dts is None:
                    continue
                index = packet.stream.index
                if index in last_dts and packet.dts <= last_dts[index]:
                    # ffmpeg: "Non-monotonic DTS ... changing to" the last one plus one.
                    shift = last_dts[index] + 1 - packet.dts
                    packet.dts += shift
                    if packet.pts is not None:
                        packet.pts = max(packet.pts, packet.dts)
                last_dts[index] = packet.dts
                packet.stream = mapping[index]
                out.mux(packet)
    finally:
        path.unlink(missing_ok=True)
    return bytes(sink.data)
