"""Actions for RTCC Share: pause and resume sharing, and decide on unlocks."""

from __future__ import annotations

import homeassistant.util.dt as dt_util
import probatio
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import service

from .const import DOMAIN
from .coordinator import RtccShareCoordinator
from .datetime import pause_end

ATTR_DURATION = "duration"
ATTR_UNTIL = "until"
ATTR_UNLOCK_ID = "unlock_id"

SERVICE_PAUSE = "pause_sharing"
SERVICE_RESUME = "resume_sharing"
SERVICE_REVOKE = "revoke_unlock"
SERVICE_REVOKE_ALL = "revoke_all"
SERVICE_APPROVE = "approve_unlock"
SERVICE_DECLINE = "decline_unlock"

_ENTRY = {probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}

ENTRY_SCHEMA = probatio.Schema(_ENTRY)
UNLOCK_SCHEMA = probatio.Schema({**_ENTRY, probatio.Required(ATTR_UNLOCK_ID): cv.string})
PAUSE_SCHEMA = probatio.All(
    probatio.Schema(
        {
            **_ENTRY,
            probatio.Optional(ATTR_DURATION): cv.positive_time_period,
            probatio.Optional(ATTR_UNTIL): cv.datetime,
        }
    ),
    # Exactly one: a pause with both would leave the owner guessing which one wins.
    probatio.ExactlyOne(ATTR_DURATION, ATTR_UNTIL),
)

# Unlock actions and the add-on's name for each.
_UNLOCK_ACTIONS = {
    SERVICE_REVOKE: "revoke",
    SERVICE_APPROVE: "approve",
    SERVICE_DECLINE: "decline",
}


def _coordinator(call: ServiceCall) -> RtccShareCoordinator:
    """Return the coordinator of the entry named in the call, or of the only one."""
    entry = service.async_get_config_entry(call.hass, DOMAIN, call.data.get(ATTR_CONFIG_ENTRY_ID))
    coordinator: RtccShareCoordinator = entry.runtime_data
    return coordinator


async def _async_pause(call: ServiceCall) -> None:
    coordinator = _coordinator(call)
    try:
        if (duration := call.data.get(ATTR_DURATION)) is not None:
            until = dt_util.utcnow() + duration
        else:
            until = call.data[ATTR_UNTIL]
    except OverflowError as err:  # beyond the year 9999
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="pause_too_long"
        ) from err
    await coordinator.async_pause(pause_end(until))


async def _async_resume(call: ServiceCall) -> None:
    await _coordinator(call).async_resume()


async def _async_revoke_all(call: ServiceCall) -> None:
    await _coordinator(call).async_revoke_all()


async def _async_unlock_action(call: ServiceCall) -> None:
    await _coordinator(call).async_unlock_action(
        _UNLOCK_ACTIONS[call.service], call.data[ATTR_UNLOCK_ID]
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions."""
    hass.services.async_register(DOMAIN, SERVICE_PAUSE, _async_pause, schema=PAUSE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_RESUME, _async_resume, schema=ENTRY_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_REVOKE_ALL, _async_revoke_all, schema=ENTRY_SCHEMA)
    for name in _UNLOCK_ACTIONS:
        hass.services.async_register(DOMAIN, name, _async_unlock_action, schema=UNLOCK_SCHEMA)
