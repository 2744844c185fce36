"""Base entity for RTCC Share."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import RtccShareCoordinator


class RtccShareEntity(CoordinatorEntity[RtccShareCoordinator]):
    """An entity of the add-on's one device; unique ids start with the home_id.

    The device is called "Camera sharing", so that names read as what they do:
    "Camera sharing Consent", "Camera sharing Front door", "Camera sharing City viewing".
    """

    _attr_has_entity_name = True

    def __init__(self, coordinator: RtccShareCoordinator, key: str) -> None:
        """Attach to the add-on's device."""
        super().__init__(coordinator)
        home_id = coordinator.data.home_id
        self._attr_unique_id = f"{home_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, home_id)},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer="RTCC Share",
            model="Camera sharing add-on",
            name="Camera sharing",
        )
