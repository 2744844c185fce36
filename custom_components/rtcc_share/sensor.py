"""Sensors for RTCC Share: what was shared, when, and whether sharing is paused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

import homeassistant.util.dt as dt_util
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.typing import StateType

from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

# Coordinator is used to centralize the data updates
PARALLEL_UPDATES = 0


def _paused_until(coordinator: RtccShareCoordinator) -> datetime | None:
    """Return the end of the pause, or None when sharing is not paused."""
    until = coordinator.data.policy.paused_until
    return until if until is not None and until > dt_util.utcnow() else None


@dataclass(frozen=True, kw_only=True)
class RtccShareSensorEntityDescription(SensorEntityDescription):
    """Describes an RTCC Share sensor."""

    value_fn: Callable[[RtccShareCoordinator], StateType | datetime]
    attributes_fn: Callable[[RtccShareCoordinator], dict[str, Any]] | None = None
    # When the value turns stale at a known time (a pause ends), re-evaluate then.
    stale_at_fn: Callable[[RtccShareCoordinator], datetime | None] | None = None


SENSORS = (
    RtccShareSensorEntityDescription(
        key="share_history",
        translation_key="share_history",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda c: c.data.counters.unlocks_activated,
        attributes_fn=lambda c: {"unlocks": c.history.records()},
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
        value_fn=lambda c: sum(1 for u in c.data.unlocks if u.status == "active"),
    ),
    RtccShareSensorEntityDescription(
        key="paused_until",
        translation_key="paused_until",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_paused_until,
        stale_at_fn=_paused_until,
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
    # The unlock list is long and already kept in the add-on's audit log.
    _unrecorded_attributes = frozenset({"unlocks"})

    def __init__(
        self,
        coordinator: RtccShareCoordinator,
        description: RtccShareSensorEntityDescription,
    ) -> None:
        """Initialise the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description
        self._unsub_stale: CALLBACK_TYPE | None = None

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the unlock list for share_history."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator)

    @override
    async def async_added_to_hass(self) -> None:
        """Schedule the first re-evaluation."""
        await super().async_added_to_hass()
        self.async_on_remove(self._cancel_stale)
        self._schedule_stale()

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        self._schedule_stale()
        super()._handle_coordinator_update()

    @callback
    def _schedule_stale(self) -> None:
        self._cancel_stale()
        if self.entity_description.stale_at_fn is None:
            return
        if (at := self.entity_description.stale_at_fn(self.coordinator)) is not None:
            self._unsub_stale = async_track_point_in_utc_time(self.hass, self._stale, at)

    @callback
    def _stale(self, _now: datetime) -> None:
        self._unsub_stale = None
        self.async_write_ha_state()

    @callback
    def _cancel_stale(self) -> None:
        if self._unsub_stale is not None:
            self._unsub_stale()
            self._unsub_stale = None
