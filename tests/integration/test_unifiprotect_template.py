"""The add-on's config-entry lookup for UniFi Protect recorders, rendered by real Home Assistant.

The add-on asks `POST /api/template` with `rtcc_hub.recorders.unifiprotect.CONFIG_ENTRY_TEMPLATE`
and the entity id as a variable; the add-on's tests run it against a stand-in with plain Jinja.
This renders the very same template with Home Assistant's own template engine and registry.
"""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.template import Template
from pytest_homeassistant_custom_component.common import MockConfigEntry

from rtcc_hub.recorders.unifiprotect import CONFIG_ENTRY_TEMPLATE


def _render(hass: HomeAssistant, entity_id: str) -> object:
    text = Template(CONFIG_ENTRY_TEMPLATE, hass).async_render(
        variables={"entity_id": entity_id}, parse_result=False
    )
    return json.loads(text)


async def test_config_entry_of_a_protect_camera(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain="unifiprotect", title="UDM Pro")
    entry.add_to_hass(hass)
    other = MockConfigEntry(domain="generic", title="Old camera")
    other.add_to_hass(hass)
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "camera", "unifiprotect", "abc123", config_entry=entry, suggested_object_id="driveway"
    )
    registry.async_get_or_create(
        "camera", "generic", "def456", config_entry=other, suggested_object_id="old"
    )
    assert _render(hass, "camera.driveway") == {
        "entry_id": entry.entry_id,
        "domain": "unifiprotect",
    }
    assert _render(hass, "camera.old") == {"entry_id": other.entry_id, "domain": "generic"}
    assert _render(hass, "camera.unknown") == {"entry_id": None, "domain": None}
    # The entity id is data, never template text: odd ids render as lookups, not as code.
    assert _render(hass, "camera.x }}{{ 7*7") == {"entry_id": None, "domain": None}
