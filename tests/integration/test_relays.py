"""Relays of the real add-on (PROTOCOL.md section 6) as the integration shows them: a
connectivity sensor per relay, on while the add-on's connection to the city's broker is up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.support.broker import Broker, mosquitto_binary
from tests.support.city import CityHub
from tests.support.hub_process import HubProcess
from tests.support.relay_fixtures import relay_entry

from .helpers import wait_for

SENSOR = "binary_sensor.camera_sharing_connected_to_jackson_rtcc"


async def test_the_relay_sensor_follows_the_add_ons_connection(
    hass: HomeAssistant,
    home: None,
    hub: HubProcess,
    city: CityHub,
    config_entry: MockConfigEntry,
    tmp_path: Path,
) -> None:
    mosquitto_binary()  # the broker setup fetched into .cache
    broker = Broker(tmp_path / "broker", homes=[hub.home_id])
    await asyncio.to_thread(broker.start)
    try:
        hub.options["city_http"] = False
        hub.options["relays"] = [relay_entry(broker, hub.home_id, city)]
        await asyncio.to_thread(hub.restart)
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await wait_for(
            lambda: (state := hass.states.get(SENSOR)) is not None and state.state == STATE_ON,
            wait_s=20,
            what="the relay sensor on",
        )
        assert hass.states.get(SENSOR).attributes["friendly_name"] == (  # type: ignore[union-attr]
            "Camera sharing Connected to Jackson RTCC"
        )
        await asyncio.to_thread(broker.stop)  # the city's broker goes away
        await wait_for(
            lambda: hass.states.get(SENSOR).state == STATE_OFF,  # type: ignore[union-attr]
            wait_s=20,
            what="the relay sensor off",
        )
        await asyncio.to_thread(broker.start)
        await wait_for(
            lambda: hass.states.get(SENSOR).state == STATE_ON,  # type: ignore[union-attr]
            wait_s=60,
            what="the relay sensor on again",
        )
    finally:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()
        await asyncio.to_thread(broker.stop)
