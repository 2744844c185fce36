"""Switches for RTCC Share: consent, and whether each camera in the policy is shared."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Policy, PolicyCamera
from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

PARALLEL_UPDATES = 1


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
        current = {camera.entity_id for camera in coordinator.data.policy.cameras}
        if new := current - known:
            known.update(new)
            async_add_entities(ShareSwitch(coordinator, entity_id) for entity_id in sorted(new))
        # A camera taken out of the policy loses its switch rather than leaving a
        # switch that can no longer do anything.
        registry = er.async_get(hass)
        for entity_id in known - current:
            known.discard(entity_id)
            unique_id = f"{coordinator.data.home_id}_share_{entity_id}"
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
        await self.coordinator.async_update_policy(lambda p: p.to_put(consent=True))

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Withdraw consent."""
        await self.coordinator.async_update_policy(lambda p: p.to_put(consent=False))


class ShareSwitch(RtccShareEntity, SwitchEntity):
    """Whether one camera of the policy is shared."""

    _attr_translation_key = "share"

    def __init__(self, coordinator: RtccShareCoordinator, entity_id: str) -> None:
        """Initialise the switch for the camera `entity_id`."""
        super().__init__(coordinator, f"share_{entity_id}")
        self._camera_entity_id = entity_id
        camera = self._camera
        self._attr_translation_placeholders = {"camera": camera.label if camera else entity_id}
        self._attr_extra_state_attributes = {"camera": entity_id}

    @property
    def _camera(self) -> PolicyCamera | None:
        return next(
            (
                c
                for c in self.coordinator.data.policy.cameras
                if c.entity_id == self._camera_entity_id
            ),
            None,
        )

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

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Share the camera."""
        await self.coordinator.async_update_policy(lambda p: self._with_share(p, share=True))

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop sharing the camera; the add-on closes its streams at once."""
        await self.coordinator.async_update_policy(lambda p: self._with_share(p, share=False))

    def _with_share(self, policy: Policy, *, share: bool) -> dict[str, Any]:
        cameras = [
            {**camera, "share": share}
            if camera.get("entity_id") == self._camera_entity_id
            else camera
            for camera in policy.document.get("cameras") or ()
        ]
        return policy.to_put(cameras=cameras)
