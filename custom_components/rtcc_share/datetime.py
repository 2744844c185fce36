"""Date/time for RTCC Share: "Pause sharing until", set from any dashboard.

Setting a time pauses all sharing until then (open streams close, snapshots are refused,
new requests are declined); the "Resume sharing" button ends a pause early. The value is
unknown while sharing is not paused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import override

import homeassistant.util.dt as dt_util
from homeassistant.components.datetime import DateTimeEntity
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time

from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the pause control."""
    async_add_entities([PausedUntilDateTime(entry.runtime_data)])


def paused_until(coordinator: RtccShareCoordinator) -> datetime | None:
    """The end of the pause, or None when sharing is not paused."""
    until = coordinator.data.policy.paused_until
    return until if until is not None and until > dt_util.utcnow() else None


def pause_end(until: datetime) -> datetime:
    """A pause end in the future, with a time zone (a bare time is the home's), rounded up
    to the whole second: the add-on stores whole seconds, and a pause never ends early."""
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt_util.get_default_time_zone())
    if until <= dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="pause_in_past",
            translation_placeholders={"until": dt_util.as_local(until).isoformat()},
        )
    try:
        return until.replace(microsecond=0) + timedelta(seconds=1 if until.microsecond else 0)
    except OverflowError as err:  # beyond the year 9999
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="pause_too_long"
        ) from err


class PausedUntilDateTime(RtccShareEntity, DateTimeEntity):
    """When the pause of sharing ends; set it to pause."""

    _attr_translation_key = "paused_until"

    def __init__(self, coordinator: RtccShareCoordinator) -> None:
        """Initialise the entity."""
        super().__init__(coordinator, "paused_until")
        self._unsub_end: CALLBACK_TYPE | None = None

    @property
    @override
    def native_value(self) -> datetime | None:
        """Return the end of the pause."""
        return paused_until(self.coordinator)

    @override
    async def async_set_value(self, value: datetime) -> None:
        """Pause sharing until `value`."""
        await self.coordinator.async_pause(pause_end(value))

    @override
    async def async_added_to_hass(self) -> None:
        """Schedule the end of a pause that is already running."""
        await super().async_added_to_hass()
        self.async_on_remove(self._cancel_end)
        self._schedule_end()

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        self._schedule_end()
        super()._handle_coordinator_update()

    @callback
    def _schedule_end(self) -> None:
        """Show "not paused" when the pause is over; the add-on writes nothing then."""
        self._cancel_end()
        if (until := paused_until(self.coordinator)) is not None:
            self._unsub_end = async_track_point_in_utc_time(self.hass, self._ended, until)

    @callback
    def _ended(self, _now: datetime) -> None:
        self._unsub_end = None
        self.async_write_ha_state()

    @callback
    def _cancel_end(self) -> None:
        if self._unsub_end is not None:
            self._unsub_end()
            self._unsub_end = None
