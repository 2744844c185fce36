"""The whole clip job: recorder download -> worker process -> masked clip, and its outcomes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import aiohttp
import pytest

from rtcc_hub.clipmaker import (
    ClipFailed,
    ClipMaker,
    ClipSpec,
    ClipStatus,
    WorkerLimits,
    prepare_clip,
    remove_partials,
)
from rtcc_hub.policy import Recorder, RecorderSource
from rtcc_hub.recorders import (
    DownloadLimits,
    Footage,
    FrigateRecorder,
    MediaSpan,
    Recorders,
    UnifiProtectRecorder,
)
from tests.support import footage as ft
from tests.support.standin_frigate import StandinFrigate
from tests.support.standin_unifiprotect import StandinHAProtect

from .conftest import EPOCH, HA_TOKEN, files_in

FRONT_DOOR = Recorder(RecorderSource.FRIGATE, "front_door")
PROTECT = Recorder(RecorderSource.UNIFIPROTECT)
MASKS = (((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)), ((0.7, 0.2), (0.9, 0.2), (0.8, 0.6)))


def _children() -> set[int]:
    """Live child processes of this process (the worker among them while it runs)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        found |= {int(pid) for pid in text}
    return found


def _clip_walls(path: Path, recording: ft.Recording) -> list[float]:
    clip = ft.decode_clip(path)
    return [recording.wall_time(ft.frame_number(ft.gray_of_luma(y))) for y in clip.luma]


async def test_frigate_clip_ready(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path, recording: ft.Recording
) -> None:
    recorders = Recorders([FrigateRecorder(session, frigate.url)])
    progress: list[float] = []
    spec = ClipSpec(EPOCH + 12.5, EPOCH + 27.2, masks=MASKS, max_width=240)
    output = workdir / "clip-1.mp4"
    outcome = await prepare_clip(
        recorders,
        ClipMaker(),
        recorder=FRONT_DOOR,
        entity_id="camera.front_door",
        spec=spec,
        workdir=workdir,
        output=output,
        progress=progress.append,
    )
    assert outcome.status is ClipStatus.READY, outcome.reason
    result = outcome.result
    assert result is not None
    assert result.path == output
    assert files_in(workdir) == [output]  # the download is gone
    assert result.sha256 == hashlib.sha256(output.read_bytes()).hexdigest()
    assert result.bytes == output.stat().st_size
    assert len(result.source_sha256) == 64
    assert result.source_sha256 != result.sha256
    walls = _clip_walls(output, recording)
    assert walls[0] == pytest.approx(EPOCH + 12.5 + 1 / 30, abs=1 / 30)
    assert [w for w in walls if not spec.start <= w < spec.end] == []
    assert len(walls) == result.frames == 220  # frames 188 (12.533 s) .. 407 (27.133 s)
    assert result.start == pytest.approx(walls[0])
    assert result.end == pytest.approx(spec.end, abs=1e-3)
    assert (result.width, result.height) == (240, 180)
    clip = ft.decode_clip(output)
    assert clip.stream_types == ["video"]
    for polygon in MASKS:
        inside = ft.inside_polygon(polygon, clip.width, clip.height)
        assert all(int(y[inside].max()) <= 20 for y in clip.luma)
    assert progress[0] == 0.0
    assert progress[-1] == 1.0
    assert progress == sorted(progress)
    assert len(progress) > 5


@pytest.mark.parametrize("offset", [-2.5, 2.5])
async def test_protect_export_off_by_seconds_never_leaks(
    protect: StandinHAProtect,
    session: aiohttp.ClientSession,
    workdir: Path,
    recording: ft.Recording,
    offset: float,
) -> None:
    """Protect's export may start a few seconds early or late: the guard keeps every frame
    that leaves inside the window all the same."""
    protect.protect["camera.driveway"].export_offset_s = offset
    recorders = Recorders([UnifiProtectRecorder(session, protect.url, HA_TOKEN)])
    spec = ClipSpec(EPOCH + 20, EPOCH + 40, masks=MASKS)
    outcome = await prepare_clip(
        recorders,
        ClipMaker(),
        recorder=PROTECT,
        entity_id="camera.driveway",
        spec=spec,
        workdir=workdir,
        output=workdir / "clip.mp4",
    )
    assert outcome.status is ClipStatus.READY, outcome.reason
    walls = _clip_walls(workdir / "clip.mp4", recording)
    assert all(spec.start <= w < spec.end for w in walls)
    assert len(walls) >= (20 - 2 * 3) * recording.fps - 1


async def test_outcomes_no_footage_and_failed(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path
) -> None:
    limits = DownloadLimits(connect_s=2, first_byte_s=1.5, idle_s=1, base_s=4, per_footage_s=0)
    recorders = Recorders([FrigateRecorder(session, frigate.url, limits=limits)])
    maker = ClipMaker()

    async def run(start: float, end: float) -> ClipStatus:
        outcome = await prepare_clip(
            recorders,
            maker,
            recorder=FRONT_DOOR,
            entity_id="camera.front_door",
            spec=ClipSpec(start, end),
            workdir=workdir,
            output=workdir / "clip.mp4",
        )
        assert outcome.reason
        assert files_in(workdir) == []
        return outcome.status

    assert await run(EPOCH + 300, EPOCH + 400) is ClipStatus.NO_FOOTAGE
    frigate.set_mode("front_door", "garbage")  # downloads fine, is no video
    assert await run(EPOCH + 5, EPOCH + 15) is ClipStatus.FAILED
    frigate.set_mode("front_door", "hang")
    began = time.monotonic()
    assert await run(EPOCH + 5, EPOCH + 15) is ClipStatus.FAILED
    assert time.monotonic() - began < 6
    unconfigured = await prepare_clip(
        recorders,
        maker,
        recorder=PROTECT,
        entity_id="camera.x",
        spec=ClipSpec(EPOCH, EPOCH + 10),
        workdir=workdir,
        output=workdir / "clip.mp4",
    )
    assert unconfigured.status is ClipStatus.FAILED


def _long_footage(tmp_path: Path, seconds: int) -> Footage:
    recording = ft.Recording(EPOCH, 15, 640, 480)
    path = tmp_path / "long.mp4"
    ft.write_recording(path, recording, 0, seconds * 15, audio=False)
    return Footage(
        path=path,
        sha256="0" * 64,
        bytes=path.stat().st_size,
        source=RecorderSource.FRIGATE,
        spans=(MediaSpan(0.0, float(seconds), EPOCH),),
        expected_media_s=float(seconds),
        tolerance_s=0.5,
    )


async def test_cancelling_kills_the_worker_and_leaves_nothing(tmp_path: Path) -> None:
    footage = _long_footage(tmp_path, 60)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = _children()
    started = asyncio.Event()

    def progress(value: float) -> None:
        if value > 0.2:  # the encoder has written its first packets by then
            started.set()

    task = asyncio.create_task(
        ClipMaker().make(footage, ClipSpec(EPOCH, EPOCH + 60), out_dir / "c.mp4", progress)
    )
    await asyncio.wait_for(started.wait(), 30)
    assert _children() - before  # the worker runs
    assert list(out_dir.iterdir())  # and is writing its .part file
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if not (_children() - before):
            break
        await asyncio.sleep(0.05)
    assert not (_children() - before)
    assert list(out_dir.iterdir()) == []


async def test_worker_time_limit(tmp_path: Path) -> None:
    footage = _long_footage(tmp_path, 30)
    maker = ClipMaker(limits=WorkerLimits(base_s=0.5, per_footage_s=0))
    with pytest.raises(ClipFailed, match="too long"):
        await maker.make(footage, ClipSpec(EPOCH, EPOCH + 30), tmp_path / "c.mp4")
    assert not (tmp_path / "c.mp4").exists()
    assert not (tmp_path / "c.mp4.part").exists()


async def test_worker_that_cannot_start_fails(tmp_path: Path) -> None:
    footage = _long_footage(tmp_path, 1)
    maker = ClipMaker()
    maker._runner._python = str(tmp_path / "no-python")
    with pytest.raises(ClipFailed):
        await maker.make(footage, ClipSpec(EPOCH, EPOCH + 1), tmp_path / "c.mp4")


def test_remove_partials(tmp_path: Path) -> None:
    for name in ("footage-1.mp4.part", "footage-2.mp4", "clip-3.mp4.part", "clip-4.mp4"):
        (tmp_path / name).write_bytes(b"x")
    assert remove_partials(tmp_path) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["clip-4.mp4"]
    assert remove_partials(tmp_path / "missing") == 0
