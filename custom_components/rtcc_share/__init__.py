"""RTCC Share: resident-controlled camera sharing with a Real Time Crime Center.

The add-on is the only enforcement point; this integration is the owner's view of it
and drives it through its control API.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from . import websocket_api
from .cameras import async_follow_renames, async_migrate_share_unique_ids
from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .panel import async_register_panel, async_register_static, async_unregister_panel
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.DATETIME,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, the panel's commands and files, before any entry loads."""
    async_setup_services(hass)
    websocket_api.async_setup(hass)
    await async_register_static(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: RtccShareConfigEntry) -> bool:
    """Connect to the add-on, then follow its event stream."""
    coordinator = RtccShareCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await async_migrate_share_unique_ids(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(async_follow_renames(hass, coordinator))
    coordinator.async_start_listening()
    await async_register_panel(hass)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: RtccShareConfigEntry) -> bool:
    """Unload; the event-stream task ends with the entry, the panel with the last one."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded and not any(
        other.state is ConfigEntryState.LOADED
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id
    ):
        async_unregister_panel(hass)
    return unloaded
