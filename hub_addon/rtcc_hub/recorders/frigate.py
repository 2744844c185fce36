"""Frigate NVR: recorded footage through its HTTP API (`frigate_url`, e.g. the add-on's :5000).

Frigate routes used (frigate/api/record.py and frigate/api/media.py):

- `GET /api/{camera}/recordings?after=A&before=B`: the recording segments (JSON list of
  `{id, start_time, end_time, duration, ...}`, Unix seconds) with `end_time >= A` and
  `start_time <= B`, oldest first.
- `GET /api/{camera}/start/{start}/end/{end}/clip.mp4`: the segments that overlap the range
  concatenated with ffmpeg's concat demuxer and `-c copy` into a fragmented MP4
  (`video/mp4`, streamed); `400 {"success": false, "message": "No recordings found for the
  specified time range"}` when there are none. A segment starting before `start` gets an
  `inpoint int(start - segment.start)`, one ending after `end` an `outpoint`.

Why the segment list first: the clip's media time has to be placed in wall time. Concatenation
drops the gaps between segments, and an `inpoint` lets the segment start at the keyframe
before it with all of the clip's timestamps shifted by an amount nobody reports. So the range
asked for is chosen from the segment list so that no segment gets an inpoint; then media time
runs through the segments back to back, each for its `duration`, and maps exactly onto their
`start_time`s (which Frigate takes from the segment's file name, to the second). The list is
read again after the download; if the segments changed meanwhile (retention deleted one, say)
the footage fails rather than be placed wrongly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import quote

import aiohttp

from ..policy import Recorder, RecorderSource
from .base import Footage, FootageWindow, MediaSpan, NoFootage, RecorderFailed
from .download import DownloadLimits, download_mp4, get_json

# Frigate's MAX_SEGMENT_DURATION (frigate/const.py): no segment is longer, so a segment list
# read this far around the window holds every segment Frigate's clip query can select.
_MAX_SEGMENT_S: Final = 600.0
_NO_RECORDINGS: Final = b"No recordings found"
# The request range starts a little after the first segment's start: Frigate's query is
# inclusive (`between`), and a previous segment ending exactly there would otherwise join.
_NUDGE_S: Final = 0.001


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    start_time: float
    end_time: float
    duration: float


@dataclass(frozen=True, slots=True)
class PlaylistEntry:
    """One file of Frigate's concat playlist, as its clip route writes it."""

    segment: Segment
    inpoint: int | None
    outpoint: int | None

    @property
    def media_length(self) -> float:
        end = self.segment.duration if self.outpoint is None else float(self.outpoint)
        return max(0.0, end - (self.inpoint or 0))


def parse_segments(payload: Any) -> tuple[Segment, ...]:
    """Frigate's recordings list; anything malformed fails the footage."""
    if not isinstance(payload, list):
        raise RecorderFailed("frigate recordings: not a list")
    segments: list[Segment] = []
    for item in payload:
        if not isinstance(item, dict):
            raise RecorderFailed("frigate recordings: entry is not an object")
        try:
            start, end, duration = (
                float(item[key]) for key in ("start_time", "end_time", "duration")
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RecorderFailed("frigate recordings: entry without times") from err
        if (
            not all(math.isfinite(v) for v in (start, end, duration))
            or duration <= 0
            or end < start
        ):
            raise RecorderFailed("frigate recordings: entry with impossible times")
        if duration > _MAX_SEGMENT_S:
            raise RecorderFailed("frigate recordings: segment longer than Frigate allows")
        segments.append(Segment(str(item.get("id", "")), start, end, duration))
    segments.sort(key=lambda s: (s.start_time, s.end_time))
    return tuple(segments)


def frigate_playlist(segments: Sequence[Segment], start: float, end: float) -> list[PlaylistEntry]:
    """The playlist Frigate's clip route builds for [start, end] (same query, same points)."""
    entries: list[PlaylistEntry] = []
    for seg in segments:
        selected = (
            start <= seg.start_time <= end
            or start <= seg.end_time <= end
            or (start > seg.start_time and end < seg.end_time)
        )
        if not selected:
            continue
        inpoint = int(start - seg.start_time) if seg.start_time < start else None
        outpoint = int(end - seg.start_time) if seg.end_time > end else None
        entries.append(PlaylistEntry(seg, inpoint, outpoint))
    return entries


@dataclass(frozen=True, slots=True)
class ClipRequest:
    start: float
    end: float
    playlist: tuple[PlaylistEntry, ...]

    def spans(self) -> tuple[MediaSpan, ...]:
        spans: list[MediaSpan] = []
        offset = 0.0
        for entry in self.playlist:
            length = entry.media_length
            if length > 0:
                wall = entry.segment.start_time + (entry.inpoint or 0)
                spans.append(MediaSpan(offset, offset + length, wall))
            offset += length
        return tuple(spans)

    @property
    def media_seconds(self) -> float:
        return sum(entry.media_length for entry in self.playlist)


def plan_clip(segments: Sequence[Segment], window: FootageWindow) -> ClipRequest:
    """The clip.mp4 range for `window`: every overlapping segment whole, no inpoint anywhere.

    Raises `NoFootage` when no segment overlaps the window. Where overlapping segments would
    give a segment an inpoint, the range starts after that segment instead (a little footage
    at the start is lost, never misplaced); if nothing is left, the footage fails.
    """
    wanted = [s for s in segments if s.end_time > window.start and s.start_time < window.end]
    if not wanted:
        raise NoFootage("frigate: no recording segment overlaps the window")
    start, end = wanted[0].start_time + _NUDGE_S, wanted[-1].end_time
    while start < end:
        playlist = frigate_playlist(segments, start, end)
        late = [e for e in playlist if e.inpoint]
        if not late:
            return ClipRequest(start, end, tuple(playlist))
        start = max(e.segment.end_time for e in late) + _NUDGE_S
    raise RecorderFailed("frigate: overlapping recording segments, footage cannot be placed")


def _error(status: int, body: bytes) -> Exception:
    if status == 400 and _NO_RECORDINGS in body:
        return NoFootage("frigate: no recordings found")
    return RecorderFailed(f"frigate clip: HTTP {status}")


def _number(value: float) -> str:
    # Frigate's routes take floats; repr gives the shortest exact form.
    return repr(float(value))


class FrigateRecorder:
    """Frigate at `base_url` (no auth: the API port inside the Supervisor network)."""

    source: ClassVar[RecorderSource] = RecorderSource.FRIGATE

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        limits: DownloadLimits | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._limits = limits or DownloadLimits()

    async def segments(self, camera: str, after: float, before: float) -> tuple[Segment, ...]:
        url = f"{self._base_url}/api/{quote(camera, safe='')}/recordings"
        payload = await get_json(
            self._session,
            url,
            params={"after": _number(after), "before": _number(before)},
            limits=self._limits,
            what="frigate recordings",
        )
        return parse_segments(payload)

    async def _check_unchanged(
        self, camera: str, after: float, before: float, plan: ClipRequest
    ) -> None:
        """What Frigate's query gives for the planned range now must be what was planned."""
        now = frigate_playlist(await self.segments(camera, after, before), plan.start, plan.end)
        if ClipRequest(plan.start, plan.end, tuple(now)).spans() != plan.spans():
            raise RecorderFailed("frigate: recordings changed while downloading")

    async def fetch(
        self, recorder: Recorder, entity_id: str, window: FootageWindow, directory: Path
    ) -> Footage:
        if recorder.source is not RecorderSource.FRIGATE or not recorder.camera:
            raise RecorderFailed("not a frigate recorder")
        camera = recorder.camera
        after, before = window.start - _MAX_SEGMENT_S - 60, window.end + _MAX_SEGMENT_S + 60
        plan = plan_clip(await self.segments(camera, after, before), window)
        url = (
            f"{self._base_url}/api/{quote(camera, safe='')}"
            f"/start/{_number(plan.start)}/end/{_number(plan.end)}/clip.mp4"
        )
        downloaded = await download_mp4(
            self._session,
            url,
            directory=directory,
            limits=self._limits,
            footage_seconds=plan.media_seconds,
            on_error_status=_error,
            what="frigate clip",
        )
        try:
            await self._check_unchanged(camera, after, before, plan)
        except BaseException:
            downloaded.path.unlink(missing_ok=True)
            raise
        return Footage(
            path=downloaded.path,
            sha256=downloaded.sha256,
            bytes=downloaded.bytes,
            source=RecorderSource.FRIGATE,
            spans=plan.spans(),
            expected_media_s=plan.media_seconds,
            # Segment durations are ffprobe's; a frame or two of slack.
            tolerance_s=0.5,
        )
