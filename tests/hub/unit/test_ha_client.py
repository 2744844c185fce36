"""Home Assistant client against the shared stand-in Home Assistant."""

from __future__ import annotations

import time

import aiohttp
import pytest

from rtcc_hub import ha_client
from rtcc_hub.ha_client import CameraUnavailable, HomeAssistantClient
from tests.support.standin_ha import StandinHA


async def test_fetches_a_still_with_the_bearer_token() -> None:
    async with StandinHA(token="t", cameras=["camera.front_door"]) as ha:
        async with aiohttp.ClientSession() as session:
            client = HomeAssistantClient(session, ha.url + "/", "t")
            still = await client.fetch_still("camera.front_door")
        assert still.startswith(b"\xff\xd8")
        assert ha.requests("camera.front_door") == 1


@pytest.mark.parametrize("mode", ["error", "not_found"])
async def test_http_errors_are_unavailable(mode: str) -> None:
    async with StandinHA(token="t", cameras=["camera.a"]) as ha:
        ha.set_mode("camera.a", mode)
        async with aiohttp.ClientSession() as session:
            with pytest.raises(CameraUnavailable, match="HTTP"):
                await HomeAssistantClient(session, ha.url, "t").fetch_still("camera.a")


async def test_wrong_token_is_unavailable() -> None:
    async with StandinHA(token="t", cameras=["camera.a"]) as ha, aiohttp.ClientSession() as session:
        with pytest.raises(CameraUnavailable):
            await HomeAssistantClient(session, ha.url, "wrong").fetch_still("camera.a")


async def test_hanging_home_assistant_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ha_client, "FETCH_TIMEOUT_S", 0.3)
    async with StandinHA(token="t", cameras=["camera.a"], hang_s=5) as ha:
        ha.set_mode("camera.a", "hang")
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            with pytest.raises(CameraUnavailable, match="Timeout"):
                await HomeAssistantClient(session, ha.url, "t").fetch_still("camera.a")
            assert time.monotonic() - started < 2


async def test_unreachable_home_assistant() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(CameraUnavailable):
            await HomeAssistantClient(session, "http://127.0.0.1:9", "t").fetch_still("camera.a")


async def test_oversized_still_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ha_client, "MAX_STILL_BYTES", 100)
    async with StandinHA(token="t", cameras=["camera.a"]) as ha, aiohttp.ClientSession() as session:
        with pytest.raises(CameraUnavailable, match="too large"):
            await HomeAssistantClient(session, ha.url, "t").fetch_still("camera.a")
