"""Diagnostics: useful, and without the control token or the home's location."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.support.city import DEFAULT_HOME
from tests.support.hub_process import HubProcess

from .conftest import Unlocker
from .helpers import wait_for

# Values that differ on every run (random ids, ports, times); their place is kept.
DYNAMIC = {
    "home_id", "url", "unlock_id", "id", "incident_id", "start", "end", "created_at",
    "expires_at", "decides_by", "last_access", "last_shared", "last_seq", "head", "entries",
    "received", "not_before", "since",
}  # fmt: skip


def _stable(*, data: Any, path: tuple[tuple[Any, Any], ...]) -> Any:
    if path and path[-1][0] in DYNAMIC and isinstance(data, str | datetime | int):
        return f"<{path[-1][0]}>"
    return data


@pytest.mark.usefixtures("sharing")
async def test_diagnostics(
    hass: HomeAssistant,
    hub: HubProcess,
    init_integration: MockConfigEntry,
    unlock: Unlocker,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """The snapshot shows policy, unlocks and history with secrets redacted."""
    await unlock(incident={"id": "I-1", "case_number": "C-1", "offense": "burglary"})
    coordinator = init_integration.runtime_data
    await wait_for(lambda: len(coordinator.data.unlocks) == 1)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    text = json.dumps(diagnostics)
    assert hub.control_token not in text
    assert str(DEFAULT_HOME["lat"]) not in text
    assert str(DEFAULT_HOME["lon"]) not in text
    assert diagnostics["policy"]["home"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["token"] == "**REDACTED**"
    assert diagnostics["audit"]["ok"] is True
    assert diagnostics == snapshot(matcher=_stable)


async def test_diagnostics_while_addon_is_down(
    hass: HomeAssistant,
    hub: HubProcess,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Diagnostics still download, say the link is down, and why the audit check failed."""
    import asyncio

    from homeassistant.const import STATE_UNAVAILABLE

    await asyncio.to_thread(hub.stop)
    await wait_for(
        lambda: hass.states.get("switch.camera_sharing_consent").state == STATE_UNAVAILABLE,
        what="unavailable",
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["connected"] is False
    assert set(diagnostics["audit"]) == {"error"}
    assert diagnostics["audit"]["error"]
    assert diagnostics["home_id"] == hub.home_id  # the last state read is still shown
    assert hub.control_token not in json.dumps(diagnostics)
