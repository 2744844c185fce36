"""Frigate recorder against the stand-in Frigate (its real routes and answers)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import aiohttp
import av
import pytest

from rtcc_hub.policy import Recorder, RecorderSource
from rtcc_hub.recorders import (
    DownloadLimits,
    FootageWindow,
    FrigateRecorder,
    NoFootage,
    RecorderFailed,
)
from rtcc_hub.recorders.frigate import Segment, frigate_playlist, parse_segments, plan_clip
from tests.support import footage as ft
from tests.support.standin_frigate import StandinFrigate

from .conftest import EPOCH, files_in

FRONT_DOOR = Recorder(RecorderSource.FRIGATE, "front_door")
FAST = DownloadLimits(connect_s=2, first_byte_s=1.5, idle_s=1.0, base_s=4, per_footage_s=0)


def _seg(start: float, duration: float) -> Segment:
    return Segment(f"{start}", start, start + duration, duration)


def _frames_placed(path: Path, footage_wall: object, recording: ft.Recording) -> list[float]:
    """Wall times the footage's timeline gives its frames; asserts each is the true one."""
    placed: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            wall = footage_wall(float(frame.pts * frame.time_base))  # type: ignore[operator]
            if wall is None:
                continue
            truth = recording.wall_time(ft.frame_number(frame.to_ndarray(format="gray")))
            assert wall == pytest.approx(truth, abs=1e-3)
            placed.append(wall)
    return placed


# -- planning (pure) ------------------------------------------------------------------------


def test_plan_takes_whole_segments_without_inpoints() -> None:
    segments = [_seg(EPOCH + 10 * i, 10.0) for i in range(6)]
    plan = plan_clip(segments, FootageWindow(EPOCH + 12.5, EPOCH + 33.2))
    assert [e.segment.start_time for e in plan.playlist if e.media_length] == [
        EPOCH + 10,
        EPOCH + 20,
        EPOCH + 30,
    ]
    assert not any(e.inpoint for e in plan.playlist)
    assert plan.spans()[0].wall_start == EPOCH + 10
    assert plan.spans()[-1].media_end == pytest.approx(30.0)


def test_plan_steps_past_overlapping_segments() -> None:
    """Frigate's start times are whole seconds, so a segment may overlap the next a little;
    the range then starts after the earlier one, else Frigate would give it an inpoint."""
    segments = [_seg(EPOCH, 10.6), _seg(EPOCH + 10, 10.0), _seg(EPOCH + 20, 10.0)]
    plan = plan_clip(segments, FootageWindow(EPOCH + 12, EPOCH + 25))
    assert plan.start > EPOCH + 10.6
    assert all(not e.inpoint for e in frigate_playlist(segments, plan.start, plan.end))
    assert [s.wall_start for s in plan.spans()] == [EPOCH + 10, EPOCH + 20]


def test_plan_maps_gaps() -> None:
    segments = [_seg(EPOCH, 10.0), _seg(EPOCH + 40, 10.0)]
    spans = plan_clip(segments, FootageWindow(EPOCH + 5, EPOCH + 45)).spans()
    assert [(s.media_start, s.media_end, s.wall_start) for s in spans] == [
        (0.0, 10.0, EPOCH),
        (10.0, 20.0, EPOCH + 40),
    ]


def test_plan_nothing_overlapping_is_no_footage() -> None:
    with pytest.raises(NoFootage):
        plan_clip([_seg(EPOCH, 10.0)], FootageWindow(EPOCH + 20, EPOCH + 30))


@pytest.mark.parametrize(
    "payload",
    [
        {"start_time": 1},
        [{"start_time": "x", "end_time": 2, "duration": 1}],
        [{"start_time": 1, "end_time": 2}],
        [{"start_time": 1, "end_time": 2, "duration": float("nan")}],
        [{"start_time": 1, "end_time": 0, "duration": 1}],
        [{"start_time": 1, "end_time": 2000, "duration": 1999}],
        ["segment"],
    ],
)
def test_malformed_recordings_fail(payload: object) -> None:
    with pytest.raises(RecorderFailed):
        parse_segments(payload)


# -- against the stand-in --------------------------------------------------------------------


async def test_fetch_places_every_frame(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path, recording: ft.Recording
) -> None:
    window = FootageWindow(EPOCH + 12.5, EPOCH + 33.2)
    footage = await FrigateRecorder(session, frigate.url).fetch(
        FRONT_DOOR, "camera.front_door", window, workdir
    )
    assert footage.source is RecorderSource.FRIGATE
    assert footage.sha256 == hashlib.sha256(footage.path.read_bytes()).hexdigest()
    assert footage.bytes == footage.path.stat().st_size
    # Frigate was asked for whole segments: no inpoint in the playlist it made.
    assert "inpoint 0\n" in frigate.cameras["front_door"].playlists[-1]
    assert "inpoint 1" not in frigate.cameras["front_door"].playlists[-1]
    placed = _frames_placed(footage.path, footage.wall_time, recording)
    assert min(placed) <= window.start
    assert max(placed) >= window.end - 1 / recording.fps
    assert files_in(workdir) == [footage.path]
    footage.remove()
    assert not footage.path.exists()


async def test_fetch_across_a_recording_gap(
    tmp_path: Path, session: aiohttp.ClientSession, workdir: Path, recording: ft.Recording
) -> None:
    async with StandinFrigate(tmp_path) as nvr:
        nvr.record("yard", recording, 0, 20)
        nvr.record("yard", recording, 45 * recording.fps, 20)  # recording resumes at +45 s
        footage = await FrigateRecorder(session, nvr.url).fetch(
            Recorder(RecorderSource.FRIGATE, "yard"),
            "camera.yard",
            FootageWindow(EPOCH + 5, EPOCH + 55),
            workdir,
        )
        placed = _frames_placed(footage.path, footage.wall_time, recording)
    assert any(w >= EPOCH + 45 for w in placed)
    assert not any(EPOCH + 20.1 < w < EPOCH + 45 for w in placed)


async def test_nothing_recorded_is_no_footage(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path
) -> None:
    recorder = FrigateRecorder(session, frigate.url)
    with pytest.raises(NoFootage):
        await recorder.fetch(
            FRONT_DOOR, "camera.front_door", FootageWindow(EPOCH + 500, EPOCH + 600), workdir
        )
    with pytest.raises(NoFootage):
        await recorder.fetch(
            Recorder(RecorderSource.FRIGATE, "unknown"),
            "camera.x",
            FootageWindow(EPOCH, EPOCH + 9),
            workdir,
        )
    assert files_in(workdir) == []


async def test_clip_route_400_no_recordings_is_no_footage(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path
) -> None:
    """Segments listed, but gone when the clip is asked for: Frigate's 400 is no_footage."""

    class Vanishing(FrigateRecorder):
        async def segments(self, camera: str, after: float, before: float):  # type: ignore[no-untyped-def]
            rows = await super().segments(camera, after, before)
            for row in list(frigate.cameras["front_door"].segments):
                frigate.delete_segment("front_door", row)
            return rows

    with pytest.raises(NoFootage, match="no recordings found"):
        await Vanishing(session, frigate.url).fetch(
            FRONT_DOOR, "camera.front_door", FootageWindow(EPOCH + 5, EPOCH + 15), workdir
        )
    assert files_in(workdir) == []


async def test_recordings_changing_during_download_fail(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path
) -> None:
    class Retention(FrigateRecorder):
        calls = 0

        async def segments(self, camera: str, after: float, before: float):  # type: ignore[no-untyped-def]
            Retention.calls += 1
            if Retention.calls == 2:  # retention deletes the oldest segment meanwhile
                frigate.delete_segment("front_door", frigate.cameras["front_door"].segments[0])
            return await super().segments(camera, after, before)

    with pytest.raises(RecorderFailed, match="changed"):
        await Retention(session, frigate.url).fetch(
            FRONT_DOOR, "camera.front_door", FootageWindow(EPOCH + 5, EPOCH + 25), workdir
        )
    assert files_in(workdir) == []


@pytest.mark.parametrize("mode", ["hang", "stall", "not_mp4", "empty", "huge", "error"])
async def test_misbehaving_frigate_fails_in_time(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path, mode: str
) -> None:
    frigate.set_mode("front_door", mode)
    limits = DownloadLimits(
        connect_s=2, first_byte_s=1.5, idle_s=1.0, base_s=4, per_footage_s=0, max_bytes=4 << 20
    )
    began = time.monotonic()
    with pytest.raises(RecorderFailed):
        await FrigateRecorder(session, frigate.url, limits=limits).fetch(
            FRONT_DOOR, "camera.front_door", FootageWindow(EPOCH + 5, EPOCH + 15), workdir
        )
    assert time.monotonic() - began < 6
    assert files_in(workdir) == []


async def test_unreachable_frigate_fails(session: aiohttp.ClientSession, workdir: Path) -> None:
    with pytest.raises(RecorderFailed):
        await FrigateRecorder(session, "http://127.0.0.1:9", limits=FAST).fetch(
            FRONT_DOOR, "camera.front_door", FootageWindow(EPOCH, EPOCH + 10), workdir
        )


async def test_wrong_recorder_source_fails(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path
) -> None:
    with pytest.raises(RecorderFailed):
        await FrigateRecorder(session, frigate.url).fetch(
            Recorder(RecorderSource.UNIFIPROTECT),
            "camera.x",
            FootageWindow(EPOCH, EPOCH + 10),
            workdir,
        )
