"""Fixtures: a real add-on on loopback, a stand-in Home Assistant for its camera images.

Every test gets its own add-on process and data dir, so policies, quotas and audit logs
never leak between tests.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

# Import the integration before the hass fixture starts: pytest-homeassistant-custom-
# component ships its own `custom_components` package, and ours must win.
import custom_components.rtcc_share  # noqa: F401
from custom_components.rtcc_share import coordinator as rtcc_coordinator
from custom_components.rtcc_share.const import CONF_TOKEN, CONF_URL, DOMAIN
from tests.support.city import DEFAULT_HOME, CityHub
from tests.support.hub_process import HubProcess
from tests.support.standin_ha import StandinHA

from .helpers import base_policy, control

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault(
    "RTCC_TURBOJPEG_LIB",
    str(REPO / ".cache/py314/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"),
)

CAMERAS = ("camera.front_door", "camera.back_yard")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/rtcc_share."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer (registry ids and times are left out)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Real sockets: the add-on is a real process (connects stay limited to 127.0.0.1)."""


@pytest.fixture(autouse=True)
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect quickly so that going away and coming back fits in a test."""
    monkeypatch.setattr(rtcc_coordinator.const, "RECONNECT_MIN", 0.05)
    monkeypatch.setattr(rtcc_coordinator.const, "RECONNECT_MAX", 0.2)


@pytest.fixture
async def home(hass: HomeAssistant) -> None:
    """Home Assistant's home zone where the city's default incident area is, and cameras."""
    await hass.config.async_update(latitude=DEFAULT_HOME["lat"], longitude=DEFAULT_HOME["lon"])
    for entity_id in CAMERAS:
        name = entity_id.split(".")[1].replace("_", " ").capitalize()
        hass.states.async_set(entity_id, "idle", {"friendly_name": name})


@pytest.fixture
async def standin() -> AsyncIterator[StandinHA]:
    """The Home Assistant the add-on reads camera images from."""
    async with StandinHA(token="standin-ha-token", cameras=list(CAMERAS)) as ha:
        yield ha


@pytest.fixture
def city() -> CityHub:
    """The city hub: signs unlock tokens."""
    return CityHub.generate()


@pytest.fixture
async def hub(tmp_path: Path, standin: StandinHA, city: CityHub) -> AsyncIterator[HubProcess]:
    """A real add-on, started as `python -m rtcc_hub` on loopback."""
    process = HubProcess(
        tmp_path / "data",
        hubs=[city.hub_config()],
        ha_url=standin.url,
        ha_token=standin.token,
    )
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop, check=False)
        process.kill()


@pytest.fixture
async def sharing(hub: HubProcess) -> dict[str, Any]:
    """The add-on with the base policy stored."""
    status, body = await control(hub, "PUT", "/control/v1/policy", base_policy())
    assert status == 200, body
    return dict(body)


@pytest.fixture
def config_entry(hub: HubProcess) -> MockConfigEntry:
    """A config entry for the add-on."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="RTCC Share",
        unique_id=hub.home_id,
        data={CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, home: None, config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The integration set up against the add-on (unloaded at the end)."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


type Unlocker = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def unlock(hub: HubProcess, city: CityHub) -> AsyncIterator[Unlocker]:
    """POST an unlock as the city; returns the 201 body."""
    async with aiohttp.ClientSession() as session:

        async def post(*, expected: int = 201, **claims: Any) -> dict[str, Any]:
            token = city.token(hub.home_id, **claims)
            async with session.post(
                f"{hub.city_url}/api/v1/unlocks", json={"token": token}
            ) as response:
                body = await response.json()
                assert response.status == expected, body
                return dict(body)

        yield post
