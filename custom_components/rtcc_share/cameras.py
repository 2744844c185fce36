"""The home's camera entities: stable keys, names, and where their recordings are.

A camera entity can be renamed (its entity id changes), so the integration keys per-camera
entities by the camera's entity registry id, which stays. And it offers each camera's
recorder from what Home Assistant already knows: a camera of the Frigate integration is
recorded by Frigate under the name in its unique id; a camera of UniFi Protect by its
NVR, which the add-on reaches through Home Assistant's own video view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er

from .api import Policy, Recorder, RecorderSource
from .const import LOGGER

if TYPE_CHECKING:
    from .coordinator import RtccShareConfigEntry, RtccShareCoordinator

CAMERA_DOMAIN = "camera"
FRIGATE = "frigate"
UNIFIPROTECT = "unifiprotect"
# Frigate's own rule for a camera's name (REGEX_CAMERA_NAME "^[a-zA-Z0-9_-]+$" in
# frigate/const.py, the pattern of CameraConfig.name): ASCII letters, digits, "_" and "-".
# Frigate sets no length; 64 is the add-on's bound (hub_addon policy.py), so a name the
# integration accepts is one the add-on accepts.
FRIGATE_CAMERA_NAME_MAX = 64
_FRIGATE_NAME = rf"[A-Za-z0-9_-]{{1,{FRIGATE_CAMERA_NAME_MAX}}}"
_FRIGATE_CAMERA_NAME = re.compile(_FRIGATE_NAME)
# Frigate's camera entities: unique id "{config_entry_id}:camera:{camera name}". The
# Birdseye view is a composite of all cameras, not a recorded camera.
_FRIGATE_UNIQUE_ID = re.compile(rf"^[^:]+:camera:(?P<name>{_FRIGATE_NAME})$")
_FRIGATE_NOT_RECORDED = frozenset({"birdseye"})


@callback
def camera_key(hass: HomeAssistant, entity_id: str) -> str:
    """A key for the camera that survives a rename: its registry id, else its entity id.

    A camera without a registry entry (one set up in YAML without a unique id) cannot be
    renamed from the UI, so its entity id is stable enough.
    """
    entry = er.async_get(hass).async_get(entity_id)
    return entry.id if entry is not None else entity_id


@callback
def camera_entity_id(hass: HomeAssistant, key: str) -> str:
    """The camera's entity id now, from a key made by camera_key."""
    if "." in key:
        return key
    entry = er.async_get(hass).async_get(key)
    return entry.entity_id if entry is not None else key


@callback
def friendly_name(hass: HomeAssistant, entity_id: str) -> str | None:
    """The name the owner gave the camera in Home Assistant, if any (never the entity id)."""
    state = hass.states.get(entity_id)
    name = state.attributes.get("friendly_name") if state is not None else None
    if isinstance(name, str) and name.strip():
        return name.strip()
    entry = er.async_get(hass).async_get(entity_id)
    if entry is not None and (entry.name or entry.original_name):
        return entry.name or entry.original_name
    return None


def is_frigate_camera_name(value: object) -> bool:
    """Whether Frigate could have a camera of this name (whole text, nothing trimmed)."""
    return isinstance(value, str) and _FRIGATE_CAMERA_NAME.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class RecorderChoice:
    """A recorder the owner may pick for a camera."""

    recorder: Recorder
    # Whether Home Assistant itself says this camera is recorded there.
    suggested: bool


def _frigate_name(entry: er.RegistryEntry) -> str | None:
    if entry.platform != FRIGATE or entry.domain != CAMERA_DOMAIN:
        return None
    match = _FRIGATE_UNIQUE_ID.fullmatch(entry.unique_id)
    if match is None or match["name"] in _FRIGATE_NOT_RECORDED:
        return None
    return match["name"]


@callback
def frigate_cameras(hass: HomeAssistant) -> list[str]:
    """The names of every camera of the Frigate integration, sorted."""
    registry = er.async_get(hass)
    names = {
        name for entry in registry.entities.values() if (name := _frigate_name(entry)) is not None
    }
    return sorted(names)


@callback
def recorder_choices(hass: HomeAssistant, entity_id: str) -> list[RecorderChoice]:
    """The recorders offered for a camera, the one Home Assistant knows of first.

    A Frigate camera entity maps to its own Frigate name; any other camera may be mapped
    to one of Frigate's cameras by hand (a generic camera of the same device). UniFi
    Protect is offered only for UniFi Protect's own cameras.
    """
    entry = er.async_get(hass).async_get(entity_id)
    own_frigate = _frigate_name(entry) if entry is not None else None
    choices: list[RecorderChoice] = []
    if entry is not None and entry.platform == UNIFIPROTECT:
        choices.append(RecorderChoice(Recorder(RecorderSource.UNIFIPROTECT), suggested=True))
    if own_frigate is not None:
        choices.append(RecorderChoice(Recorder(RecorderSource.FRIGATE, own_frigate), True))
    choices.extend(
        RecorderChoice(Recorder(RecorderSource.FRIGATE, name), suggested=False)
        for name in frigate_cameras(hass)
        if name != own_frigate
    )
    return choices


@callback
def suggested_recorder(hass: HomeAssistant, entity_id: str) -> Recorder | None:
    """The recorder Home Assistant knows this camera by, or None."""
    return next((c.recorder for c in recorder_choices(hass, entity_id) if c.suggested), None)


def renamed_policy(policy: Policy, old_entity_id: str, new_entity_id: str) -> Policy | None:
    """The policy with a renamed camera's entry following it, or None if nothing changes."""
    camera = policy.camera(old_entity_id)
    if camera is None or policy.camera(new_entity_id) is not None:
        return None
    cameras = tuple(
        replace(c, entity_id=new_entity_id) if c.entity_id == old_entity_id else c
        for c in policy.cameras
    )
    return replace(policy, cameras=cameras)


async def async_migrate_share_unique_ids(hass: HomeAssistant, entry: RtccShareConfigEntry) -> None:
    """Share switches made before 0.2 had the camera's entity id in their unique id.

    Those follow the camera's registry id now (a rename of the camera no longer makes a
    new switch); switches of cameras without a registry entry keep theirs.
    """
    prefix = f"{entry.runtime_data.data.home_id}_share_"
    registry = er.async_get(hass)

    @callback
    def migrate(entity_entry: er.RegistryEntry) -> dict[str, str] | None:
        if not entity_entry.unique_id.startswith(prefix):
            return None
        old = entity_entry.unique_id.removeprefix(prefix)
        camera = registry.async_get(old) if old.startswith(f"{CAMERA_DOMAIN}.") else None
        if camera is None:
            return None
        return {"new_unique_id": prefix + camera.id}

    await er.async_migrate_entries(hass, entry.entry_id, migrate)


@callback
def async_follow_renames(hass: HomeAssistant, coordinator: RtccShareCoordinator) -> CALLBACK_TYPE:
    """Keep sharing a camera whose entity id the owner changes: the policy follows it.

    The add-on knows cameras by entity id; without this, a renamed camera would silently
    stop being shared (the add-on could no longer fetch it under its old id).
    """

    async def renamed(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        if data["action"] != "update" or "old_entity_id" not in data:
            return
        old, new = data["old_entity_id"], data["entity_id"]
        if coordinator.data.policy.camera(old) is None:
            return
        try:
            await coordinator.async_update_policy(lambda p: renamed_policy(p, old, new) or p)
        except HomeAssistantError as err:
            LOGGER.warning("Could not follow the rename of %s to %s: %s", old, new, err)

    @callback
    def is_camera_rename(data: er.EventEntityRegistryUpdatedData) -> bool:
        return (
            data["action"] == "update"
            and "old_entity_id" in data
            and data["entity_id"].startswith(f"{CAMERA_DOMAIN}.")
        )

    return hass.bus.async_listen(
        er.EVENT_ENTITY_REGISTRY_UPDATED, renamed, event_filter=is_camera_rename
    )
