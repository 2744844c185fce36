"""Button for RTCC Share: end every unlock now."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity
from .helpers import addon_errors

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the revoke_all button."""
    async_add_entities([RevokeAllButton(entry.runtime_data)])


class RevokeAllButton(RtccShareEntity, ButtonEntity):
    """Ends every unlock at once (`revoked`)."""

    _attr_translation_key = "revoke_all"

    def __init__(self, coordinator: RtccShareCoordinator) -> None:
        """Initialise the button."""
        super().__init__(coordinator, "revoke_all")

    @override
    async def async_press(self) -> None:
        """Ask the add-on to end every unlock."""
        with addon_errors(self.coordinator):
            await self.coordinator.client.revoke_all()
        await self.coordinator.async_request_refresh()
