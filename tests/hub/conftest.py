"""Fixtures for the add-on tests (unit and protocol). No Home Assistant here.

- `RTCC_TURBOJPEG_LIB` defaults to the development copy of libjpeg-turbo 3.x when present.
- `city_key` (session): a `tests.support.city.CityHub` with kid "k1".
- `standin_ha` (function, async): an in-process `StandinHA` with camera.front_door.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.city import CityHub
from tests.support.standin_ha import StandinHA

_DEV_LIB = (
    Path(__file__).resolve().parents[2]
    / ".cache/py314/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"
)
if "RTCC_TURBOJPEG_LIB" not in os.environ and _DEV_LIB.exists():
    os.environ["RTCC_TURBOJPEG_LIB"] = str(_DEV_LIB)


@pytest.fixture(scope="session")
def city_key() -> CityHub:
    return CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")


@pytest.fixture
async def standin_ha() -> AsyncIterator[StandinHA]:
    async with StandinHA(token="standin-ha-token", cameras=["camera.front_door"]) as ha:
        yield ha
