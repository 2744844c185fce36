"""Property: the same random sequence of unlocks, policy changes, owner decisions, accesses,
clock moves and restarts, driven once over HTTP and once over a relay on a real Mosquitto,
gives the same answers step by step (PROTOCOL.md section 6: "everything of section 3 holds
unchanged over a relay"), and the access model holds on both."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings

from rtcc_hub.app import AddOn, open_state
from rtcc_hub.city.client import CityApiError
from rtcc_hub.city.relay import CityRelay
from tests.hub.unit.test_property import CITY, OPERATIONS, run_operations
from tests.support.broker import Broker
from tests.support.relay_fixtures import eventually, relay_entry


class HttpCarriage:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._url = ""

    async def start(self, addon: AddOn) -> None:
        self._session = aiohttp.ClientSession()
        self._url = f"http://127.0.0.1:{addon.city_port}"

    async def call(
        self, method: str, path: str, body: bytes = b"", authorization: str | None = None
    ) -> tuple[int, bytes]:
        assert self._session is not None
        headers = {"Authorization": authorization} if authorization else {}
        async with self._session.request(method, self._url + path, data=body, headers=headers) as r:
            return r.status, await r.read()

    async def first_frame(self, path: str, authorization: str) -> int:
        assert self._session is not None
        async with self._session.get(
            self._url + path, headers={"Authorization": authorization}
        ) as response:
            if response.status != 200:
                return response.status
            async for line in response.content:
                if line.startswith(b"\xff\xd8"):  # a JPEG started: a frame arrived
                    return 200
            return 503

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class RelayCarriage:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._relay: CityRelay | None = None
        self._home = ""

    async def start(self, addon: AddOn) -> None:
        await eventually(lambda: addon.relays.relays[0].connected, within=20)
        user = self._broker.city_username
        self._relay = CityRelay(
            self._broker.url("mqtt"), username=user, password=self._broker.password(user)
        )
        await self._relay.__aenter__()
        self._home = addon.home_id

    async def call(
        self, method: str, path: str, body: bytes = b"", authorization: str | None = None
    ) -> tuple[int, bytes]:
        assert self._relay is not None
        answer = await self._relay.request(
            self._home, method, path, body=body, authorization=authorization
        )
        return answer.status, answer.body

    async def first_frame(self, path: str, authorization: str) -> int:
        assert self._relay is not None
        frames = self._relay.stream(self._home, path, authorization).frames()
        try:
            async with contextlib.aclosing(frames) as it:
                async for frame in it:
                    assert frame.startswith(b"\xff\xd8")
                    return 200
        except CityApiError as err:
            return err.status
        return 503

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.__aexit__(None, None, None)
            self._relay = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, mosquitto: None) -> Iterator[Broker]:
    with Broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


async def _both(operations: list[tuple[Any, ...]], broker: Broker) -> None:
    over_http = await run_operations(operations, HttpCarriage(), city_http=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        state = await open_state(data, lambda: 0.0)  # the home's id, for its credentials
        home_id = state.home_id
        await state.store.close()
        await asyncio.to_thread(broker.add_home, home_id)
        relay = {"city_http": False, "relays": [relay_entry(broker, home_id, CITY)]}
        over_relay = await run_operations(
            operations, RelayCarriage(broker), extra_options=relay, data_dir=data
        )
    assert over_relay == over_http


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
def test_http_and_relay_answer_alike(broker: Broker, operations: list[tuple[Any, ...]]) -> None:
    asyncio.run(_both(operations, broker))
