"""Buttons for RTCC Share: end every unlock now, and end a pause now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import RtccShareConfigEntry, RtccShareCoordinator
from .entity import RtccShareEntity

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class RtccShareButtonEntityDescription(ButtonEntityDescription):
    """Describes an RTCC Share button."""

    press_fn: Callable[[RtccShareCoordinator], Awaitable[Any]]


BUTTONS = (
    RtccShareButtonEntityDescription(
        key="revoke_all",
        translation_key="revoke_all",
        press_fn=lambda c: c.async_revoke_all(),
    ),
    RtccShareButtonEntityDescription(
        key="resume",
        translation_key="resume",
        press_fn=lambda c: c.async_resume(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RtccShareConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the buttons."""
    async_add_entities(RtccShareButton(entry.runtime_data, d) for d in BUTTONS)


class RtccShareButton(RtccShareEntity, ButtonEntity):
    """An RTCC Share button."""

    entity_description: RtccShareButtonEntityDescription

    def __init__(
        self, coordinator: RtccShareCoordinator, description: RtccShareButtonEntityDescription
    ) -> None:
        """Initialise the button."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @override
    async def async_press(self) -> None:
        """Ask the add-on."""
        await self.entity_description.press_fn(self.coordinator)
