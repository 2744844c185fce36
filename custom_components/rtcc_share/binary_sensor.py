"""Binary sensors for RTCC Share: is the city looking right now, and is each relay up?"""

from __future__ import annotations

from datetime import datetime
from typing import Any, override

import homeassistant.util.dt as dt_util
from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time

from .api import Relay
from .const import DOMAIN
from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity
from .relays import relay_key

# Coordinator is used to centralize the data updates
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up city_viewing, and a connectivity sensor per relay as the add-on reports them."""
    coordinator = entry.runtime_data
    async_add_entities([CityViewingBinarySensor(coordinator)])
    known: set[str] = set()

    @callback
    def sync_relays() -> None:
        current = {relay_key(relay) for relay in coordinator.data.relays}
        if new := current - known:
            known.update(new)
            async_add_entities(RelayConnectedBinarySensor(coordinator, key) for key in sorted(new))
        # A relay taken out of the add-on's options loses its sensor.
        registry = er.async_get(hass)
        for key in known - current:
            known.discard(key)
            unique_id = f"{coordinator.data.home_id}_relay_{key}"
            if entity_id := registry.async_get_entity_id("binary_sensor", DOMAIN, unique_id):
                registry.async_remove(entity_id)

    sync_relays()
    entry.async_on_unload(coordinator.async_add_listener(sync_relays))


class CityViewingBinarySensor(RtccShareEntity, BinarySensorEntity):
    """On while a stream is open, and for a minute after each snapshot or clip download.

    Its attributes say which cameras, which city hub and which incident.
    """

    _attr_translation_key = "city_viewing"

    def __init__(self, coordinator: RtccShareCoordinator) -> None:
        """Initialise the binary sensor."""
        super().__init__(coordinator, "city_viewing")
        self._unsub_off: CALLBACK_TYPE | None = None

    @property
    @override
    def is_on(self) -> bool:
        """Return True while the city is viewing."""
        return bool(self.coordinator.viewing(dt_util.utcnow()))

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Which cameras (public labels), hub (name) and incident the city is looking at."""
        coordinator = self.coordinator
        viewings = coordinator.viewing(dt_util.utcnow())
        names = coordinator.names
        cameras = dict.fromkeys(names.camera(v.entity_id) or v.entity_id for v in viewings)
        hubs = dict.fromkeys(names.hub(v.hub) or "" for v in viewings)
        incidents: dict[str, None] = {}
        for viewing in viewings:
            record = coordinator.history.get(viewing.unlock_id)
            unlock = coordinator.data.unlock(viewing.unlock_id)
            incident = (unlock.incident_id if unlock else None) or (
                record.incident_id if record else None
            )
            if incident:
                incidents[incident] = None
        return {
            "cameras": list(cameras),
            "hub": ", ".join(h for h in hubs if h) or None,
            "incident": ", ".join(incidents) or None,
        }

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
        if (off_at := self.coordinator.history.viewing_ends(dt_util.utcnow())) is not None:
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


class RelayConnectedBinarySensor(RtccShareEntity, BinarySensorEntity):
    """On while the add-on's relay to a city's broker is connected ("Connected to ...")."""

    _attr_translation_key = "relay_connected"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: RtccShareCoordinator, key: str) -> None:
        """Initialise the sensor of the relay with this key."""
        super().__init__(coordinator, f"relay_{key}")
        self._key = key
        relay = self._relay
        assert relay is not None
        self._attr_translation_placeholders = {"hub": coordinator.hub_name(relay.hub)}

    @property
    def _relay(self) -> Relay | None:
        return next((r for r in self.coordinator.data.relays if relay_key(r) == self._key), None)

    @property
    @override
    def available(self) -> bool:
        """Return False once the relay has left the add-on's options."""
        return super().available and self._relay is not None

    @property
    @override
    def is_on(self) -> bool:
        """Return True while the relay is connected."""
        relay = self._relay
        return relay is not None and relay.connected

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """The broker's URL (never credentials), since when, and the last error."""
        relay = self._relay
        if relay is None:
            return {}
        return {
            "url": relay.url,
            "since": relay.since.isoformat() if relay.since else None,
            "last_error": relay.last_error,
        }
