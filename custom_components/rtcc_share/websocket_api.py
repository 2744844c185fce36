"""Websocket commands for the Camera sharing panel: admin only, validated, translated.

Every command names its config entry (or there is only one loaded) and answers either
with data or with a translated error; a command refused for its input changes nothing.
The add-on stays the authority: a policy it refuses is reported with its reason.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import homeassistant.util.dt as dt_util
import probatio
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import (
    async_response,
    require_admin,
    websocket_command,
)
from homeassistant.components.websocket_api.messages import event_message
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import VolDictType

from . import const
from .api import (
    Mode,
    Policy,
    PolicyCamera,
    Polygon,
    Recorder,
    RecorderSource,
    Unlock,
    has_visible_text,
)
from .cameras import (
    CAMERA_DOMAIN,
    FRIGATE_CAMERA_NAME_MAX,
    friendly_name,
    is_frigate_camera_name,
    recorder_choices,
    suggested_recorder,
)
from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .datetime import pause_end, paused_until
from .helpers import addon_errors
from .history import UnlockRecord

ATTR_ENTRY_ID = "entry_id"

# What the add-on calls its ids: "u_" and URL-safe base64; anything else cannot be one.
_UNLOCK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HISTORY_STATUSES = ("received", "pending", "active", "suspended", "declined", "ended")
# The longest pause the panel offers to type in: ten years.
PAUSE_MAX_MINUTES = 10 * 365 * 24 * 60


def _strict_number(value: Any) -> float:
    """A JSON number (never a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise probatio.Invalid("expected a number")
    return value


def _strict_int(value: Any) -> int:
    """A JSON integer (never a boolean, never 1.5)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise probatio.Invalid("expected an integer")
    return int(value)


def _between(check: Callable[[Any], Any], low: float, high: float) -> probatio.All[Any]:
    return probatio.All(check, probatio.Range(min=low, max=high))


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise probatio.Invalid("expected true or false")
    return value


def _point(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise probatio.Invalid("a point is [x, y]")
    x, y = (_strict_number(v) for v in value)
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise probatio.Invalid("point coordinates are from 0 to 1")
    return (float(x), float(y))


def _polygon(value: Any) -> Polygon:
    if not isinstance(value, list | tuple):
        raise probatio.Invalid("a mask is a list of points")
    if not const.MASK_POINTS_MIN <= len(value) <= const.MASK_POINTS_MAX:
        raise probatio.Invalid(
            f"a mask has {const.MASK_POINTS_MIN} to {const.MASK_POINTS_MAX} points"
        )
    return tuple(_point(point) for point in value)


def _masks(value: Any) -> tuple[Polygon, ...]:
    if not isinstance(value, list | tuple):
        raise probatio.Invalid("masks is a list of polygons")
    if len(value) > const.MASKS_MAX:
        raise probatio.Invalid(f"at most {const.MASKS_MAX} masks")
    return tuple(_polygon(polygon) for polygon in value)


def _unlock_id(value: Any) -> str:
    if not isinstance(value, str) or not _UNLOCK_ID.fullmatch(value):
        raise probatio.Invalid("not an unlock id")
    return value


def _recorder(value: Any) -> Recorder | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise probatio.Invalid("a recorder is an object with a source, or null")
    source = value.get("source")
    if source == RecorderSource.FRIGATE and set(value) == {"source", "camera"}:
        camera = value["camera"]
        if not isinstance(camera, str):
            raise probatio.Invalid("a Frigate camera name is text")
        # Frigate's naming rule is checked by the command itself, for a translated error
        # the panel can show at the name field (a schema error has no translation).
        return Recorder(RecorderSource.FRIGATE, camera)
    if source == RecorderSource.UNIFIPROTECT and set(value) == {"source"}:
        return Recorder(RecorderSource.UNIFIPROTECT)
    raise probatio.Invalid('a recorder is {"source": "frigate", "camera": NAME} or unifiprotect')


def _label(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > const.LABEL_MAX:
        raise probatio.Invalid(f"a label is text of at most {const.LABEL_MAX} characters")
    # No visible text is no label: the city sees "Camera N" (PROTOCOL.md section 2).
    return value.strip() if has_visible_text(value) else None


def _offenses(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > const.EXCLUDED_MAX:
        raise probatio.Invalid(f"a list of at most {const.EXCLUDED_MAX} offenses")
    offenses: dict[str, None] = {}
    for offense in value:
        if not isinstance(offense, str) or len(offense) > 200:
            raise probatio.Invalid("an offense is text of at most 200 characters")
        if offense.strip():
            offenses[offense.strip().lower()] = None
    return tuple(offenses)


_ENTRY: VolDictType = {probatio.Optional(ATTR_ENTRY_ID): str}
_CAMERA_ENTITY = cv.entity_domain(CAMERA_DOMAIN)

# Home-wide rules the panel edits, with the hard limits of PROTOCOL.md section 2.
_RULES: VolDictType = {
    probatio.Optional("consent"): _strict_bool,
    probatio.Optional("mode"): probatio.In([str(m) for m in Mode]),
    probatio.Optional("ask_timeout_s"): _between(
        _strict_int, const.ASK_TIMEOUT_MIN_S, const.ASK_TIMEOUT_MAX_S
    ),
    probatio.Optional("max_radius_m"): _between(
        _strict_number, const.RADIUS_MIN_M, const.RADIUS_MAX_M
    ),
    probatio.Optional("max_duration_s"): _between(
        _strict_int, const.DURATION_MIN_S, const.DURATION_MAX_S
    ),
    probatio.Optional("max_unlocks_per_week"): _between(_strict_int, 0, const.UNLOCKS_PER_WEEK_MAX),
    probatio.Optional("allow_live"): _strict_bool,
    probatio.Optional("require_case_number"): _strict_bool,
    probatio.Optional("excluded_offenses"): _offenses,
    probatio.Optional("allow_clips"): _strict_bool,
    probatio.Optional("max_clip_s"): _between(_strict_int, const.CLIP_MIN_S, const.CLIP_MAX_S),
    probatio.Optional("max_clip_age_s"): _between(
        _strict_int, const.CLIP_AGE_MIN_S, const.CLIP_AGE_MAX_S
    ),
}


@callback
def async_setup(hass: HomeAssistant) -> None:
    """Register the panel's commands."""
    for command in (
        ws_state,
        ws_subscribe,
        ws_unlock_action,
        ws_revoke_all,
        ws_pause,
        ws_resume,
        ws_rules,
        ws_camera_save,
        ws_camera_remove,
        ws_preview,
        ws_history,
        ws_history_unlock,
        ws_audit,
    ):
        async_register_command(hass, command)


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _loaded_entries(hass: HomeAssistant) -> list[RtccShareConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _coordinator(hass: HomeAssistant, msg: Mapping[str, Any]) -> RtccShareCoordinator:
    """The coordinator of the entry the message names, or of the only loaded one."""
    loaded = _loaded_entries(hass)
    if (entry_id := msg.get(ATTR_ENTRY_ID)) is not None:
        for entry in loaded:
            if entry.entry_id == entry_id:
                return entry.runtime_data
        raise _error("entry_not_loaded", entry_id=entry_id)
    if len(loaded) == 1:
        return loaded[0].runtime_data
    if not loaded:
        raise _error("no_entry_loaded")
    raise _error("entry_required")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# The panel's view of things


def _policy_view(coordinator: RtccShareCoordinator) -> dict[str, Any]:
    policy = coordinator.data.policy
    return {
        "consent": policy.consent,
        "paused_until": _iso(paused_until(coordinator)),
        "mode": str(policy.mode),
        "ask_timeout_s": policy.ask_timeout_s,
        "max_radius_m": policy.max_radius_m,
        "max_duration_s": policy.max_duration_s,
        "max_unlocks_per_week": policy.max_unlocks_per_week,
        "allow_live": policy.allow_live,
        "require_case_number": policy.require_case_number,
        "excluded_offenses": list(policy.excluded_offenses),
        "allow_clips": policy.allow_clips,
        "max_clip_s": policy.max_clip_s,
        "max_clip_age_s": policy.max_clip_age_s,
        "revision": policy.revision,
    }


def _recorder_view(recorder: Recorder | None) -> dict[str, Any] | None:
    return None if recorder is None else recorder.as_dict()


def _camera_views(hass: HomeAssistant, policy: Policy) -> list[dict[str, Any]]:
    """Every camera of the home, and every camera of the policy, in the policy's order."""
    in_ha = sorted(hass.states.async_entity_ids(CAMERA_DOMAIN))
    ordered = [c.entity_id for c in policy.cameras]
    ordered += [entity_id for entity_id in in_ha if entity_id not in ordered]
    views = []
    for entity_id in ordered:
        camera = policy.camera(entity_id)
        views.append(
            {
                "entity_id": entity_id,
                "name": friendly_name(hass, entity_id),
                "exists": hass.states.get(entity_id) is not None,
                "in_policy": camera is not None,
                "share": camera.share if camera else False,
                "label": camera.label if camera else None,
                # What the city sees; for a camera not in the policy, what it would see.
                "public_label": policy.public_label(camera)
                if camera
                else f"Camera {len(policy.cameras) + 1}",
                "masks": [[list(p) for p in polygon] for polygon in camera.masks] if camera else [],
                "max_width": camera.max_width if camera else None,
                "max_fps": camera.max_fps if camera else 2.0,
                "recorder": _recorder_view(camera.recorder if camera else None),
                "recorder_choices": [
                    {**choice.recorder.as_dict(), "suggested": choice.suggested}
                    for choice in recorder_choices(hass, entity_id)
                ],
                "suggested_recorder": _recorder_view(suggested_recorder(hass, entity_id)),
            }
        )
    return views


def _unlock_view(coordinator: RtccShareCoordinator, unlock: Unlock) -> dict[str, Any]:
    viewing = coordinator.viewing(dt_util.utcnow())
    return {
        "unlock_id": unlock.unlock_id,
        "hub": unlock.hub,
        "hub_name": unlock.hub_name,
        "incident_id": unlock.incident_id,
        "case_number": unlock.case_number,
        "offense": unlock.offense,
        "summary": unlock.summary,
        "scope": list(unlock.scope),
        "status": str(unlock.status),
        "created_at": _iso(unlock.created_at),
        "expires_at": _iso(unlock.expires_at),
        "decides_by": _iso(unlock.decides_by),
        "cameras": [{"entity_id": c.entity_id, "label": c.label} for c in unlock.cameras],
        "viewers": unlock.viewers,
        "viewing": sorted(
            {
                coordinator.names.camera(v.entity_id) or v.entity_id
                for v in viewing
                if v.unlock_id == unlock.unlock_id
            }
        ),
        "snapshots": unlock.snapshots,
        "frames": unlock.frames,
        "bytes": unlock.bytes,
    }


def panel_state(hass: HomeAssistant, coordinator: RtccShareCoordinator) -> dict[str, Any]:
    """Everything the panel shows of one entry, in one message."""
    state = coordinator.data
    names = coordinator.names
    now = dt_util.utcnow()
    return {
        "entry_id": coordinator.config_entry.entry_id,
        "title": coordinator.config_entry.title,
        "entries": [{"entry_id": e.entry_id, "title": e.title} for e in _loaded_entries(hass)],
        "available": coordinator.last_update_success,
        "now": now.isoformat(),
        "policy": _policy_view(coordinator),
        "cameras": _camera_views(hass, state.policy),
        "unlocks": [_unlock_view(coordinator, unlock) for unlock in state.unlocks],
        "viewing": [
            {
                "unlock_id": v.unlock_id,
                "hub_name": names.hub(v.hub),
                "camera": names.camera(v.entity_id) or v.entity_id,
                "incident_id": (u.incident_id if (u := state.unlock(v.unlock_id)) else None),
            }
            for v in coordinator.viewing(now)
        ],
        "relays": [
            {
                "hub": relay.hub,
                "hub_name": coordinator.hub_name(relay.hub),
                "url": relay.url,
                "connected": relay.connected,
                "since": _iso(relay.since),
                "last_error": relay.last_error,
            }
            for relay in state.relays
        ],
        "counters": {
            "unlocks_received": state.counters.unlocks_received,
            "unlocks_activated": state.counters.unlocks_activated,
            "unlocks_declined": state.counters.unlocks_declined,
            "snapshots_served": state.counters.snapshots_served,
            "frames_sent": state.counters.frames_sent,
            "bytes_sent": state.counters.bytes_sent,
            "last_shared": _iso(state.counters.last_shared),
        },
    }


# Reading


@websocket_command({probatio.Required("type"): "rtcc_share/state", **_ENTRY})
@require_admin
@callback
def ws_state(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Everything the panel shows, once."""
    coordinator = _coordinator(hass, msg)
    connection.send_result(msg["id"], panel_state(hass, coordinator))


@websocket_command({probatio.Required("type"): "rtcc_share/subscribe", **_ENTRY})
@require_admin
@callback
def ws_subscribe(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Everything the panel shows, now and after every change, until unsubscribed."""
    coordinator = _coordinator(hass, msg)

    @callback
    def send() -> None:
        connection.send_message(event_message(msg["id"], panel_state(hass, coordinator)))

    connection.subscriptions[msg["id"]] = coordinator.async_add_listener(send)
    connection.send_result(msg["id"])
    send()


@websocket_command(
    {
        probatio.Required("type"): "rtcc_share/history",
        **_ENTRY,
        probatio.Optional("offset", default=0): _between(_strict_int, 0, const.HISTORY_SIZE),
        probatio.Optional("limit", default=25): _between(_strict_int, 1, const.HISTORY_SIZE),
        probatio.Optional("hub"): probatio.All(str, probatio.Length(min=1, max=200)),
        probatio.Optional("status"): probatio.In(HISTORY_STATUSES),
    }
)
@require_admin
@callback
def ws_history(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """One page of unlocks, newest first, optionally only one hub's or one status."""
    coordinator = _coordinator(hass, msg)
    records = [
        record
        for record in coordinator.history.newest_first()
        if msg.get("hub") in (None, record.hub) and msg.get("status") in (None, record.status)
    ]
    page = records[msg["offset"] : msg["offset"] + msg["limit"]]
    hubs = sorted({r.hub for r in coordinator.history.newest_first() if r.hub})
    connection.send_result(
        msg["id"],
        {
            "total": len(records),
            "offset": msg["offset"],
            "records": [_record_view(hass, coordinator, record) for record in page],
            "hubs": [{"id": hub, "name": coordinator.hub_name(hub)} for hub in hubs],
            "kept": const.HISTORY_SIZE,
        },
    )


def _camera_name(hass: HomeAssistant, coordinator: RtccShareCoordinator, entity_id: str) -> str:
    """How the owner knows a camera: its public label, else its name in Home Assistant."""
    return coordinator.names.camera(entity_id) or friendly_name(hass, entity_id) or entity_id


def _record_view(
    hass: HomeAssistant, coordinator: RtccShareCoordinator, record: UnlockRecord
) -> dict[str, Any]:
    return {
        "unlock_id": record.unlock_id,
        "hub": record.hub,
        "hub_name": coordinator.hub_name(record.hub) if record.hub else None,
        "incident_id": record.incident_id,
        "case_number": record.case_number,
        "offense": record.offense,
        "scope": record.scope,
        "status": record.status,
        "reason": record.reason,
        "received": _iso(record.received),
        "start": _iso(record.start),
        "end": _iso(record.end),
        "cameras": [_camera_name(hass, coordinator, c) for c in record.cameras],
        "snapshots": record.snapshots,
        "frames": record.frames,
        "bytes": record.bytes,
        "clips": [
            {
                "clip_id": clip.clip_id,
                "camera": _camera_name(hass, coordinator, clip.entity_id)
                if clip.entity_id
                else None,
                "start": _iso(clip.start),
                "end": _iso(clip.end),
                "status": clip.status,
                "bytes": clip.bytes,
                "frames": clip.frames,
                "downloads": clip.downloads,
                "deleted_reason": clip.deleted_reason,
            }
            for clip in record.clips.values()
        ],
    }


@websocket_command(
    {
        probatio.Required("type"): "rtcc_share/history/unlock",
        **_ENTRY,
        probatio.Required("unlock_id"): _unlock_id,
    }
)
@require_admin
@async_response
async def ws_history_unlock(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """One unlock's audit entries (its access events), oldest first."""
    coordinator = _coordinator(hass, msg)
    if coordinator.history.get(msg["unlock_id"]) is None:
        raise _error("unlock_not_found", unlock_id=msg["unlock_id"])
    entries, truncated = await coordinator.async_unlock_entries(msg["unlock_id"])
    connection.send_result(
        msg["id"],
        {
            "events": [
                {
                    "seq": entry.seq,
                    "ts": entry.ts.isoformat(),
                    "event": entry.event,
                    "camera": _camera_name(hass, coordinator, str(entry.detail["entity_id"]))
                    if isinstance(entry.detail.get("entity_id"), str)
                    else None,
                    "detail": {
                        key: entry.detail[key]
                        for key in (
                            "status",
                            "previous",
                            "reason",
                            "bytes",
                            "frames",
                            "clip_id",
                            "start",
                            "end",
                        )
                        if key in entry.detail
                    },
                }
                for entry in entries
            ],
            "truncated": truncated,
        },
    )


@websocket_command({probatio.Required("type"): "rtcc_share/audit", **_ENTRY})
@require_admin
@async_response
async def ws_audit(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Whether the add-on's audit chain holds, with its head."""
    coordinator = _coordinator(hass, msg)
    with addon_errors(hass, coordinator.config_entry):
        result = await coordinator.client.verify()
    connection.send_result(
        msg["id"],
        {
            "ok": result.ok,
            "entries": result.entries,
            "head": result.head,
            "first_bad_seq": result.first_bad_seq,
        },
    )


@websocket_command(
    {
        probatio.Required("type"): "rtcc_share/preview",
        **_ENTRY,
        probatio.Required("entity_id"): _CAMERA_ENTITY,
        probatio.Optional("masks", default=list): _masks,
        probatio.Optional("max_width", default=None): probatio.Any(
            None, _between(_strict_int, const.WIDTH_MIN, const.WIDTH_MAX)
        ),
    }
)
@require_admin
@async_response
async def ws_preview(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """What the city would see of a camera now with these masks and width (a JPEG)."""
    coordinator = _coordinator(hass, msg)
    _require_camera(hass, msg["entity_id"])
    image = await coordinator.async_preview(msg["entity_id"], msg["masks"], msg["max_width"])
    connection.send_result(
        msg["id"],
        {"content_type": "image/jpeg", "image": base64.b64encode(image).decode("ascii")},
    )


# Writing


@websocket_command(
    {
        probatio.Required("type"): "rtcc_share/unlock",
        **_ENTRY,
        probatio.Required("unlock_id"): _unlock_id,
        probatio.Required("action"): probatio.In(["approve", "decline", "revoke"]),
    }
)
@require_admin
@async_response
async def ws_unlock_action(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Approve or decline a pending unlock, or revoke one."""
    coordinator = _coordinator(hass, msg)
    unlock = await coordinator.async_unlock_action(msg["action"], msg["unlock_id"])
    connection.send_result(msg["id"], {"unlock_id": unlock.unlock_id, "status": str(unlock.status)})


@websocket_command({probatio.Required("type"): "rtcc_share/revoke_all", **_ENTRY})
@require_admin
@async_response
async def ws_revoke_all(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """End every unlock."""
    await _coordinator(hass, msg).async_revoke_all()
    connection.send_result(msg["id"])


@websocket_command(
    probatio.All(
        probatio.Schema(
            {
                probatio.Required("type"): "rtcc_share/pause",
                **_ENTRY,
                probatio.Optional("minutes"): _between(_strict_int, 1, PAUSE_MAX_MINUTES),
                probatio.Optional("until"): cv.datetime,
            }
        ),
        probatio.ExactlyOne("minutes", "until"),
    )
)
@require_admin
@async_response
async def ws_pause(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Pause sharing for some minutes, or until a time (a bare time is the home's)."""
    coordinator = _coordinator(hass, msg)
    if "minutes" in msg:
        until = dt_util.utcnow() + timedelta(minutes=msg["minutes"])
    else:
        until = msg["until"]
    policy = await coordinator.async_pause(pause_end(until))
    connection.send_result(msg["id"], {"paused_until": _iso(policy.paused_until)})


@websocket_command({probatio.Required("type"): "rtcc_share/resume", **_ENTRY})
@require_admin
@async_response
async def ws_resume(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """End a pause now."""
    await _coordinator(hass, msg).async_resume()
    connection.send_result(msg["id"])


@websocket_command({probatio.Required("type"): "rtcc_share/rules", **_ENTRY, **_RULES})
@require_admin
@async_response
async def ws_rules(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Change home-wide rules; only the fields given change."""
    coordinator = _coordinator(hass, msg)
    changes: dict[str, Any] = {
        key: value for key, value in msg.items() if key not in ("type", "id", ATTR_ENTRY_ID)
    }
    if "mode" in changes:
        changes["mode"] = Mode(changes["mode"])
    policy = await coordinator.async_update_policy(lambda p: replace(p, **changes))
    connection.send_result(msg["id"], {"revision": policy.revision})


def _require_camera(hass: HomeAssistant, entity_id: str) -> None:
    if hass.states.get(entity_id) is None:
        raise _error("unknown_camera", entity_id=entity_id)


def _require_frigate_name(recorder: Recorder | None) -> None:
    """A Frigate recorder names a camera as Frigate could name it (typed by hand, maybe)."""
    if recorder is None or recorder.source is not RecorderSource.FRIGATE:
        return
    if not is_frigate_camera_name(recorder.camera):
        name = recorder.camera or ""
        if len(name) > FRIGATE_CAMERA_NAME_MAX:
            name = name[:FRIGATE_CAMERA_NAME_MAX] + "…"
        raise _error("invalid_frigate_camera", camera=name, max=str(FRIGATE_CAMERA_NAME_MAX))


@websocket_command(
    {
        probatio.Required("type"): "rtcc_share/camera/save",
        **_ENTRY,
        probatio.Required("entity_id"): _CAMERA_ENTITY,
        probatio.Required("share"): _strict_bool,
        probatio.Optional("label", default=None): _label,
        probatio.Optional("masks", default=list): _masks,
        probatio.Optional("max_width", default=None): probatio.Any(
            None, _between(_strict_int, const.WIDTH_MIN, const.WIDTH_MAX)
        ),
        probatio.Optional("max_fps", default=2.0): _between(
            _strict_number, const.FPS_MIN, const.FPS_MAX
        ),
        probatio.Optional("recorder", default=None): _recorder,
    }
)
@require_admin
@async_response
async def ws_camera_save(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Add a camera to the policy, or replace its settings (share, label, masks, limits)."""
    coordinator = _coordinator(hass, msg)
    entity_id: str = msg["entity_id"]
    _require_camera(hass, entity_id)
    _require_frigate_name(msg["recorder"])
    label: str | None = msg["label"]
    # The entity id never becomes what the city sees, not even typed by hand.
    if label is not None and label.casefold() in (
        entity_id.casefold(),
        entity_id.split(".", 1)[1].casefold(),
    ):
        raise _error("label_is_entity_id")
    camera = PolicyCamera(
        entity_id=entity_id,
        label=label,
        share=msg["share"],
        masks=msg["masks"],
        max_width=msg["max_width"],
        max_fps=msg["max_fps"],
        recorder=msg["recorder"],
    )
    policy = await coordinator.async_update_policy(lambda p: p.with_camera(camera))
    stored = policy.camera(entity_id)
    assert stored is not None
    connection.send_result(
        msg["id"], {"revision": policy.revision, "public_label": policy.public_label(stored)}
    )


@websocket_command(
    {
        probatio.Required("type"): "rtcc_share/camera/remove",
        **_ENTRY,
        probatio.Required("entity_id"): _CAMERA_ENTITY,
    }
)
@require_admin
@async_response
async def ws_camera_remove(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Take a camera out of the policy (it is no longer shared, nor listed for the city)."""
    coordinator = _coordinator(hass, msg)
    entity_id: str = msg["entity_id"]

    def without(policy: Policy) -> Policy:
        # Checked on the policy just read from the add-on, not on a possibly older copy.
        if policy.camera(entity_id) is None:
            raise _error("camera_not_in_policy", entity_id=entity_id)
        return policy.without_camera(entity_id)

    policy = await coordinator.async_update_policy(without)
    connection.send_result(msg["id"], {"revision": policy.revision})
