"""The integration against a stand-in add-on giving answers a real one does not: refusals of
the integration's own policy documents, unknown errors, replayed and malformed audit entries.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.rtcc_share import coordinator as rtcc_coordinator
from custom_components.rtcc_share.const import CONF_TOKEN, CONF_URL, DOMAIN, EVENT_UNLOCK

from .fake_addon import FakeAddon, fake_addon, json_answer, state_document
from .helpers import wait_for

TS = "2026-11-23T12:00:00Z"
CONSENT = "switch.camera_sharing_consent"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAddon]:
    """A stand-in add-on with a state, an empty history and an event feed."""
    async with fake_addon() as addon:
        addon.set("GET", "/state", json_answer(state_document()))
        addon.set("GET", "/history", json_answer([]))
        addon.set("GET", "/events", addon.feed.answer)
        yield addon
        addon.feed.hang_up()


@pytest.fixture
async def fake_entry(
    hass: HomeAssistant, home: None, fake: FakeAddon
) -> AsyncIterator[MockConfigEntry]:
    """The integration loaded against the stand-in."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="fake-home", data={CONF_URL: fake.url, CONF_TOKEN: "t"}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    feed = fake.feed
    await wait_for(lambda: feed.connections == 1, what="event stream")
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def _call(hass: HomeAssistant, service: str, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, service, data, blocking=True)


async def test_refused_policy_is_a_validation_error(
    hass: HomeAssistant, fake: FakeAddon, fake_entry: MockConfigEntry
) -> None:
    """A PUT the add-on refuses raises a translated ServiceValidationError with its reason."""
    fake.set(
        "PUT",
        "/policy",
        json_answer({"error": "invalid_policy", "message": "paused_until: too far"}, 400),
    )
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "pause_sharing", duration={"hours": 1})
    assert err.value.translation_key == "invalid_policy"
    assert err.value.translation_placeholders == {"error": "paused_until: too far"}
    put = [r for r in fake.requests if r[0] == "PUT"]
    assert len(put) == 1
    # The document written is the stored policy with the change, without the revision,
    # and with Home Assistant's home zone as the home.
    document = put[0][3]
    assert "revision" not in document
    assert document["paused_until"].endswith("Z")
    assert document["home"] == {"lat": hass.config.latitude, "lon": hass.config.longitude}


async def test_unknown_error_is_reported(
    hass: HomeAssistant, fake: FakeAddon, fake_entry: MockConfigEntry
) -> None:
    """An answer that fits no known error is a HomeAssistantError naming it, not silence."""
    fake.set("POST", "/revoke_all", json_answer({"error": "teapot", "message": "Short."}, 418))
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, "revoke_all")
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "unknown_error"
    assert err.value.translation_placeholders == {"error": "Short."}


async def test_token_refused_by_an_action_starts_reauth(
    hass: HomeAssistant, fake: FakeAddon, fake_entry: MockConfigEntry
) -> None:
    """A 401 on an action starts reauth at once."""
    fake.set("POST", "/revoke_all", json_answer({"error": "unauthorized", "message": "No."}, 401))
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, "revoke_all")
    assert err.value.translation_key == "invalid_auth"
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]


async def test_replayed_and_malformed_entries(
    hass: HomeAssistant,
    fake: FakeAddon,
    fake_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry seen before fires nothing again; a malformed one reconnects after the last."""
    feed = fake.feed
    events = async_capture_events(hass, EVENT_UNLOCK)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    entry = {
        "seq": 1,
        "ts": TS,
        "event": "unlock_status",
        "unlock_id": "u_1",
        "hub": "h",
        "detail": {"status": "declined", "previous": None, "reason": "paused"},
    }
    feed.send(entry)
    feed.send(entry)  # a replay overlapping what was seen
    feed.send(entry | {"seq": 2, "unlock_id": "u_2"})
    await wait_for(lambda: len(events) >= 2, what="events")
    assert [e.data["unlock_id"] for e in events] == ["u_1", "u_2"]
    assert events[0].data["end_reason"] == "paused"

    feed.send({"seq": 3, "event": "policy_changed"})  # no ts
    await wait_for(lambda: feed.connections == 2, what="reconnect")
    # It reconnects after the last entry it folded in.
    opened = [r[1] for r in fake.requests if r[1].startswith("/control/v1/events")]
    assert opened == ["/control/v1/events?after=0", "/control/v1/events?after=2"]
    coordinator = fake_entry.runtime_data
    assert coordinator.last_seq == 2
    assert [r.unlock_id for r in coordinator.history.newest_first()] == ["u_2", "u_1"]
    # The stream had worked: it is reopened at once and nothing turned unavailable (actions
    # on unavailable entities are skipped by Home Assistant, so a blip must not cause one).
    assert hass.states.get(CONSENT).state == "on"
    assert not [
        e
        for e in changes
        if e.data["entity_id"] == CONSENT and e.data["new_state"].state == STATE_UNAVAILABLE
    ]
    assert "Error requesting" not in caplog.text


async def test_stream_closing_at_once_backs_off(
    hass: HomeAssistant,
    fake: FakeAddon,
    fake_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stream that ends as soon as it opens makes entities unavailable and backs off."""
    monkeypatch.setattr(rtcc_coordinator.const, "RECONNECT_MIN", 0.5)
    closes: list[float] = []

    async def close_at_once(request: web.Request) -> web.StreamResponse:
        closes.append(asyncio.get_running_loop().time())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write_eof()
        return response

    fake.set("GET", "/events", close_at_once)
    feed = fake.feed
    feed.hang_up()
    await wait_for(lambda: hass.states.get(CONSENT).state == STATE_UNAVAILABLE, what="unavailable")
    await wait_for(lambda: len(closes) >= 3, what="reconnects")
    # Not a hot loop: every attempt waits first.
    gaps = [b - a for a, b in itertools.pairwise(closes)]
    assert all(gap >= 0.1 for gap in gaps), gaps

    fake.set("GET", "/events", feed.answer)
    await wait_for(lambda: hass.states.get(CONSENT).state == "on", wait_s=15, what="available")


async def test_options_unknown_refusal(hass: HomeAssistant, home: None, fake: FakeAddon) -> None:
    """The options flow works without a loaded entry and shows an unknown refusal."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="fake-home", data={CONF_URL: fake.url, CONF_TOKEN: "t"}
    )
    entry.add_to_hass(hass)
    fake.set("PUT", "/policy", json_answer({"error": "invalid_request", "message": "?"}, 400))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    user_input = {
        "cameras": [],
        "mode": "auto",
        "ask_timeout_s": 600,
        "max_radius_m": 800,
        "max_duration_s": 3600,
        "max_unlocks_per_week": 10,
        "allow_live": False,
        "require_case_number": True,
        "excluded_offenses": [],
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}

    fake.set("PUT", "/policy", json_answer(state_document()["policy"]))
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [r[3]["cameras"] for r in fake.requests if r[0] == "PUT"] == [[], []]
