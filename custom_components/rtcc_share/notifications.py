"""Ask mode: one persistent notification per pending request, linking to the panel.

The notification says who asks, for what, which cameras and until when; its link opens
the Camera sharing panel on that request, where Approve and Decline are one click each.
Texts come from the integration's translations (category `common`) in Home Assistant's
language.
"""

from __future__ import annotations

from collections.abc import Iterable

import homeassistant.util.dt as dt_util
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.translation import async_get_translations

from .api import Unlock, UnlockStatus
from .const import DOMAIN, PANEL_URL_PATH


def notification_id(unlock_id: str) -> str:
    """The persistent notification of one request."""
    return f"{DOMAIN}_request_{unlock_id}"


def panel_link(unlock_id: str) -> str:
    """The panel's Now view with this request in front."""
    return f"/{PANEL_URL_PATH}?unlock={unlock_id}"


class RequestNotifications:
    """Creates and dismisses the request notifications of one config entry."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with nothing shown."""
        self._hass = hass
        self._shown: set[str] = set()

    async def async_sync(self, unlocks: Iterable[Unlock]) -> None:
        """Show a notification per pending unlock; take back those decided meanwhile."""
        pending = {u.unlock_id: u for u in unlocks if u.status is UnlockStatus.PENDING}
        new = [u for unlock_id, u in pending.items() if unlock_id not in self._shown]
        if new:
            strings = await async_get_translations(
                self._hass, self._hass.config.language, "common", {DOMAIN}
            )
            for unlock in new:
                self._shown.add(unlock.unlock_id)
                title, message = _texts(strings, unlock)
                persistent_notification.async_create(
                    self._hass,
                    message,
                    title=title,
                    notification_id=notification_id(unlock.unlock_id),
                )
        for unlock_id in self._shown - pending.keys():
            self._shown.discard(unlock_id)
            persistent_notification.async_dismiss(self._hass, notification_id(unlock_id))

    @callback
    def async_dismiss_all(self) -> None:
        """Take back every notification (the entry unloads: its panel link stops working)."""
        for unlock_id in self._shown:
            persistent_notification.async_dismiss(self._hass, notification_id(unlock_id))
        self._shown.clear()


def _texts(strings: dict[str, str], unlock: Unlock) -> tuple[str, str]:
    prefix = f"component.{DOMAIN}.common."
    cameras = ", ".join(c.label for c in unlock.cameras if c.label)
    deadline = (
        dt_util.as_local(unlock.decides_by).strftime("%Y-%m-%d %H:%M") if unlock.decides_by else ""
    )
    placeholders = {
        "hub": unlock.hub_name,
        "incident": unlock.incident_id,
        "offense": unlock.offense,
        "case_number": unlock.case_number or "",
        "cameras": cameras,
        "deadline": deadline,
        "link": panel_link(unlock.unlock_id),
    }
    key = "request_message" if unlock.case_number else "request_message_no_case"
    title = strings[prefix + "request_title"]
    message = strings[prefix + key].format(**placeholders)
    return title, message
