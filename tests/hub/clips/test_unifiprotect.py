"""UniFi Protect recorder against the stand-in Home Assistant (template API + video view)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import av
import pytest

from rtcc_hub.policy import Recorder, RecorderSource
from rtcc_hub.recorders import (
    DownloadLimits,
    FootageWindow,
    NoFootage,
    RecorderFailed,
    UnifiProtectRecorder,
)
from rtcc_hub.recorders.unifiprotect import CONFIG_ENTRY_TEMPLATE
from tests.support import footage as ft
from tests.support.standin_unifiprotect import StandinHAProtect

from .conftest import EPOCH, HA_TOKEN, files_in

PROTECT = Recorder(RecorderSource.UNIFIPROTECT)
FAST = DownloadLimits(
    connect_s=2, first_byte_s=1.5, idle_s=1.0, base_s=4, per_footage_s=0, max_bytes=4 << 20
)


async def test_fetch_via_config_entry_and_entity_id(
    protect: StandinHAProtect,
    session: aiohttp.ClientSession,
    workdir: Path,
    recording: ft.Recording,
) -> None:
    window = FootageWindow(EPOCH + 10, EPOCH + 30)
    footage = await UnifiProtectRecorder(session, protect.url, HA_TOKEN).fetch(
        PROTECT, "camera.driveway", window, workdir
    )
    # The entity id travels as a template variable, never inside the template text.
    (asked,) = protect.template_requests
    assert asked == {
        "template": CONFIG_ENTRY_TEMPLATE,
        "variables": {"entity_id": "camera.driveway"},
    }
    cam = protect.protect["camera.driveway"]
    assert cam.video_requests == [
        "/api/unifiprotect/video/01JPROTECTENTRY/camera.driveway/"
        "2026-05-28T20:26:50+00:00/2026-05-28T20:27:10+00:00"
    ]
    assert footage.source is RecorderSource.UNIFIPROTECT
    # Media 0 is the window's start; the guard at both ends is not placed.
    (span,) = footage.spans
    assert (span.media_start, span.media_end, span.wall_start) == (3.0, 17.0, EPOCH + 13)
    with av.open(str(footage.path)) as container:
        first = next(container.decode(container.streams.video[0]))
        assert recording.wall_time(ft.frame_number(first.to_ndarray(format="gray"))) == EPOCH + 10


async def test_nothing_recorded_is_no_footage(
    protect: StandinHAProtect, session: aiohttp.ClientSession, workdir: Path
) -> None:
    with pytest.raises(NoFootage):
        await UnifiProtectRecorder(session, protect.url, HA_TOKEN).fetch(
            PROTECT, "camera.driveway", FootageWindow(EPOCH + 500, EPOCH + 600), workdir
        )
    assert files_in(workdir) == []


async def test_entity_of_another_integration_fails(
    protect: StandinHAProtect, session: aiohttp.ClientSession, workdir: Path
) -> None:
    protect.registry["camera.front_door"] = ("01JGENERIC", "generic")
    recorder = UnifiProtectRecorder(session, protect.url, HA_TOKEN)
    with pytest.raises(RecorderFailed, match="not a UniFi Protect camera"):
        await recorder.fetch(
            PROTECT, "camera.front_door", FootageWindow(EPOCH, EPOCH + 20), workdir
        )
    with pytest.raises(RecorderFailed, match="no config entry"):
        await recorder.fetch(PROTECT, "camera.nowhere", FootageWindow(EPOCH, EPOCH + 20), workdir)
    assert protect.protect["camera.driveway"].video_requests == []


async def test_wrong_token_fails(
    protect: StandinHAProtect, session: aiohttp.ClientSession, workdir: Path
) -> None:
    with pytest.raises(RecorderFailed, match="401"):
        await UnifiProtectRecorder(session, protect.url, "wrong").fetch(
            PROTECT, "camera.driveway", FootageWindow(EPOCH, EPOCH + 20), workdir
        )


@pytest.mark.parametrize("mode", ["hang", "huge", "forbidden"])
async def test_misbehaving_view_fails_in_time(
    protect: StandinHAProtect, session: aiohttp.ClientSession, workdir: Path, mode: str
) -> None:
    protect.protect["camera.driveway"].mode = mode
    began = time.monotonic()
    with pytest.raises(RecorderFailed):
        await UnifiProtectRecorder(session, protect.url, HA_TOKEN, limits=FAST).fetch(
            PROTECT, "camera.driveway", FootageWindow(EPOCH, EPOCH + 20), workdir
        )
    assert time.monotonic() - began < 6
    assert files_in(workdir) == []


async def test_window_within_the_guard_fails(
    protect: StandinHAProtect, session: aiohttp.ClientSession, workdir: Path
) -> None:
    with pytest.raises(RecorderFailed, match="uncertainty"):
        await UnifiProtectRecorder(session, protect.url, HA_TOKEN).fetch(
            PROTECT, "camera.driveway", FootageWindow(EPOCH, EPOCH + 5), workdir
        )


def test_guard_must_be_sane(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="guard"):
        UnifiProtectRecorder(session, "http://ha", "t", guard_s=float("nan"))
