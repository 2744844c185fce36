"""Coordinator for RTCC Share: the add-on's state, kept current by its event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, override

import homeassistant.util.dt as dt_util
from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from . import const
from .api import (
    AuditEntry,
    Policy,
    RtccShareAuthError,
    RtccShareClient,
    RtccShareConnectionError,
    RtccShareError,
    State,
    Unlock,
)
from .const import (
    CONF_TOKEN,
    CONF_URL,
    DOMAIN,
    EVENT_ACCESS,
    EVENT_UNLOCK,
    HISTORY_PAGE,
    HISTORY_SIZE,
    ISSUE_TOKEN_REFUSED,
    ISSUE_UNREACHABLE,
    LOGGER,
)
from .helpers import addon_errors, home_of
from .history import FINAL_STATUSES, ShareHistory

type RtccShareConfigEntry = ConfigEntry[RtccShareCoordinator]

ACCESS_EVENTS = {
    "stream_opened": "stream_opened",
    "stream_closed": "stream_closed",
    "snapshot_served": "snapshot",
}


class RtccShareCoordinator(DataUpdateCoordinator[State]):
    """Holds the add-on's state; the add-on pushes audit entries, so nothing polls."""

    config_entry: RtccShareConfigEntry

    def __init__(self, hass: HomeAssistant, entry: RtccShareConfigEntry) -> None:
        """Set up the client; nothing is fetched yet."""
        self.client = RtccShareClient(
            entry.data[CONF_URL],
            entry.data[CONF_TOKEN],
            async_get_clientsession(hass),
            events_read_timeout=const.EVENTS_READ_TIMEOUT,
        )
        self.history = ShareHistory(HISTORY_SIZE)
        self.last_seq = 0
        # Serialises read-modify-write of the policy so two changes cannot undo each other.
        self.policy_lock = asyncio.Lock()
        self._unreachable_timer: CALLBACK_TYPE | None = None
        self._notified: set[str] = set()
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=None,
            # State is a frozen dataclass: an unchanged answer writes no state.
            always_update=False,
            # Audit entries come in bursts (an unlock is received, then activated);
            # one state read answers the whole burst.
            request_refresh_debouncer=Debouncer(
                hass, LOGGER, cooldown=const.REFRESH_COOLDOWN, immediate=True
            ),
        )

    @override
    async def _async_setup(self) -> None:
        """Read the audit log once, so the history sensor starts complete."""
        after = 0
        try:
            while True:
                page = await self.client.history(after, HISTORY_PAGE)
                for entry in page.entries:
                    self.history.apply(entry)
                    after = entry.seq
                if len(page.entries) < HISTORY_PAGE:
                    break
        except RtccShareError as err:
            raise self._update_error(err) from err
        self.last_seq = after

    @override
    async def _async_update_data(self) -> State:
        """Read the add-on's state."""
        try:
            state = await self.client.state()
        except RtccShareError as err:
            raise self._update_error(err) from err
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_TOKEN_REFUSED))
        self._sync_notifications(state.unlocks)
        return state

    def _update_error(self, err: RtccShareError) -> Exception:
        if isinstance(err, RtccShareAuthError):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id(ISSUE_TOKEN_REFUSED),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_TOKEN_REFUSED,
                translation_placeholders={"url": str(self.client.url)},
            )
            return ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key="invalid_auth")
        connection = isinstance(err, RtccShareConnectionError)
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="communication_error" if connection else "unknown_error",
            translation_placeholders={"error": err.message},
        )

    def _issue_id(self, issue: str) -> str:
        return f"{issue}_{self.config_entry.entry_id}"

    # Event stream

    @callback
    def async_start_listening(self) -> None:
        """Follow the add-on's event stream until the entry unloads."""
        self.config_entry.async_create_background_task(
            self.hass, self._async_listen(), f"{DOMAIN}_events_{self.config_entry.entry_id}"
        )

    @override
    async def async_shutdown(self) -> None:
        """Stop the repair-issue clock and take back the request notifications.

        Called on unload and on Home Assistant stop. A request notification asks for
        actions of this entry, which no longer work once it is unloaded; a reload shows
        the still pending requests again.
        """
        self._cancel_unreachable_timer()
        for unlock_id in self._notified:
            persistent_notification.async_dismiss(self.hass, _notification_id(unlock_id))
        self._notified.clear()
        await super().async_shutdown()

    async def _async_listen(self) -> None:
        """Reconnect with exponential backoff; replay from the last seen entry.

        A stream that worked for a while and then broke is reopened at once, and the
        entities stay available unless that fails: the add-on ends streams by design (a
        client too slow for a burst reconnects and misses nothing), and Home Assistant
        silently skips actions on unavailable entities, so a consent switch turned off in
        that moment would be lost. A stream that breaks as soon as it opens backs off.
        """
        loop = asyncio.get_running_loop()
        delay = const.RECONNECT_MIN
        while True:
            try:
                stream = await self.client.events(self.last_seq)
            except RtccShareAuthError:
                # The token was refused: let the refresh raise ConfigEntryAuthFailed,
                # which starts reauth. The reloaded entry listens again.
                await self.async_refresh()
                return
            except RtccShareError as err:
                self._async_set_unreachable(err)
            else:
                opened = loop.time()
                lost: RtccShareError | None = None
                try:
                    # Whatever happened while disconnected, read the state afresh.
                    await self.async_refresh()
                    if self.last_update_success:
                        self._async_set_reachable()
                        delay = const.RECONNECT_MIN
                        async for entry in stream:
                            await self._async_handle_entry(entry)
                        lost = RtccShareConnectionError("The add-on closed the event stream")
                    elif isinstance(self.last_exception, ConfigEntryAuthFailed):
                        return
                except RtccShareError as err:
                    lost = err
                finally:
                    stream.close()
                if lost is not None:
                    if loop.time() - opened >= const.RECONNECT_MIN:
                        LOGGER.debug("Event stream lost (%s); reconnecting", lost.message)
                        continue
                    self._async_set_unreachable(lost)
            await asyncio.sleep(delay)
            delay = min(delay * 2, const.RECONNECT_MAX)

    @callback
    def _async_set_unreachable(self, err: RtccShareError) -> None:
        """Mark entities unavailable (logged once) and start the repair-issue clock."""
        self.async_set_update_error(err)
        if self._unreachable_timer is None:
            self._unreachable_timer = async_call_later(
                self.hass, const.UNREACHABLE_ISSUE_AFTER, self._async_raise_unreachable_issue
            )

    @callback
    def _async_raise_unreachable_issue(self, _now: datetime) -> None:
        self._unreachable_timer = None
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(ISSUE_UNREACHABLE),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_UNREACHABLE,
            translation_placeholders={"url": str(self.client.url)},
        )

    @callback
    def _async_set_reachable(self) -> None:
        self._cancel_unreachable_timer()
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_UNREACHABLE))

    @callback
    def _cancel_unreachable_timer(self) -> None:
        if self._unreachable_timer is not None:
            self._unreachable_timer()
            self._unreachable_timer = None

    async def _async_handle_entry(self, entry: AuditEntry) -> None:
        """Fold an audit entry in, tell automations, then re-read the state."""
        if entry.seq <= self.last_seq:
            return  # already seen (a replay overlapping what we had)
        self.last_seq = entry.seq
        self.history.apply(entry)
        if entry.event == "unlock_status":
            self._fire_unlock_event(entry)
        elif (action := ACCESS_EVENTS.get(entry.event)) is not None:
            self._fire_access_event(entry, action)
        self.async_update_listeners()
        await self.async_request_refresh()

    def _fire_unlock_event(self, entry: AuditEntry) -> None:
        detail = entry.detail
        status = detail.get("status")
        self.hass.bus.async_fire(
            EVENT_UNLOCK,
            {
                "config_entry_id": self.config_entry.entry_id,
                "unlock_id": entry.unlock_id,
                "hub": entry.hub,
                "incident_id": detail.get("incident_id"),
                "offense": detail.get("offense"),
                "status": status,
                "previous": detail.get("previous"),
                "reason": detail.get("reason"),
                "cameras": list(detail.get("cameras") or ()),
                "expires_at": detail.get("expires_at"),
                "end_reason": detail.get("reason") if status in FINAL_STATUSES else None,
            },
        )

    def _fire_access_event(self, entry: AuditEntry, action: str) -> None:
        detail = entry.detail
        self.hass.bus.async_fire(
            EVENT_ACCESS,
            {
                "config_entry_id": self.config_entry.entry_id,
                "unlock_id": entry.unlock_id,
                "hub": entry.hub,
                "action": action,
                "camera": detail.get("entity_id"),
                "viewer": detail.get("viewer"),
                "frames": detail.get("frames"),
                "bytes": detail.get("bytes"),
                "reason": detail.get("reason"),
            },
        )

    # Ask mode

    @callback
    def _sync_notifications(self, unlocks: tuple[Unlock, ...]) -> None:
        """One persistent notification per pending request, dismissed once decided."""
        pending = {u.unlock_id: u for u in unlocks if u.status == "pending"}
        for unlock_id, unlock in pending.items():
            if unlock_id not in self._notified:
                self._notified.add(unlock_id)
                persistent_notification.async_create(
                    self.hass,
                    _request_message(unlock),
                    title="Camera access requested",
                    notification_id=_notification_id(unlock_id),
                )
        for unlock_id in self._notified - pending.keys():
            self._notified.discard(unlock_id)
            persistent_notification.async_dismiss(self.hass, _notification_id(unlock_id))

    # Writes

    async def async_update_policy(self, change: Callable[[Policy], Mapping[str, Any]]) -> Policy:
        """Read the current policy, apply `change`, store it, and refresh.

        The policy is read from the add-on rather than from `self.data` so that a
        change made elsewhere in the meantime is not silently undone. The home location
        is always Home Assistant's home zone, so it follows a move of the home.
        """
        async with self.policy_lock:
            with addon_errors(self):
                state = await self.client.state()
                document = {**change(state.policy), "home": home_of(self.hass)}
                stored = await self.client.put_policy(document)
        await self.async_request_refresh()
        return stored

    def viewing(self, now: datetime) -> bool:
        """Return True while a stream is open or a snapshot was served recently."""
        if self.data.counters.open_streams or any(u.viewers for u in self.data.unlocks):
            return True
        last = self.history.last_snapshot
        return last is not None and now - last < const.VIEWING_HOLD


def _notification_id(unlock_id: str) -> str:
    return f"{DOMAIN}_request_{unlock_id}"


def _request_message(unlock: Unlock) -> str:
    cameras = ", ".join(c.label or c.entity_id for c in unlock.cameras) or "none"
    deadline = (
        dt_util.as_local(unlock.decides_by).strftime("%Y-%m-%d %H:%M:%S")
        if unlock.decides_by
        else "the ask timeout"
    )
    case = f", case {unlock.case_number}" if unlock.case_number else ""
    return (
        f"**{unlock.hub_name}** asks to see your cameras for incident "
        f"{unlock.incident_id} ({unlock.offense}{case}).\n\n"
        f"Cameras: {cameras}. Scope: {', '.join(unlock.scope)}.\n\n"
        f"To approve, run the action `{DOMAIN}.approve_unlock` with "
        f"`unlock_id: {unlock.unlock_id}`; to decline, run `{DOMAIN}.decline_unlock` "
        f"with the same `unlock_id`. Without an answer the request is declined at "
        f"{deadline}."
    )
