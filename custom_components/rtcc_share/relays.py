"""Relays to city brokers (PROTOCOL.md section 6): a repair issue when one stays down.

A relay that is down means the city cannot reach the home over it; nothing is shared
that way, which is safe, but the owner who enrolled wants to know. A short outage (a
broker restart, the line flapping) is normal and the add-on reconnects by itself, so the
issue only appears after RELAY_DOWN_ISSUE_AFTER and goes away once it is back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time

from . import const
from .api import Relay
from .const import DOMAIN, ISSUE_RELAY_DOWN


def relay_key(relay: Relay) -> str:
    """A stable key of one relay: its hub and a digest of its URL (a hub may have two)."""
    digest = hashlib.sha256(relay.url.encode()).hexdigest()[:12]
    return f"{relay.hub}_{digest}"


class RelayIssues:
    """Raises and clears the `relay_down` repair issue of each relay of one entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str, hub_name: Callable[[str], str]) -> None:
        """Nothing is watched until the first update."""
        self._hass = hass
        self._entry_id = entry_id
        self._hub_name = hub_name
        self._relays: dict[str, Relay] = {}
        self._down_since: dict[str, datetime] = {}
        self._timers: dict[str, CALLBACK_TYPE] = {}

    def issue_id(self, key: str) -> str:
        """The repair issue of one relay."""
        return f"{ISSUE_RELAY_DOWN}_{self._entry_id}_{key}"

    @callback
    def async_update(self, relays: Iterable[Relay], now: datetime) -> None:
        """Follow the relays the add-on reports."""
        current = {relay_key(relay): relay for relay in relays}
        for key in self._relays.keys() - current.keys():
            self._clear(key)
        self._relays = current
        for key, relay in current.items():
            if relay.connected:
                self._clear(key)
                continue
            # `since` is when the relay went down; an add-on that does not say, from now.
            since = relay.since or self._down_since.setdefault(key, now)
            due = since + const.RELAY_DOWN_ISSUE_AFTER
            self._cancel(key)
            if due <= now:
                self._raise(key)
            else:
                self._timers[key] = async_track_point_in_utc_time(
                    self._hass, self._due_callback(key), due
                )

    @callback
    def async_stop(self) -> None:
        """Stop the clocks (the entry unloads); issues stay until the add-on says otherwise."""
        for key in list(self._timers):
            self._cancel(key)

    def _due_callback(self, key: str) -> Callable[[datetime], None]:
        @callback
        def due(_now: datetime) -> None:
            self._timers.pop(key, None)
            relay = self._relays.get(key)
            if relay is not None and not relay.connected:
                self._raise(key)

        return due

    def _raise(self, key: str) -> None:
        relay = self._relays[key]
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id(key),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_RELAY_DOWN,
            translation_placeholders={
                "hub": self._hub_name(relay.hub),
                "url": relay.url,
                "error": relay.last_error or "-",
                "minutes": str(int(const.RELAY_DOWN_ISSUE_AFTER.total_seconds() // 60)),
            },
        )

    def _clear(self, key: str) -> None:
        self._cancel(key)
        self._down_since.pop(key, None)
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id(key))

    def _cancel(self, key: str) -> None:
        if (cancel := self._timers.pop(key, None)) is not None:
            cancel()
