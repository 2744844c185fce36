"""Entities through a full incident: unlock, active, snapshot, stream, revoke."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.rtcc_share import binary_sensor as rtcc_binary_sensor
from custom_components.rtcc_share.const import DOMAIN, EVENT_ACCESS, EVENT_UNLOCK
from tests.support.hub_process import HubProcess
from tests.support.streams import mjpeg_parts

from .conftest import Unlocker
from .helpers import control, hub_state, wait_for

CONSENT = "switch.camera_sharing_consent"
SHARE_FRONT = "switch.camera_sharing_front_door"
SHARE_BACK = "switch.camera_sharing_back_yard"
HISTORY = "sensor.camera_sharing_unlocks_shared"
LAST_SHARED = "sensor.camera_sharing_last_shared"
ACTIVE = "sensor.camera_sharing_active_unlocks"
PAUSED = "datetime.camera_sharing_pause_sharing_until"
VIEWING = "binary_sensor.camera_sharing_city_viewing"
REVOKE_ALL = "button.camera_sharing_revoke_all_unlocks"
RESUME = "button.camera_sharing_resume_sharing"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _events(events: list[Event], **match: Any) -> list[dict[str, Any]]:
    return [dict(e.data) for e in events if all(e.data.get(k) == v for k, v in match.items())]


@pytest.mark.usefixtures("sharing")
async def test_unique_ids_and_device(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Unique ids start with the home_id; everything belongs to one device."""
    registry = er.async_get(hass)
    expected = {
        CONSENT: "consent",
        SHARE_FRONT: "share_camera.front_door",
        SHARE_BACK: "share_camera.back_yard",
        HISTORY: "share_history",
        LAST_SHARED: "last_shared",
        ACTIVE: "active_unlocks",
        PAUSED: "paused_until",
        VIEWING: "city_viewing",
        REVOKE_ALL: "revoke_all",
        RESUME: "resume",
    }
    devices = set()
    for entity_id, key in expected.items():
        entry = registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.unique_id == f"{hub.home_id}_{key}"
        devices.add(entry.device_id)
    assert len(devices) == 1
    # Names read as what they do: the device is "Camera sharing", a share switch its label.
    assert hass.states.get(SHARE_FRONT).attributes["friendly_name"] == "Camera sharing Front door"
    assert hass.states.get(HISTORY).attributes["friendly_name"] == "Camera sharing Unlocks shared"
    assert hass.states.get(PAUSED).attributes["friendly_name"] == (
        "Camera sharing Pause sharing until"
    )


@pytest.mark.usefixtures("sharing")
async def test_full_incident(
    hass: HomeAssistant,
    hub: HubProcess,
    init_integration: MockConfigEntry,
    unlock: Unlocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every entity and event through unlock, snapshot, stream and revoke."""
    unlock_events = async_capture_events(hass, EVENT_UNLOCK)
    access_events = async_capture_events(hass, EVENT_ACCESS)
    assert _state(hass, CONSENT) == "on"
    assert _state(hass, SHARE_FRONT) == "on"
    assert _state(hass, HISTORY) == "0"
    assert _state(hass, ACTIVE) == "0"
    assert _state(hass, LAST_SHARED) == STATE_UNKNOWN
    assert _state(hass, PAUSED) == STATE_UNKNOWN
    assert _state(hass, VIEWING) == "off"

    granted_incident = "I-FULL-1"
    granted = await unlock(
        scope=["snapshot", "stream"],
        incident={"id": granted_incident, "case_number": "C-1", "offense": "burglary"},
    )
    assert granted["status"] == "active"
    unlock_id = granted["unlock_id"]
    await wait_for(lambda: _state(hass, ACTIVE) == "1", what="active unlock")
    assert _state(hass, HISTORY) == "1"
    assert _state(hass, LAST_SHARED) != STATE_UNKNOWN
    active = _events(unlock_events, unlock_id=unlock_id, status="active")
    assert len(active) == 1
    assert active[0]["hub"] == "jackson-rtcc"
    assert active[0]["hub_name"] == "Jackson RTCC"  # the name beside the id
    assert active[0]["offense"] == "burglary"
    assert sorted(active[0]["cameras"]) == ["camera.back_yard", "camera.front_door"]
    assert sorted(active[0]["camera_labels"]) == ["Back yard", "Front door"]
    assert active[0]["end_reason"] is None
    assert active[0]["config_entry_id"] == init_integration.entry_id
    history = init_integration.runtime_data.history
    record = history.get(unlock_id)
    assert record is not None
    assert record.status == "active"
    assert record.start is not None
    assert record.end is None
    assert hass.states.get(VIEWING).attributes == hass.states.get(VIEWING).attributes | {
        "cameras": [],
        "hub": None,
        "incident": None,
    }

    headers = {"Authorization": f"Bearer {granted['access_token']}"}
    base = f"{hub.city_url}/api/v1/unlocks/{unlock_id}/cameras"
    camera_id = granted["cameras"][0]["id"]
    # A stalled stream fails here within seconds instead of the 5-minute default.
    timeout = aiohttp.ClientTimeout(total=60, sock_read=15)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        async with session.get(f"{base}/{camera_id}/snapshot") as response:
            assert response.status == 200
            snapshot_bytes = len(await response.read())
        await wait_for(lambda: _state(hass, VIEWING) == "on", what="viewing (snapshot)")
        snapshot = _events(access_events, action="snapshot")
        assert snapshot[0]["unlock_id"] == unlock_id
        assert snapshot[0]["bytes"] == snapshot_bytes
        assert snapshot[0]["hub_name"] == "Jackson RTCC"
        camera_label = snapshot[0]["camera_label"]
        assert camera_label in ("Front door", "Back yard")
        # Which camera, which city, which incident.
        viewing = hass.states.get(VIEWING).attributes
        assert viewing["cameras"] == [camera_label]
        assert viewing["hub"] == "Jackson RTCC"
        assert viewing["incident"] == granted_incident

        async with session.get(f"{base}/{camera_id}/stream") as response:
            assert response.status == 200
            async for _part in mjpeg_parts(response):
                break
            await wait_for(lambda: bool(_events(access_events, action="stream_opened")))
            await wait_for(lambda: hass.states.get(VIEWING).state == "on")
        await wait_for(
            lambda: bool(_events(access_events, action="stream_closed")), what="stream closed"
        )
    closed = _events(access_events, action="stream_closed")[0]
    assert closed["frames"] >= 1
    assert closed["camera"] in ("camera.front_door", "camera.back_yard")

    await hass.services.async_call(DOMAIN, "revoke_unlock", {"unlock_id": unlock_id}, blocking=True)
    await wait_for(lambda: _state(hass, ACTIVE) == "0", what="revoked")
    assert unlock_id not in {u["unlock_id"] for u in (await hub_state(hub))["unlocks"]}
    ended = _events(unlock_events, unlock_id=unlock_id, status="ended")
    assert ended[0]["end_reason"] == "revoked"
    await wait_for(lambda: record.end is not None)
    assert record.reason == "revoked"
    assert record.frames >= 1
    assert record.bytes >= snapshot_bytes
    assert record.snapshots == 1
    assert _state(hass, HISTORY) == "1"  # unlocks that became active, ever

    # The snapshot's minute ends: city_viewing turns off by itself.
    later = dt_util.utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(rtcc_binary_sensor, "dt_util", SimpleNamespace(utcnow=lambda: later))
    async_fire_time_changed(hass, later)
    await hass.async_block_till_done()
    # Jumping the clock also times out the event stream's read; it reconnects at once.
    await wait_for(lambda: _state(hass, VIEWING) == "off", what="viewing off")


@pytest.mark.usefixtures("sharing")
async def test_no_records_in_state_attributes(
    hass: HomeAssistant, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """No entity carries a list of records: the history lives in the panel."""
    await unlock()
    await wait_for(lambda: _state(hass, ACTIVE) == "1")
    registry = er.async_get(hass)
    ours = er.async_entries_for_config_entry(registry, init_integration.entry_id)
    assert ours
    for entry in ours:
        state = hass.states.get(entry.entity_id)
        assert state is not None
        for name, value in state.attributes.items():
            if isinstance(value, list):
                assert all(isinstance(v, str) for v in value), (entry.entity_id, name)


@pytest.mark.usefixtures("sharing")
async def test_history_built_at_startup(
    hass: HomeAssistant,
    hub: HubProcess,
    config_entry: MockConfigEntry,
    unlock: Unlocker,
    home: None,
) -> None:
    """Unlocks from before Home Assistant started are read from /control/v1/history."""
    first = await unlock()
    declined = await unlock(incident={"id": "I-2", "offense": "protest", "case_number": "C"})
    assert declined["status"] == "declined"
    status, _ = await control(hub, "POST", f"/control/v1/unlocks/{first['unlock_id']}/revoke")
    assert status == 200

    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    records = list(config_entry.runtime_data.history.newest_first())
    assert [r.unlock_id for r in records] == [declined["unlock_id"], first["unlock_id"]]
    assert records[0].status == "declined"
    assert records[0].reason == "excluded_offense"
    assert records[0].start is None
    assert records[1].reason == "revoked"
    assert _state(hass, HISTORY) == "1"
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.usefixtures("sharing")
async def test_switches_write_the_policy(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """Share and consent switches change the add-on's policy; consent off ends unlocks."""
    granted = await unlock()
    await wait_for(lambda: _state(hass, ACTIVE) == "1")

    await hass.services.async_call("switch", "turn_off", {"entity_id": SHARE_BACK}, blocking=True)
    cameras = {c["entity_id"]: c for c in (await hub_state(hub))["policy"]["cameras"]}
    assert cameras["camera.back_yard"]["share"] is False
    assert cameras["camera.front_door"]["share"] is True
    await wait_for(lambda: _state(hass, SHARE_BACK) == "off")

    await hass.services.async_call("switch", "turn_on", {"entity_id": SHARE_BACK}, blocking=True)
    cameras = {c["entity_id"]: c for c in (await hub_state(hub))["policy"]["cameras"]}
    assert cameras["camera.back_yard"]["share"] is True
    await wait_for(lambda: _state(hass, SHARE_BACK) == "on")

    events = async_capture_events(hass, EVENT_UNLOCK)
    # Home Assistant skips actions on unavailable entities without an error: the switch
    # must be available (it is: the event stream does not flap) for the action to count.
    assert _state(hass, CONSENT) == "on"
    await hass.services.async_call("switch", "turn_off", {"entity_id": CONSENT}, blocking=True)
    state = await hub_state(hub)
    assert state["policy"]["consent"] is False
    assert state["unlocks"] == []
    await wait_for(lambda: _state(hass, CONSENT) == "off")
    await wait_for(lambda: _state(hass, ACTIVE) == "0")
    ended = {"unlock_id": granted["unlock_id"], "status": "ended"}
    await wait_for(lambda: bool(_events(events, **ended)), what="ended event")
    assert _events(events, **ended)[0]["end_reason"] == "consent_withdrawn"

    await hass.services.async_call("switch", "turn_on", {"entity_id": CONSENT}, blocking=True)
    assert (await hub_state(hub))["policy"]["consent"] is True


@pytest.mark.usefixtures("sharing")
async def test_camera_leaving_the_policy_removes_its_switch(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Share switches follow the policy's camera list without a reload."""
    state = await hub_state(hub)
    policy = {k: v for k, v in state["policy"].items() if k != "revision"}
    policy["cameras"] = policy["cameras"][:1]
    status, _ = await control(hub, "PUT", "/control/v1/policy", policy)
    assert status == 200
    await wait_for(lambda: hass.states.get(SHARE_BACK) is None, what="switch removed")
    assert er.async_get(hass).async_get(SHARE_BACK) is None

    policy["cameras"].append({"entity_id": "camera.garage", "label": "Garage", "share": False})
    status, _ = await control(hub, "PUT", "/control/v1/policy", policy)
    assert status == 200
    await wait_for(
        lambda: hass.states.get("switch.camera_sharing_garage") is not None, what="new switch"
    )
    assert _state(hass, "switch.camera_sharing_garage") == "off"


@pytest.mark.usefixtures("sharing")
async def test_revoke_all_button(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """The button ends every unlock."""
    await unlock()
    await unlock()
    await wait_for(lambda: _state(hass, ACTIVE) == "2")
    await hass.services.async_call("button", "press", {"entity_id": REVOKE_ALL}, blocking=True)
    assert (await hub_state(hub))["unlocks"] == []
    await wait_for(lambda: _state(hass, ACTIVE) == "0")
