"""Fixtures for the clip tests: a recording, stand-in Frigate and UniFi Protect, a session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import footage as ft
from tests.support.relay_fixtures import mosquitto  # noqa: F401 - fixture
from tests.support.standin_frigate import StandinFrigate
from tests.support.standin_unifiprotect import StandinHAProtect

# A whole-second epoch, as Frigate's segment file names give.
EPOCH = 1_780_000_000.0
FPS = 15
HA_TOKEN = "standin-ha-token"


@pytest.fixture
def recording() -> ft.Recording:
    return ft.Recording(epoch=EPOCH, fps=FPS, width=320, height=240)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def frigate(tmp_path: Path, recording: ft.Recording) -> AsyncIterator[StandinFrigate]:
    """Frigate with `front_door` recorded for 40 s from EPOCH (4 segments)."""
    store = tmp_path / "frigate"
    store.mkdir()
    async with StandinFrigate(store, hang_s=30) as nvr:
        nvr.record("front_door", recording, 0, 40)
        yield nvr


@pytest.fixture
async def protect(recording: ft.Recording) -> AsyncIterator[StandinHAProtect]:
    """Home Assistant with UniFi Protect's camera.driveway recorded EPOCH .. EPOCH + 120."""
    async with StandinHAProtect(token=HA_TOKEN, cameras=["camera.driveway"], hang_s=30) as ha:
        ha.add_protect_camera("camera.driveway", recording, EPOCH, EPOCH + 120)
        yield ha


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "clips"
    path.mkdir()
    return path


def files_in(directory: Path) -> list[Path]:
    """What a directory holds (sorted)."""
    return sorted(directory.iterdir())
