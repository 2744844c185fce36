"""The add-on in-process on a data dir the test can break: a small disk, or injected faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from rtcc_hub.app import AddOn
from rtcc_hub.options import parse_options
from tests.hub.unit.conftest import Env, env, options_dict
from tests.hub.unit.fakes import Clock, FakeCameras, FakeProcessor
from tests.support.city import CityHub
from tests.support.faults import FaultyConnect, Filler, small_disk

__all__ = ["env"]  # the in-process add-on of the unit tests, on a plain data dir


@pytest.fixture(scope="session")
def city() -> CityHub:
    return CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")


@dataclass
class Fault:
    """Switches a storage fault on and off: a real full disk when a tmpfs could be mounted,
    else `SQLITE_FULL` injected at COMMIT (`kind` says which ran)."""

    connect: FaultyConnect
    filler: Filler | None
    error: str

    @property
    def kind(self) -> str:
        return "tmpfs" if self.filler is not None and self.error == "full" else "injected"

    def on(self) -> None:
        if self.kind == "tmpfs":
            assert self.filler is not None
            self.filler.fill()
        else:
            self.connect.error = (
                "database or disk is full" if self.error == "full" else "disk I/O error"
            )

    def off(self) -> None:
        if self.filler is not None:
            self.filler.free()
        self.connect.error = None


@pytest.fixture
def data_disk(tmp_path: Path) -> Iterator[tuple[Path, Filler | None]]:
    with small_disk(tmp_path / "disk", "3m") as filler:
        yield tmp_path / "disk" / "data", filler


@pytest.fixture(params=["full", "io_error"])
async def faulty(
    request: pytest.FixtureRequest, data_disk: tuple[Path, Filler | None], city: CityHub
) -> AsyncIterator[tuple[Env, Fault]]:
    data_dir, filler = data_disk
    connect = FaultyConnect()
    fault = Fault(connect, filler, request.param)
    clock, cameras = Clock(), FakeCameras()
    options = parse_options(options_dict(city))

    async def create() -> AddOn:
        return await AddOn.create(
            options,
            data_dir,
            clock=clock,
            image_processor=FakeProcessor(),  # type: ignore[arg-type]
            fetch_still=cameras,
            connect=connect,
        )

    addon = await create()
    await addon.start()
    session = aiohttp.ClientSession()
    env = Env(addon, city, clock, cameras, FakeProcessor(), session, data_dir, lambda: None)

    async def restart() -> None:
        await env.hub.stop()
        env.hub = await create()
        await env.hub.start()

    env.restart = restart
    try:
        yield env, fault
    finally:
        fault.off()
        await session.close()
        await env.hub.stop()
