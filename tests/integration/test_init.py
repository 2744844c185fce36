"""Set-up, unload, and the add-on going away and coming back."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.rtcc_share.const import CONF_TOKEN, CONF_URL, DOMAIN
from tests.support.hub_process import HubProcess, free_port

from .helpers import wait_for

CONSENT = "switch.camera_sharing_consent"


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.rtcc_share") and r.levelno >= logging.ERROR
    ]


async def test_setup_and_unload(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """The entry loads, makes one device, and unloads."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(CONSENT).state == "off"  # first start: no consent
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get(CONSENT).state == STATE_UNAVAILABLE


async def test_setup_retries_when_addon_is_down(hass: HomeAssistant) -> None:
    """No add-on at the address: the entry is retried, not failed."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="h",
        data={CONF_URL: f"http://127.0.0.1:{free_port()}", CONF_TOKEN: "t"},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_addon_goes_away_and_comes_back(
    hass: HomeAssistant,
    hub: HubProcess,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping the add-on makes entities unavailable; restarting brings them back."""
    assert hass.states.get(CONSENT).state == "off"
    issue_id = f"addon_unreachable_{init_integration.entry_id}"

    await asyncio.to_thread(hub.stop)
    await wait_for(lambda: hass.states.get(CONSENT).state == STATE_UNAVAILABLE, what="unavailable")
    # Logged once when lost, however many reconnects fail meanwhile.
    await asyncio.sleep(0.5)
    assert len(_errors(caplog)) == 1

    # Unreachable for more than a few minutes: a repair issue.
    registry = ir.async_get(hass)
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is not None

    await asyncio.to_thread(hub.start)
    await wait_for(lambda: hass.states.get(CONSENT).state == "off", what="available again")
    assert caplog.text.count("Fetching rtcc_share data recovered") == 1
    assert len(_errors(caplog)) == 1
    assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_token_refused_while_running(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """The add-on comes back with another token: reauth starts and a repair issue is raised."""
    await asyncio.to_thread(hub.stop)
    hub.options["control_token"] = "rotated-control-token-0001"
    await asyncio.to_thread(hub.start)

    def reauth_started() -> bool:
        return any(
            flow["context"]["source"] == "reauth"
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        )

    await wait_for(reauth_started, what="reauth")
    assert hass.states.get(CONSENT).state == STATE_UNAVAILABLE
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"token_refused_{init_integration.entry_id}")
    assert issue is not None


async def test_token_refused_by_actions_and_options(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """With a rotated token, an action raises a translated error and the options abort."""
    from homeassistant.exceptions import HomeAssistantError

    await asyncio.to_thread(hub.stop)
    hub.options["control_token"] = "rotated-control-token-0002"
    await asyncio.to_thread(hub.start)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "revoke_all", {}, blocking=True)
    assert err.value.translation_key == "invalid_auth"
    # The action itself starts reauth (the event stream may do it too: one flow only).
    await wait_for(
        lambda: (
            [f["context"]["source"] for f in hass.config_entries.flow.async_progress()]
            == ["reauth"]
        ),
        what="one reauth flow",
    )
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] == "abort"
    assert result["reason"] == "invalid_auth"


async def test_history_read_in_pages(
    hass: HomeAssistant,
    hub: HubProcess,
    config_entry: MockConfigEntry,
    home: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A history longer than one page is read to its end at start-up."""
    from custom_components.rtcc_share import coordinator as rtcc_coordinator

    from .helpers import base_policy, control

    for revision in range(5):  # five policy_changed entries after service_started
        policy = base_policy(max_unlocks_per_week=10 + revision)
        status, _ = await control(hub, "PUT", "/control/v1/policy", policy)
        assert status == 200
    _, page = await control(hub, "GET", "/control/v1/history?after=0&limit=1000")
    head = page[-1]["seq"]
    assert head >= 6
    monkeypatch.setattr(rtcc_coordinator, "HISTORY_PAGE", 2)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = config_entry.runtime_data
    assert coordinator.last_seq == head
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
