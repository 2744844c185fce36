"""Sensors for RTCC Share: how much was shared, and when.

The unlocks themselves are in the panel's History view (and the add-on's audit log);
no sensor carries a list of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .api import UnlockStatus
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

# Coordinator is used to centralize the data updates
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RtccShareSensorEntityDescription(SensorEntityDescription):
    """Describes an RTCC Share sensor."""

    value_fn: Callable[[RtccShareCoordinator], StateType | datetime]


SENSORS = (
    RtccShareSensorEntityDescription(
        # The key (and so the unique id) stays "share_history" from earlier versions.
        key="share_history",
        translation_key="unlocks_shared",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda c: c.data.counters.unlocks_activated,
    ),
    RtccShareSensorEntityDescription(
        key="last_shared",
        translation_key="last_shared",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda c: c.data.counters.last_shared,
    ),
    RtccShareSensorEntityDescription(
        key="active_unlocks",
        translation_key="active_unlocks",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda c: sum(1 for u in c.data.unlocks if u.status is UnlockStatus.ACTIVE),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the sensors."""
    coordinator = entry.runtime_data
    async_add_entities(RtccShareSensor(coordinator, description) for description in SENSORS)


class RtccShareSensor(RtccShareEntity, SensorEntity):
    """An RTCC Share sensor."""

    entity_description: RtccShareSensorEntityDescription

    def __init__(
        self,
        coordinator: RtccShareCoordinator,
        description: RtccShareSensorEntityDescription,
    ) -> None:
        """Initialise the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator)
