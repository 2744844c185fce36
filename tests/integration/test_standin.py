"""What the add-on does not report yet, from the loopback stand-in that speaks PROTOCOL.md's
shapes: relays in the state (section 4) with their audit entries, clip audit entries
(sections 5 and 7), a `hubs` list naming every hub; and fast, deterministic entity snapshots
of every platform (`snapshot_platform`, as Home Assistant core's tests have them).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from aiohttp import web
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.rtcc_share.const import CONF_TOKEN, CONF_URL, DOMAIN, EVENT_ACCESS
from custom_components.rtcc_share.relays import RelayIssues

from .fake_addon import FakeAddon, fake_addon, json_answer, state_document
from .helpers import wait_for

TS = "2026-11-23T12:00:00Z"
JACKSON = "binary_sensor.camera_sharing_connected_to_jackson_rtcc"
OTHER = "binary_sensor.camera_sharing_connected_to_county_hub"


def _unlock(**changes: Any) -> dict[str, Any]:
    unlock = {
        "unlock_id": "u_1",
        "hub": "jackson-rtcc",
        "hub_name": "Jackson RTCC",
        "incident": {"id": "I-1", "case_number": "C-1", "offense": "burglary"},
        "scope": ["snapshot", "stream"],
        "status": "active",
        "created_at": TS,
        "not_before": TS,
        "expires_at": "2099-01-01T00:00:00Z",
        "decides_by": None,
        "cameras": [
            {"id": "c_1", "entity_id": "camera.front_door", "label": "Front door"},
        ],
        "viewers": 1,
        "snapshots": 2,
        "frames": 10,
        "bytes": 5000,
    }
    return unlock | changes


def _relay(hub: str, url: str, *, connected: bool, since: str = TS) -> dict[str, Any]:
    return {
        "hub": hub,
        "url": url,
        "connected": connected,
        "since": since,
        "last_error": None if connected else "connection refused",
    }


def _document() -> dict[str, Any]:
    document = state_document(paused_until="2099-01-01T00:00:00Z")
    document["hubs"] = [{"id": "jackson-rtcc", "name": "Jackson RTCC"}, {"id": "county-hub"}]
    document["unlocks"] = [_unlock()]
    document["counters"] = {"unlocks_activated": 3, "last_shared": TS, "open_streams": 1}
    document["relays"] = [
        _relay("jackson-rtcc", "mqtts://broker.jackson.example:8883", connected=True),
        _relay("county-hub", "wss://broker.county.example/mqtt", connected=True),
    ]
    return document


class Stand:
    """The stand-in add-on with a state document the test edits."""

    def __init__(self, fake: FakeAddon) -> None:
        self.fake = fake
        self.document = _document()

    async def state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.document))

    def entry(self, seq: int, event: str, **fields: Any) -> None:
        """An audit entry on the event stream (the integration re-reads the state after)."""
        self.fake.feed.send({"seq": seq, "ts": TS, "event": event, "detail": {}} | fields)


@pytest.fixture
async def stand() -> AsyncIterator[Stand]:
    async with fake_addon() as fake:
        stand = Stand(fake)
        fake.set("GET", "/state", stand.state)
        fake.set("GET", "/history", json_answer([]))
        fake.set("GET", "/events", fake.feed.answer)
        fake.set("GET", "/audit/verify", json_answer({"ok": True, "entries": 7, "head": "ab"}))
        yield stand


@pytest.fixture
def platforms() -> list[Platform]:
    """All platforms, unless a test loads one only."""
    return [
        Platform.BINARY_SENSOR,
        Platform.BUTTON,
        Platform.DATETIME,
        Platform.SENSOR,
        Platform.SWITCH,
    ]


@pytest.fixture
async def stand_entry(
    hass: HomeAssistant, home: None, stand: Stand, platforms: list[Platform]
) -> AsyncIterator[MockConfigEntry]:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="RTCC Share",
        unique_id="fake-home",
        data={CONF_URL: stand.fake.url, CONF_TOKEN: "t"},
    )
    entry.add_to_hass(hass)
    with patch("custom_components.rtcc_share.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await wait_for(lambda: stand.fake.feed.connections == 1, what="event stream")
        yield entry
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


@pytest.mark.parametrize(
    "platforms",
    [
        [Platform.BINARY_SENSOR],
        [Platform.BUTTON],
        [Platform.DATETIME],
        [Platform.SENSOR],
        [Platform.SWITCH],
    ],
    ids=["binary_sensor", "button", "datetime", "sensor", "switch"],
)
async def test_entities(
    hass: HomeAssistant,
    stand_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every entity of every platform: names, unique ids, classes, states, attributes."""
    await snapshot_platform(hass, entity_registry, snapshot, stand_entry.entry_id)


async def test_relays_sensors_and_repair_issue(
    hass: HomeAssistant,
    stand: Stand,
    stand_entry: MockConfigEntry,
) -> None:
    """A sensor per relay named by its hub; down for 10 minutes raises a repair issue."""
    issues = ir.async_get(hass)
    assert hass.states.get(JACKSON).state == STATE_ON
    assert hass.states.get(JACKSON).attributes["friendly_name"] == (
        "Camera sharing Connected to Jackson RTCC"
    )
    # A hub the add-on names no one: its id.
    assert hass.states.get(OTHER).attributes["friendly_name"] == (
        "Camera sharing Connected to county-hub"
    )
    relay_issues = stand_entry.runtime_data.relay_issues
    assert isinstance(relay_issues, RelayIssues)

    now = dt_util.utcnow()
    long_ago = (now - timedelta(minutes=11)).isoformat()
    just_now = (now - timedelta(minutes=1)).isoformat()
    jackson, county = stand.document["relays"]
    stand.document["relays"] = [
        _relay(jackson["hub"], jackson["url"], connected=False, since=long_ago),
        _relay(county["hub"], county["url"], connected=False, since=just_now),
    ]
    stand.entry(1, "relay_lost", hub="jackson-rtcc", detail={"url": jackson["url"]})
    await wait_for(lambda: hass.states.get(JACKSON).state == STATE_OFF, what="relay down")
    assert hass.states.get(JACKSON).attributes["last_error"] == "connection refused"
    ours = [i for (domain, _), i in issues.issues.items() if domain == DOMAIN]
    assert [i.translation_key for i in ours] == ["relay_down"]  # only the one down for long
    assert ours[0].translation_placeholders["hub"] == "Jackson RTCC"
    assert ours[0].translation_placeholders["minutes"] == "10"

    # Ten minutes after the county relay went down, without any news from the add-on.
    async_fire_time_changed(hass, now + timedelta(minutes=9, seconds=1))
    await hass.async_block_till_done()
    ours = [i for (domain, _), i in issues.issues.items() if domain == DOMAIN]
    assert len(ours) == 2

    # Back: the issues clear; a relay taken out of the options loses its sensor.
    stand.document["relays"] = [_relay(jackson["hub"], jackson["url"], connected=True, since=TS)]
    stand.entry(2, "relay_connected", hub="jackson-rtcc", detail={"url": jackson["url"]})
    await wait_for(lambda: hass.states.get(JACKSON).state == STATE_ON, what="relay up")
    await wait_for(lambda: hass.states.get(OTHER) is None, what="relay removed")
    assert er.async_get(hass).async_get(OTHER) is None
    assert not [i for (domain, _), i in issues.issues.items() if domain == DOMAIN]


async def test_relay_down_without_since_counts_from_now(
    hass: HomeAssistant, stand: Stand, home: None
) -> None:
    """An add-on that does not say since when: ten minutes from when it was seen down."""
    relay = _relay("jackson-rtcc", "mqtts://b:8883", connected=False)
    relay["since"] = None
    stand.document["relays"] = [relay]
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="fake-home", data={CONF_URL: stand.fake.url, CONF_TOKEN: "t"}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    assert not [i for (domain, _), i in issues.issues.items() if domain == DOMAIN]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10, seconds=1))
    await hass.async_block_till_done()
    assert [i.translation_key for (d, _), i in issues.issues.items() if d == DOMAIN] == [
        "relay_down"
    ]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics_show_relays_never_credentials(
    hass: HomeAssistant,
    stand: Stand,
    home: None,
    hass_client: ClientSessionGenerator,
) -> None:
    """Relay state in diagnostics; a URL's user, password and query never."""
    stand.document["relays"] = [
        _relay(
            "jackson-rtcc", "wss://home-7:s3cret@broker.example/mqtt?token=abc", connected=False
        ),
        _relay("county-hub", "not a url", connected=True),
    ]
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="fake-home", data={CONF_URL: stand.fake.url, CONF_TOKEN: "t"}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = str(diagnostics)
    assert "s3cret" not in text
    assert "abc" not in text
    assert "home-7" not in text
    first, second = diagnostics["relays"]
    assert first == {
        "hub": "jackson-rtcc",
        "hub_name": "Jackson RTCC",
        "url": "wss://broker.example/mqtt",
        "connected": False,
        "since": "2026-11-23T12:00:00+00:00",
        "last_error": "connection refused",
    }
    assert second["url"] == "**REDACTED**"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_clip_entries_fire_access_events_and_fill_the_history(
    hass: HomeAssistant, stand: Stand, stand_entry: MockConfigEntry
) -> None:
    """rtcc_share_access for clips too, with the hub's name and the camera's label."""
    events = async_capture_events(hass, EVENT_ACCESS)
    ids = {"camera_id": "c_1", "entity_id": "camera.front_door", "clip_id": "k_1"}
    window = {"start": "2026-11-23T11:00:00Z", "end": "2026-11-23T11:10:00Z"}
    common = {"unlock_id": "u_1", "hub": "jackson-rtcc"}
    stand.entry(1, "unlock_status", **common, detail={"status": "active", "cameras": []})
    stand.entry(2, "clip_requested", **common, detail=ids | window)
    stand.entry(
        3,
        "clip_prepared",
        **common,
        detail=ids
        | window
        | {"bytes": 900_000, "sha256": "a" * 64, "source_sha256": "b" * 64, "frames": 3000},
    )
    stand.entry(4, "clip_served", **common, detail=ids | {"bytes": 900_000})
    stand.entry(5, "clip_deleted", **common, detail={"clip_id": "k_1", "reason": "unlock_ended"})
    await wait_for(lambda: len(events) == 3, what="clip events")
    assert [e.data["action"] for e in events] == ["clip_requested", "clip_prepared", "clip_served"]
    served = events[2].data
    assert (served["hub_name"], served["camera"], served["camera_label"]) == (
        "Jackson RTCC",
        "camera.front_door",
        "Front door",
    )
    assert (served["clip_id"], served["bytes"]) == ("k_1", 900_000)
    assert events[0].data["start"] == window["start"]
    record = stand_entry.runtime_data.history.get("u_1")
    await wait_for(lambda: record.clips["k_1"].status == "deleted")  # type: ignore[union-attr]
    clip = record.clips["k_1"]  # type: ignore[union-attr]
    assert (clip.bytes, clip.downloads, clip.deleted_reason) == (900_000, 1, "unlock_ended")
