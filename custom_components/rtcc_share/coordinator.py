"""Coordinator for RTCC Share: the add-on's state, kept current by its event stream.

Notifications (notifications.py), bus events (events.py), relay repair issues (relays.py)
and the share history (history.py) live in their own modules; this one reads the add-on,
follows its event stream and writes the owner's changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import override

import homeassistant.util.dt as dt_util
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
    Polygon,
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
    HISTORY_PAGE,
    HISTORY_SIZE,
    ISSUE_TOKEN_REFUSED,
    ISSUE_UNREACHABLE,
    LOGGER,
    UNLOCK_EVENTS_MAX,
    VIEWING_HOLD,
)
from .events import Names, async_fire_for
from .helpers import addon_errors, home_of
from .history import ShareHistory, Viewing
from .notifications import RequestNotifications
from .relays import RelayIssues

type RtccShareConfigEntry = ConfigEntry[RtccShareCoordinator]


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
        self.history = ShareHistory(HISTORY_SIZE, VIEWING_HOLD)
        self.last_seq = 0
        # Serialises read-modify-write of the policy so two changes cannot undo each other.
        self.policy_lock = asyncio.Lock()
        self.notifications = RequestNotifications(hass)
        self.relay_issues = RelayIssues(hass, entry.entry_id, self.hub_name)
        # Hub names the add-on has told, kept after their unlocks end (the audit log has ids).
        self._hub_names: dict[str, str] = {}
        self._unreachable_timer: CALLBACK_TYPE | None = None
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
        """Read the audit log once, so the history starts complete."""
        after = 0
        try:
            while True:
                page = await self.client.history(after, HISTORY_PAGE)
                for entry in page:
                    self.history.apply(entry)
                    after = entry.seq
                if len(page) < HISTORY_PAGE:
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
        self._hub_names.update(state.hub_names)
        await self.notifications.async_sync(state.unlocks)
        self.relay_issues.async_update(state.relays, dt_util.utcnow())
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

    # Names

    def hub_name(self, hub_id: str) -> str:
        """A city hub's name as the add-on tells it; its id until it has."""
        return self._hub_names.get(hub_id, hub_id)

    @property
    def names(self) -> Names:
        """Hub names and camera labels for events and the panel."""
        return Names(hubs=dict(self._hub_names), policy=self.data.policy)

    # Event stream

    @callback
    def async_start_listening(self) -> None:
        """Follow the add-on's event stream until the entry unloads."""
        self.config_entry.async_create_background_task(
            self.hass, self._async_listen(), f"{DOMAIN}_events_{self.config_entry.entry_id}"
        )

    @override
    async def async_shutdown(self) -> None:
        """Stop the clocks and take back the request notifications.

        Called on unload and on Home Assistant stop. A request notification links to the
        panel of this entry, which no longer works once it is unloaded; a reload shows the
        still pending requests again.
        """
        self._cancel_unreachable_timer()
        self.relay_issues.async_stop()
        self.notifications.async_dismiss_all()
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
        async_fire_for(self.hass, self.config_entry.entry_id, entry, self.names)
        self.async_update_listeners()
        await self.async_request_refresh()

    # What the city is looking at

    def viewing(self, now: datetime) -> list[Viewing]:
        """The cameras the city looks at: open streams, and what was served just now."""
        viewings = self.history.viewing(now)
        streamed = {v.unlock_id for v in viewings}
        # The add-on counts viewers too; one the history has not seen yet still counts.
        for unlock in self.data.unlocks:
            if unlock.viewers and unlock.unlock_id not in streamed:
                viewings.extend(
                    Viewing(unlock.unlock_id, unlock.hub, c.entity_id) for c in unlock.cameras
                )
        return viewings

    # Writes

    async def async_update_policy(self, change: Callable[[Policy], Policy]) -> Policy:
        """Read the current policy, apply `change`, store it, and refresh.

        The policy is read from the add-on rather than from `self.data` so that a
        change made elsewhere in the meantime is not silently undone. The home location
        is always Home Assistant's home zone, so it follows a move of the home.
        """
        async with self.policy_lock:
            with addon_errors(self.hass, self.config_entry):
                state = await self.client.state()
                policy = replace(change(state.policy), home=home_of(self.hass))
                stored = await self.client.put_policy(policy)
        await self.async_request_refresh()
        return stored

    async def async_pause(self, until: datetime) -> Policy:
        """Pause sharing until `until` (checked by datetime.pause_end)."""
        return await self.async_update_policy(lambda p: replace(p, paused_until=until))

    async def async_resume(self) -> Policy:
        """End a pause now."""
        return await self.async_update_policy(lambda p: replace(p, paused_until=None))

    async def async_unlock_action(self, action: str, unlock_id: str) -> Unlock:
        """Approve, decline or revoke one unlock."""
        method = {
            "approve": self.client.approve,
            "decline": self.client.decline,
            "revoke": self.client.revoke,
        }[action]
        with addon_errors(self.hass, self.config_entry, unlock_id):
            unlock = await method(unlock_id)
        await self.async_request_refresh()
        return unlock

    async def async_revoke_all(self) -> None:
        """End every unlock."""
        with addon_errors(self.hass, self.config_entry):
            await self.client.revoke_all()
        await self.async_request_refresh()

    async def async_preview(
        self, entity_id: str, masks: tuple[Polygon, ...], max_width: int | None
    ) -> bytes:
        """The camera's still now, masked and scaled exactly as the city would get it."""
        with addon_errors(self.hass, self.config_entry):
            return await self.client.preview(
                entity_id, masks=masks, max_width=max_width, max_width_given=True
            )

    async def async_unlock_entries(self, unlock_id: str) -> tuple[list[AuditEntry], bool]:
        """One unlock's audit entries, oldest first, read from the add-on's log.

        Only the stretch of the log between its first and its last known entry is read.
        Returns the entries (at most UNLOCK_EVENTS_MAX) and whether some were left out.
        """
        record = self.history.get(unlock_id)
        if record is None:
            return [], False
        found: list[AuditEntry] = []
        after = record.first_seq - 1
        with addon_errors(self.hass, self.config_entry, unlock_id):
            while after < record.last_seq:
                page = await self.client.history(after, HISTORY_PAGE)
                for entry in page:
                    if entry.seq > record.last_seq:
                        break
                    if entry.unlock_id == unlock_id:
                        if len(found) == UNLOCK_EVENTS_MAX:
                            return found, True
                        found.append(entry)
                if len(page) < HISTORY_PAGE:
                    break
                after = page[-1].seq
        return found, False
