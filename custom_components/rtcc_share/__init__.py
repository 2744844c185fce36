"""RTCC Share: resident-controlled camera sharing with a Real Time Crime Center.

The add-on is the only enforcement point; this integration is the owner's view of it
and drives it through its control API.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR, Platform.SWITCH]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, so automations validate even before an entry loads."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: RtccShareConfigEntry) -> bool:
    """Connect to the add-on, then follow its event stream."""
    coordinator = RtccShareCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start_listening()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: RtccShareConfigEntry) -> bool:
    """Unload; the event-stream task ends with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
