"""Actions for RTCC Share: pause and resume sharing, and decide on unlocks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import homeassistant.util.dt as dt_util
import probatio
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import service

from .api import RtccShareClient
from .const import DOMAIN
from .coordinator import RtccShareCoordinator
from .helpers import addon_errors

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

# Unlock actions, each a call of the client with the unlock id.
_UNLOCK_ACTIONS: dict[str, Callable[[RtccShareClient, str], Awaitable[Any]]] = {
    SERVICE_REVOKE: RtccShareClient.revoke,
    SERVICE_APPROVE: RtccShareClient.approve,
    SERVICE_DECLINE: RtccShareClient.decline,
}


def _coordinator(call: ServiceCall) -> RtccShareCoordinator:
    """Return the coordinator of the entry named in the call, or of the only one."""
    entry = service.async_get_config_entry(call.hass, DOMAIN, call.data.get(ATTR_CONFIG_ENTRY_ID))
    coordinator: RtccShareCoordinator = entry.runtime_data
    return coordinator


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _async_pause(call: ServiceCall) -> None:
    coordinator = _coordinator(call)
    now = dt_util.utcnow()
    try:
        if (duration := call.data.get(ATTR_DURATION)) is not None:
            until = now + duration
        else:
            until = call.data[ATTR_UNTIL]
            if until.tzinfo is None:  # a bare time is the home's local time
                until = until.replace(tzinfo=dt_util.get_default_time_zone())
            if until <= now:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="pause_in_past",
                    translation_placeholders={"until": until.isoformat()},
                )
        # The add-on stores whole seconds; round up so the pause is never shorter.
        until = until.replace(microsecond=0) + timedelta(seconds=1 if until.microsecond else 0)
        paused_until = _rfc3339(until)
    except OverflowError as err:  # beyond the year 9999
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="pause_too_long"
        ) from err
    await coordinator.async_update_policy(lambda p: p.to_put(paused_until=paused_until))


async def _async_resume(call: ServiceCall) -> None:
    coordinator = _coordinator(call)
    await coordinator.async_update_policy(lambda p: p.to_put(paused_until=None))


async def _async_revoke_all(call: ServiceCall) -> None:
    coordinator = _coordinator(call)
    with addon_errors(coordinator):
        await coordinator.client.revoke_all()
    await coordinator.async_request_refresh()


async def _async_unlock_action(call: ServiceCall) -> None:
    coordinator = _coordinator(call)
    unlock_id: str = call.data[ATTR_UNLOCK_ID]
    with addon_errors(coordinator, unlock_id):
        await _UNLOCK_ACTIONS[call.service](coordinator.client, unlock_id)
    await coordinator.async_request_refresh()


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions."""
    hass.services.async_register(DOMAIN, SERVICE_PAUSE, _async_pause, schema=PAUSE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_RESUME, _async_resume, schema=ENTRY_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_REVOKE_ALL, _async_revoke_all, schema=ENTRY_SCHEMA)
    for name in _UNLOCK_ACTIONS:
        hass.services.async_register(DOMAIN, name, _async_unlock_action, schema=UNLOCK_SCHEMA)
