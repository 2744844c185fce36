"""Switches for RTCC Share: consent, and whether each camera in the policy is shared."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Policy, PolicyCamera
from .cameras import camera_entity_id, camera_key
from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

PARALLEL_UPDATES = 1


def share_unique_id(coordinator: RtccShareCoordinator, key: str) -> str:
    """The unique id of a camera's share switch, from the camera's stable key."""
    return f"{coordinator.data.home_id}_share_{key}"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up consent, and a share switch per camera; follow the policy's camera list."""
    coordinator = entry.runtime_data
    async_add_entities([ConsentSwitch(coordinator)])
    known: set[str] = set()

    @callback
    def sync_cameras() -> None:
        current = {camera_key(hass, c.entity_id) for c in coordinator.data.policy.cameras}
        if new := current - known:
            known.update(new)
            async_add_entities(ShareSwitch(coordinator, key) for key in sorted(new))
        # A camera taken out of the policy loses its switch rather than leaving a
        # switch that can no longer do anything.
        registry = er.async_get(hass)
        for key in known - current:
            known.discard(key)
            unique_id = share_unique_id(coordinator, key)
            if switch_id := registry.async_get_entity_id("switch", DOMAIN, unique_id):
                registry.async_remove(switch_id)

    sync_cameras()
    entry.async_on_unload(coordinator.async_add_listener(sync_cameras))


class ConsentSwitch(RtccShareEntity, SwitchEntity):
    """The owner's standing consent; off ends every unlock at once (in the add-on)."""

    _attr_translation_key = "consent"

    def __init__(self, coordinator: RtccShareCoordinator) -> None:
        """Initialise the switch."""
        super().__init__(coordinator, "consent")

    @property
    @override
    def is_on(self) -> bool:
        """Return True when the owner consents to sharing."""
        return self.coordinator.data.policy.consent

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Give consent."""
        await self.coordinator.async_update_policy(lambda p: replace(p, consent=True))

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Withdraw consent."""
        await self.coordinator.async_update_policy(lambda p: replace(p, consent=False))


class ShareSwitch(RtccShareEntity, SwitchEntity):
    """Whether one camera of the policy is shared; named by the camera's public label."""

    _attr_translation_key = "share"

    def __init__(self, coordinator: RtccShareCoordinator, key: str) -> None:
        """Initialise the switch of the camera with this stable key (see cameras.py)."""
        super().__init__(coordinator, f"share_{key}")
        self._key = key
        camera = self._camera
        assert camera is not None
        self._attr_translation_placeholders = {
            "camera": coordinator.data.policy.public_label(camera)
        }

    @property
    def _entity_id(self) -> str:
        """The camera's entity id now (it follows a rename of the camera)."""
        return camera_entity_id(self.coordinator.hass, self._key)

    @property
    def _camera(self) -> PolicyCamera | None:
        return self.coordinator.data.policy.camera(self._entity_id)

    @property
    @override
    def available(self) -> bool:
        """Return False once the camera has left the policy."""
        return super().available and self._camera is not None

    @property
    @override
    def is_on(self) -> bool:
        """Return True when the camera is shared."""
        camera = self._camera
        return camera is not None and camera.share

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """The camera entity this switch shares."""
        return {"camera": self._entity_id}

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Share the camera."""
        await self.coordinator.async_update_policy(lambda p: self._with_share(p, share=True))

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop sharing the camera; the add-on closes its streams at once."""
        await self.coordinator.async_update_policy(lambda p: self._with_share(p, share=False))

    def _with_share(self, policy: Policy, *, share: bool) -> Policy:
        camera = policy.camera(self._entity_id)
        return policy if camera is None else policy.with_camera(replace(camera, share=share))
