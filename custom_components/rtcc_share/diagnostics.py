"""Diagnostics for RTCC Share.

The control token, the home's location, any hub keys and any relay credentials never
leave Home Assistant in a diagnostics download: the home location is exactly what the
add-on keeps from the city.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from yarl import URL

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
    "username",
    "password",
    "key_file",
    "cert_file",
}


def _without_credentials(url: str) -> str:
    """A relay URL as a person may share it: no user, password, query or fragment."""
    try:
        parsed = URL(url)
    except ValueError:
        return "**REDACTED**"
    if not parsed.absolute:
        return "**REDACTED**"
    return str(parsed.with_user(None).with_password(None).with_query(None).with_fragment(None))


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: RtccShareConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    coordinator = entry.runtime_data
    state = coordinator.data
    # Whether the add-on's hash chain holds: the first thing to know when in doubt.
    try:
        audit: dict[str, Any] = asdict(await coordinator.client.verify())
    except RtccShareError as err:
        audit = {"error": err.message}
    history = [
        {
            "unlock_id": record.unlock_id,
            "hub": record.hub,
            "status": record.status,
            "reason": record.reason,
            "received": record.received,
            "start": record.start,
            "end": record.end,
            "snapshots": record.snapshots,
            "frames": record.frames,
            "bytes": record.bytes,
            "clips": len(record.clips),
        }
        for record in list(coordinator.history.newest_first())[:20]
    ]
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "connected": coordinator.last_update_success,
            "audit": audit,
            "last_seq": coordinator.last_seq,
            "home_id": state.home_id,
            "policy": state.policy.as_document() | {"revision": state.policy.revision},
            "unlocks": [asdict(unlock) for unlock in state.unlocks],
            "counters": asdict(state.counters),
            "relays": [
                {
                    "hub": relay.hub,
                    "hub_name": coordinator.hub_name(relay.hub),
                    "url": _without_credentials(relay.url),
                    "connected": relay.connected,
                    "since": relay.since,
                    "last_error": relay.last_error,
                }
                for relay in state.relays
            ],
            "history_kept": len(coordinator.history),
            "history": history,
        },
        TO_REDACT,
    )
