"""Events on Home Assistant's bus for automations: one per unlock status, one per access.

Each carries the ids (stable, for conditions) and the names a person reads: the city
hub's name beside its id, the camera's public label beside its entity id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant, callback

from .api import AuditEntry, Policy
from .const import EVENT_ACCESS, EVENT_UNLOCK
from .history import FINAL_STATUSES

# Audit events that are an access of the city, and the `action` their bus event carries.
ACCESS_ACTIONS = {
    "stream_opened": "stream_opened",
    "stream_closed": "stream_closed",
    "snapshot_served": "snapshot",
    "clip_requested": "clip_requested",
    "clip_prepared": "clip_prepared",
    "clip_served": "clip_served",
}


@dataclass(frozen=True, slots=True)
class Names:
    """What the integration knows to name hubs and cameras with."""

    hubs: Mapping[str, str]
    policy: Policy

    def hub(self, hub_id: str | None) -> str | None:
        """A hub's name; its id when the add-on has not told it."""
        if hub_id is None:
            return None
        return self.hubs.get(hub_id, hub_id)

    def camera(self, entity_id: str | None) -> str | None:
        """A camera's public label, or None when it is not (or no longer) in the policy."""
        return None if entity_id is None else self.policy.label_of(entity_id)


def unlock_event(entry_id: str, entry: AuditEntry, names: Names) -> dict[str, Any]:
    """The `rtcc_share_unlock` event of an `unlock_status` audit entry."""
    detail = entry.detail
    status = detail.get("status")
    raw_cameras = detail.get("cameras")
    cameras = [str(c) for c in raw_cameras] if isinstance(raw_cameras, list) else []
    return {
        "config_entry_id": entry_id,
        "unlock_id": entry.unlock_id,
        "hub": entry.hub,
        "hub_name": names.hub(entry.hub),
        "incident_id": detail.get("incident_id"),
        "offense": detail.get("offense"),
        "status": status,
        "previous": detail.get("previous"),
        "reason": detail.get("reason"),
        "cameras": cameras,
        "camera_labels": [names.camera(c) or c for c in cameras],
        "expires_at": detail.get("expires_at"),
        "end_reason": detail.get("reason") if status in FINAL_STATUSES else None,
    }


def access_event(entry_id: str, entry: AuditEntry, names: Names) -> dict[str, Any] | None:
    """The `rtcc_share_access` event of an access audit entry, or None for other entries."""
    action = ACCESS_ACTIONS.get(entry.event)
    if action is None:
        return None
    detail = entry.detail
    camera = detail.get("entity_id")
    return {
        "config_entry_id": entry_id,
        "unlock_id": entry.unlock_id,
        "hub": entry.hub,
        "hub_name": names.hub(entry.hub),
        "action": action,
        "camera": camera,
        "camera_label": names.camera(camera if isinstance(camera, str) else None),
        "viewer": detail.get("viewer"),
        "frames": detail.get("frames"),
        "bytes": detail.get("bytes"),
        "reason": detail.get("reason"),
        "clip_id": detail.get("clip_id"),
        "start": detail.get("start"),
        "end": detail.get("end"),
    }


@callback
def async_fire_for(hass: HomeAssistant, entry_id: str, entry: AuditEntry, names: Names) -> None:
    """Fire the bus event an audit entry stands for, if any."""
    if entry.event == "unlock_status":
        hass.bus.async_fire(EVENT_UNLOCK, unlock_event(entry_id, entry, names))
    elif (data := access_event(entry_id, entry, names)) is not None:
        hass.bus.async_fire(EVENT_ACCESS, data)
