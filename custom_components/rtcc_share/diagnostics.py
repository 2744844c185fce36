"""Diagnostics for RTCC Share.

The control token, the home's location and any hub keys never leave Home Assistant in a
diagnostics download: the home location is exactly what the add-on keeps from the city.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .api import RtccShareError
from .const import CONF_TOKEN
from .coordinator import RtccShareConfigEntry

TO_REDACT = {
    CONF_TOKEN,
    "control_token",
    "access_token",
    "home",
    "lat",
    "lon",
    "latitude",
    "longitude",
    "public_key",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: RtccShareConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    coordinator = entry.runtime_data
    state = coordinator.data
    # Whether the add-on's hash chain holds: the first thing to know when in doubt.
    try:
        audit: dict[str, Any] = await coordinator.client.verify()
    except RtccShareError as err:
        audit = {"error": err.message}
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "connected": coordinator.last_update_success,
            "audit": audit,
            "last_seq": coordinator.last_seq,
            "home_id": state.home_id,
            "policy": state.policy.document,
            "unlocks": [asdict(unlock) for unlock in state.unlocks],
            "counters": asdict(state.counters),
            "history": coordinator.history.records(),
        },
        TO_REDACT,
    )
