"""Fixtures for the add-on core unit tests: a Hub on loopback with fakes for camera and imaging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.hub.unit.fakes import Clock, FakeCameras, FakeProcessor
from tests.hub.unit.helpers import policy_doc
from tests.support.city import CityHub

CONTROL_TOKEN = "control-token-" + "x" * 24


@pytest.fixture(scope="session")
def city() -> CityHub:
    return CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")


def options_dict(city: CityHub, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "hubs": [city.hub_config()],
        "city_port": 0,
        "control_port": 0,
        "control_token": CONTROL_TOKEN,
        "ha_url": "http://127.0.0.1:9",
        "ha_token": "ha-token",
    }
    raw.update(overrides)
    return raw


async def eventually[T](probe: Callable[[], Awaitable[T]], timeout_s: float = 5.0) -> T:
    """The first truthy result of `probe`, polled until `timeout_s` (then its last result):
    for what the scheduler does on its own a little later, on a loaded machine too."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await probe()
        if result or asyncio.get_running_loop().time() >= deadline:
            return result
        await asyncio.sleep(0.05)


@dataclass
class Env:
    """A running Hub plus HTTP helpers for both APIs."""

    hub: Any
    city: CityHub
    clock: Clock
    cameras: FakeCameras
    processor: FakeProcessor
    session: aiohttp.ClientSession
    data_dir: Path
    restart: Callable[[], Any]

    @property
    def city_url(self) -> str:
        return f"http://127.0.0.1:{self.hub.city_port}"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.hub.control_port}"

    async def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method,
            self.control_url + path,
            json=body,
            headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def put_policy(self, **overrides: Any) -> dict[str, Any]:
        status, body = await self.control("PUT", "/control/v1/policy", policy_doc(**overrides))
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    def token(self, **claims: Any) -> str:
        claims.setdefault("area", {"lat": 32.2988, "lon": -90.1848, "radius_m": 500})
        claims.setdefault("incident", {"id": "I-1", "case_number": "C-9", "offense": "burglary"})
        return self.city.token(self.hub.home_id, now=self.clock(), **claims)

    async def unlock(self, **claims: Any) -> tuple[int, Any]:
        async with self.session.post(
            self.city_url + "/api/v1/unlocks", json={"token": self.token(**claims)}
        ) as response:
            return response.status, await response.json()

    async def entries(self) -> list[dict[str, Any]]:
        """Every audit entry, as the history endpoint gives them."""
        return await self.hub.owner.history(0, 10**9)  # type: ignore[no-any-return]

    async def verify(self) -> Any:
        return await self.hub.owner.verify()

    async def city_get(self, path: str, token: str | None) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.session.get(self.city_url + path, headers=headers)
        await response.read()
        return response


@pytest.fixture
async def env(tmp_path: Path, city: CityHub) -> AsyncIterator[Env]:
    from rtcc_hub.app import AddOn as Hub
    from rtcc_hub.options import parse_options

    clock = Clock()
    cameras = FakeCameras()
    processor = FakeProcessor()
    options = parse_options(options_dict(city))
    hub = await Hub.create(
        options, tmp_path, clock=clock, image_processor=processor, fetch_still=cameras
    )  # type: ignore[arg-type]
    await hub.start()
    session = aiohttp.ClientSession()
    environment = Env(hub, city, clock, cameras, processor, session, tmp_path, lambda: None)

    async def restart() -> None:
        await environment.hub.stop()
        environment.hub = await Hub.create(
            options, tmp_path, clock=clock, image_processor=FakeProcessor(), fetch_still=cameras
        )  # type: ignore[arg-type]
        await environment.hub.start()

    environment.restart = restart
    try:
        yield environment
    finally:
        await session.close()
        await environment.hub.stop()
