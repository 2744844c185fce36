"""Binary sensor for RTCC Share: is the city looking right now?"""

from __future__ import annotations

from datetime import datetime
from typing import override

import homeassistant.util.dt as dt_util
from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time

from . import const
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

# Coordinator is used to centralize the data updates
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the city_viewing binary sensor."""
    async_add_entities([CityViewingBinarySensor(entry.runtime_data)])


class CityViewingBinarySensor(RtccShareEntity, BinarySensorEntity):
    """On while a stream is open, and for a minute after each snapshot."""

    _attr_translation_key = "city_viewing"

    def __init__(self, coordinator: RtccShareCoordinator) -> None:
        """Initialise the binary sensor."""
        super().__init__(coordinator, "city_viewing")
        self._unsub_off: CALLBACK_TYPE | None = None

    @property
    @override
    def is_on(self) -> bool:
        """Return True while the city is viewing."""
        return self.coordinator.viewing(dt_util.utcnow())

    @override
    async def async_added_to_hass(self) -> None:
        """Schedule the turn-off of a snapshot that was served just before start-up."""
        await super().async_added_to_hass()
        self.async_on_remove(self._cancel_off)
        self._schedule_off()

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        self._schedule_off()
        super()._handle_coordinator_update()

    @callback
    def _schedule_off(self) -> None:
        """Re-evaluate when the last snapshot's minute is over; nothing else will."""
        self._cancel_off()
        last = self.coordinator.history.last_snapshot
        if last is not None and (off_at := last + const.VIEWING_HOLD) > dt_util.utcnow():
            self._unsub_off = async_track_point_in_utc_time(self.hass, self._off, off_at)

    @callback
    def _off(self, _now: datetime) -> None:
        self._unsub_off = None
        self.async_write_ha_state()

    @callback
    def _cancel_off(self) -> None:
        if self._unsub_off is not None:
            self._unsub_off()
            self._unsub_off = None
