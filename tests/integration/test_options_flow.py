"""Options flow: the policy round-trips to the add-on; refusals change nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.rtcc_share.options_flow import InvalidMasks, parse_masks
from tests.support.city import DEFAULT_HOME
from tests.support.hub_process import HubProcess

from .helpers import base_policy, control, hub_state, wait_for

MASK = [[[0.0, 0.0], [0.35, 0.0], [0.35, 0.6], [0.0, 0.6]]]
HOME_RULES = {
    "mode": "ask",
    "ask_timeout_s": 300,
    "max_radius_m": 1200,
    "max_duration_s": 7200,
    "max_unlocks_per_week": 5,
    "allow_live": True,
    "require_case_number": False,
    "excluded_offenses": ["Protest", "immigration ", "loitering"],
}


async def test_options_round_trip(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Two cameras with labels, limits and masks end up in the add-on's policy."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"cameras": ["camera.front_door", "camera.back_yard"], **HOME_RULES},
    )
    assert result["step_id"] == "camera"
    assert result["description_placeholders"]["camera"] == "camera.front_door"

    # A mask that is not a polygon list: shown in the form, then fixed.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"label": "Front door", "share": True, "masks": "[[[0, 0], [2, 0]]]"}
    )
    assert result["errors"] == {"masks": "invalid_masks"}
    assert "at least 3 points" in result["description_placeholders"]["error"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "label": "Front door",
            "share": True,
            "masks": json.dumps(MASK),
            "max_width": 1280,
            "max_fps": 5,
        },
    )
    assert result["step_id"] == "camera"
    assert result["description_placeholders"]["camera"] == "camera.back_yard"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"label": "Back yard", "share": False, "masks": "[]"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY

    policy = (await hub_state(hub))["policy"]
    assert policy["mode"] == "ask"
    assert policy["ask_timeout_s"] == 300
    assert policy["max_radius_m"] == 1200
    assert policy["max_duration_s"] == 7200
    assert policy["max_unlocks_per_week"] == 5
    assert policy["allow_live"] is True
    assert policy["require_case_number"] is False
    assert policy["excluded_offenses"] == ["immigration", "loitering", "protest"]
    assert policy["home"] == DEFAULT_HOME
    assert policy["consent"] is False  # consent is the switch's, never the options flow's
    front, back = policy["cameras"]
    assert front["entity_id"] == "camera.front_door"
    assert front["label"] == "Front door"
    assert front["share"] is True
    assert front["masks"] == MASK
    assert front["max_width"] == 1280
    assert front["max_fps"] == 5
    assert back == back | {"entity_id": "camera.back_yard", "label": "Back yard", "share": False}

    # The switches follow; the form shows the stored values next time.
    await wait_for(lambda: hass.states.get("switch.camera_sharing_back_yard") is not None)
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    schema = result["data_schema"].schema
    suggested = {str(k): k.description.get("suggested_value") for k in schema if k.description}
    assert suggested["cameras"] == ["camera.front_door", "camera.back_yard"]
    assert suggested["mode"] == "ask"


async def test_options_refused_policy_changes_nothing(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """A 400 invalid_policy is shown in the form; the stored policy stays as it was."""
    before = (await hub_state(hub))["policy"]
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": ["camera.front_door"], **HOME_RULES}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"label": "x" * 101, "share": True, "masks": "[]"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_policy"}
    assert "label" in result["description_placeholders"]["error"]
    assert (await hub_state(hub))["policy"] == before

    # Recovery in the same form.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"label": "Front door", "share": True, "masks": "[]"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (await hub_state(hub))["policy"]["revision"] == before["revision"] + 1


async def test_options_unknown_camera_and_no_cameras(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """A camera Home Assistant does not have is refused; no cameras writes at once."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": ["camera.nowhere"], **HOME_RULES}
    )
    assert result["errors"] == {"cameras": "unknown_camera"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": [], **HOME_RULES}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    policy = (await hub_state(hub))["policy"]
    assert policy["cameras"] == []
    assert policy["mode"] == "ask"


async def test_options_addon_down(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Opening the options while the add-on is down aborts; going down mid-way is shown."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    await asyncio.to_thread(hub.stop)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": [], **HOME_RULES}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[[0, 0], [1, 0]", "not JSON"),
        ('{"polygon": []}', "expected a list of polygons"),
        ("[[[0, 0], [1, 0]]]", "polygon 1 needs at least 3 points"),
        ("[[[0, 0], [1, 0], [1, 1]], 5]", "polygon 2 needs at least 3 points"),
        ("[[[0, 0], [1, 0], [1.5, 1]]]", "polygon 1: [1.5, 1] is not an [x, y] point in 0..1"),
        ("[[[0, 0], [1, 0], [true, 1]]]", "polygon 1: [true, 1] is not"),
        ("[[[0, 0], [1, 0], [1, 1, 1]]]", "polygon 1: [1, 1, 1] is not"),
        ('[[[0, 0], [1, 0], ["1", 1]]]', "is not an [x, y] point"),
        ("[[[0, 0], [1, 0], [-0.1, 1]]]", "is not an [x, y] point"),
    ],
)
def test_parse_masks_refuses(text: str, problem: str) -> None:
    """Masks that are not polygons in 0..1 are refused with an explanation."""
    with pytest.raises(InvalidMasks) as err:
        parse_masks(text)
    assert problem in str(err.value)


def test_parse_masks_accepts() -> None:
    """Empty text is no masks; integer corners become floats."""
    assert parse_masks("") == []
    assert parse_masks("[[[0, 0], [1, 0], [1, 1]]]") == [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]]


async def test_options_show_the_stored_camera(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """A camera already in the policy starts from its stored settings."""
    policy = base_policy()
    policy["cameras"][0] |= {"masks": MASK, "max_width": 640, "max_fps": 2}
    status, body = await control(hub, "PUT", "/control/v1/policy", policy)
    assert status == 200, body
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": ["camera.front_door"], **HOME_RULES}
    )
    assert result["step_id"] == "camera"
    suggested = {
        str(k): k.description.get("suggested_value")
        for k in result["data_schema"].schema
        if k.description
    }
    assert suggested["label"] == "Front door"
    assert suggested["share"] is True
    assert json.loads(suggested["masks"]) == MASK
    assert suggested["max_width"] == 640
    assert suggested["max_fps"] == 2


async def test_options_token_refused_on_save(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """The add-on rotated its token while the form was open: shown, nothing written."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    await asyncio.to_thread(hub.stop)
    hub.options["control_token"] = "rotated-control-token-0003"
    await asyncio.to_thread(hub.start)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": [], **HOME_RULES}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert (await hub_state(hub))["policy"]["mode"] == "auto"


async def test_options_clips_recorders_and_the_label_rule(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Clip limits in minutes and hours; recorders offered from Home Assistant; a label left
    empty is no label (the city sees "Camera N"), never the entity id."""
    registry = er.async_get(hass)
    hass.states.async_remove("camera.front_door")
    porch = registry.async_get_or_create(
        "camera", "frigate", "01FRIGATE:camera:front_door", suggested_object_id="front_door"
    )
    hass.states.async_set(porch.entity_id, "idle")  # no friendly name
    hass.states.async_set("camera.doorbell", "idle", {"friendly_name": "Doorbell"})
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "cameras": [porch.entity_id, "camera.doorbell"],
            **HOME_RULES,
            "allow_clips": True,
            "max_clip_minutes": 15,
            "max_clip_age_hours": 48,
        },
    )
    assert result["description_placeholders"]["camera"] == porch.entity_id
    suggested = {
        str(k): k.description.get("suggested_value")
        for k in result["data_schema"].schema
        if k.description
    }
    assert suggested["label"] == ""  # no name in Home Assistant: no label, not "front door"
    assert suggested["recorder"] == "frigate:front_door"  # Home Assistant knows it
    options = result["data_schema"].schema["recorder"].config["options"]
    assert [o["value"] for o in options] == ["none", "frigate:front_door", "frigate_by_name"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"label": "   ", "share": True, "recorder": "frigate:front_door"}
    )
    suggested = {
        str(k): k.description.get("suggested_value")
        for k in result["data_schema"].schema
        if k.description
    }
    assert suggested["label"] == "Doorbell"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"label": "Doorbell", "share": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    policy = (await hub_state(hub))["policy"]
    assert (policy["allow_clips"], policy["max_clip_s"], policy["max_clip_age_s"]) == (
        True,
        900,
        48 * 3600,
    )
    porch_camera, doorbell = policy["cameras"]
    assert porch_camera["label"] is None
    assert porch_camera["recorder"] == {"source": "frigate", "camera": "front_door"}
    assert doorbell["label"] == "Doorbell"
    assert doorbell["recorder"] is None

    # The stored recorder is offered again even once Frigate is gone; minutes shown back.
    registry.async_remove(porch.entity_id)
    hass.states.async_set(porch.entity_id, "idle")
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    suggested = {
        str(k): k.description.get("suggested_value")
        for k in result["data_schema"].schema
        if k.description
    }
    assert (suggested["max_clip_minutes"], suggested["max_clip_age_hours"]) == (15, 48)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": [porch.entity_id], **HOME_RULES, "allow_clips": True}
    )
    options = result["data_schema"].schema["recorder"].config["options"]
    assert [o["value"] for o in options] == ["none", "frigate:front_door", "frigate_by_name"]
    # UniFi Protect is only offered for UniFi Protect's own cameras.
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"share": True, "recorder": "unifiprotect"}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"share": True, "recorder": "none"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (camera,) = (await hub_state(hub))["policy"]["cameras"]
    assert camera["recorder"] is None


async def test_options_frigate_camera_by_name(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """A Frigate camera Home Assistant does not know, by the name typed; a name Frigate could
    not have, or one typed with another choice, is shown in the form and nothing is written."""
    before = (await hub_state(hub))["policy"]
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": ["camera.front_door"], **HOME_RULES}
    )
    options = result["data_schema"].schema["recorder"].config["options"]
    assert [o["value"] for o in options] == ["none", "frigate_by_name"]
    for answer, error in (
        ({"recorder": "frigate_by_name", "frigate_camera": "front door"}, "invalid_frigate_camera"),
        ({"recorder": "frigate_by_name", "frigate_camera": "x" * 65}, "invalid_frigate_camera"),
        ({"recorder": "frigate_by_name"}, "invalid_frigate_camera"),
        ({"recorder": "none", "frigate_camera": "porch"}, "frigate_camera_unused"),
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"share": True, **answer}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"frigate_camera": error}, answer
    assert (await hub_state(hub))["policy"] == before

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"share": True, "recorder": "frigate_by_name", "frigate_camera": " porch_cam-2 "},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (camera,) = (await hub_state(hub))["policy"]["cameras"]
    assert camera["recorder"] == {"source": "frigate", "camera": "porch_cam-2"}

    # Shown back as the stored choice, by its name.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"cameras": ["camera.front_door"], **HOME_RULES}
    )
    options = result["data_schema"].schema["recorder"].config["options"]
    assert [o["value"] for o in options] == ["none", "frigate:porch_cam-2", "frigate_by_name"]
    suggested = {
        str(k): k.description.get("suggested_value")
        for k in result["data_schema"].schema
        if k.description
    }
    assert suggested["recorder"] == "frigate:porch_cam-2"
