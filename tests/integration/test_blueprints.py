"""The automation blueprints validate with Home Assistant's own schema, and one runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import yaml as yaml_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.support.hub_process import HubProcess

from .helpers import hub_state, wait_for

AUTOMATION = "automation.pause_while_home"
BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints" / "automation" / "rtcc_share"


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("pause_while_home.yaml", {"home_zone", "config_entry_id", "pause_hours"}),
        ("ask_on_phone.yaml", {"notify_device", "answer_timeout"}),
        ("notify_when_shared.yaml", {"notify_device", "notify_end"}),
    ],
)
def test_blueprint_schema(name: str, inputs: set[str]) -> None:
    """Each blueprint passes the automation blueprint schema."""
    data = yaml_util.load_yaml_dict(BLUEPRINTS / name)
    blueprint = Blueprint(data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA)
    assert blueprint.validate() is None
    assert set(blueprint.inputs) == inputs


def test_all_blueprints_are_tested() -> None:
    assert {p.name for p in BLUEPRINTS.glob("*.yaml")} == {
        "pause_while_home.yaml",
        "ask_on_phone.yaml",
        "notify_when_shared.yaml",
    }


@pytest.mark.usefixtures("sharing")
async def test_pause_while_home_runs(
    hass: HomeAssistant,
    hub: HubProcess,
    init_integration: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """Someone comes home: sharing pauses; the last one leaves: it resumes."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "rtcc_share"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINTS / "pause_while_home.yaml", target)
    hass.states.async_set("zone.home", "0")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "Pause while home",
                "use_blueprint": {
                    "path": "rtcc_share/pause_while_home.yaml",
                    "input": {"config_entry_id": init_integration.entry_id, "pause_hours": 3},
                },
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get(AUTOMATION).state == "on"

    hass.states.async_set("zone.home", "1")
    await hass.async_block_till_done()
    await wait_for(
        lambda: hass.states.get("datetime.camera_sharing_pause_sharing_until").state != "unknown"
    )
    assert (await hub_state(hub))["policy"]["paused_until"] is not None

    hass.states.async_set("zone.home", "0")
    await hass.async_block_till_done()
    await wait_for(
        lambda: hass.states.get("datetime.camera_sharing_pause_sharing_until").state == "unknown"
    )
    assert (await hub_state(hub))["policy"]["paused_until"] is None
    # Detach the hourly renewal trigger.
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": AUTOMATION}, blocking=True
    )
