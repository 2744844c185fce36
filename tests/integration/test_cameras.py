"""Cameras as Home Assistant knows them: renames followed, stable unique ids, recorders
offered from the Frigate and UniFi Protect integrations' entities, the panel's files."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.rtcc_share.api import Policy, PolicyCamera, Recorder, RecorderSource
from custom_components.rtcc_share.cameras import (
    friendly_name,
    recorder_choices,
    renamed_policy,
    suggested_recorder,
)
from custom_components.rtcc_share.const import DOMAIN, PANEL_URL_PATH
from tests.support.hub_process import HubProcess

from .helpers import base_policy, control, hub_state, wait_for

FRIGATE_ENTRY = "01FRIGATEENTRY"


def _register(
    registry: er.EntityRegistry, platform: str, unique_id: str, object_id: str
) -> er.RegistryEntry:
    return registry.async_get_or_create(
        "camera", platform, unique_id, suggested_object_id=object_id
    )


async def test_recorders_offered_from_home_assistant(hass: HomeAssistant) -> None:
    """Frigate's cameras by their Frigate names; UniFi Protect for its own cameras."""
    registry = er.async_get(hass)
    porch = _register(registry, "frigate", f"{FRIGATE_ENTRY}:camera:porch", "porch")
    _register(registry, "frigate", f"{FRIGATE_ENTRY}:camera:drive-way", "drive_way")
    _register(registry, "frigate", f"{FRIGATE_ENTRY}:camera:birdseye", "birdseye")
    _register(registry, "frigate", f"{FRIGATE_ENTRY}:camera_snapshots:porch_person", "pp")
    protect = _register(registry, "unifiprotect", "aa:bb:cc_0", "doorbell")
    generic = _register(registry, "generic", "g1", "garden")

    choices = recorder_choices(hass, porch.entity_id)
    assert [(c.recorder, c.suggested) for c in choices] == [
        (Recorder(RecorderSource.FRIGATE, "porch"), True),
        (Recorder(RecorderSource.FRIGATE, "drive-way"), False),
    ]
    assert suggested_recorder(hass, porch.entity_id) == Recorder(RecorderSource.FRIGATE, "porch")
    assert suggested_recorder(hass, protect.entity_id) == Recorder(RecorderSource.UNIFIPROTECT)
    # Any camera may be mapped to a Frigate camera by hand; nothing is suggested for it.
    assert [c.recorder.camera for c in recorder_choices(hass, generic.entity_id)] == [
        "drive-way",
        "porch",
    ]
    assert suggested_recorder(hass, generic.entity_id) is None
    assert suggested_recorder(hass, "camera.not_registered") is None


async def test_friendly_name_never_the_entity_id(hass: HomeAssistant) -> None:
    """A name the owner gave, or none at all (then the city sees "Camera N")."""
    hass.states.async_set("camera.a", "idle", {"friendly_name": " Porch "})
    hass.states.async_set("camera.b", "idle")
    registry = er.async_get(hass)
    named = registry.async_get_or_create(
        "camera", "generic", "x", suggested_object_id="c", original_name="Garden"
    )
    assert friendly_name(hass, "camera.a") == "Porch"
    assert friendly_name(hass, "camera.b") is None
    assert friendly_name(hass, named.entity_id) == "Garden"
    assert friendly_name(hass, "camera.nowhere") is None


def test_renamed_policy() -> None:
    """The camera's entry follows a rename; nothing changes when there is nothing to follow."""
    policy = Policy(
        cameras=(PolicyCamera("camera.a", label="A", share=True), PolicyCamera("camera.b"))
    )
    renamed = renamed_policy(policy, "camera.a", "camera.porch")
    assert renamed is not None
    assert [c.entity_id for c in renamed.cameras] == ["camera.porch", "camera.b"]
    assert renamed.cameras[0].label == "A"
    assert renamed_policy(policy, "camera.x", "camera.y") is None
    assert renamed_policy(policy, "camera.a", "camera.b") is None  # taken


async def test_a_renamed_camera_stays_shared(
    hass: HomeAssistant, home: None, hub: HubProcess, config_entry: MockConfigEntry
) -> None:
    """The policy follows the new entity id; the share switch keeps its unique id."""
    registry = er.async_get(hass)
    hass.states.async_remove("camera.front_door")  # the same camera, registered this time
    camera = _register(registry, "generic", "front", "front_door")
    assert camera.entity_id == "camera.front_door"
    # A switch made before 0.2, with the entity id in its unique id: migrated.
    config_entry.add_to_hass(hass)
    old = registry.async_get_or_create(
        "switch", DOMAIN, f"{hub.home_id}_share_camera.front_door", config_entry=config_entry
    )
    status, _ = await control(hub, "PUT", "/control/v1/policy", base_policy())
    assert status == 200
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    migrated = registry.async_get(old.entity_id)
    assert migrated is not None
    assert migrated.unique_id == f"{hub.home_id}_share_{camera.id}"

    registry.async_update_entity(camera.entity_id, new_entity_id="camera.porch")
    await hass.async_block_till_done()

    async def followed() -> bool:
        cameras = [c["entity_id"] for c in (await hub_state(hub))["policy"]["cameras"]]
        return cameras == ["camera.porch", "camera.back_yard"]

    for _ in range(100):
        if await followed():
            break
        await hass.async_block_till_done()
    assert await followed()
    switch = registry.async_get(old.entity_id)
    assert switch is not None
    assert switch.unique_id == migrated.unique_id  # the same switch, not a new one
    await wait_for(
        lambda: hass.states.get(old.entity_id).attributes.get("camera") == "camera.porch"
    )
    # A rename of a camera outside the policy changes nothing.
    other = _register(registry, "generic", "side", "side")
    revision = (await hub_state(hub))["policy"]["revision"]
    registry.async_update_entity(other.entity_id, new_entity_id="camera.side_2")
    await hass.async_block_till_done()
    assert (await hub_state(hub))["policy"]["revision"] == revision
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.usefixtures("sharing")
async def test_panel_for_admins_while_loaded(
    hass: HomeAssistant,
    hub: HubProcess,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """In the sidebar for admins while an entry is loaded; its module is served."""
    panels = hass.data["frontend_panels"]
    panel = panels[PANEL_URL_PATH]
    assert panel.require_admin is True
    assert panel.sidebar_title == "Camera sharing"
    module_url = panel.config["_panel_custom"]["module_url"]
    assert module_url.startswith("/rtcc_share_static/rtcc-share-panel.js?v=")
    client = await hass_client()
    response = await client.get(module_url)
    assert response.status == 200
    assert "customElements.define" in await response.text()
    response = await client.get("/rtcc_share_static/mask-editor.js")
    assert response.status == 200
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert PANEL_URL_PATH not in panels
