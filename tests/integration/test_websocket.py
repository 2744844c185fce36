"""The panel's websocket commands against a real add-on: what they answer, what they change,
and that bad input gets a clear error and changes nothing; non-admin users are refused."""

from __future__ import annotations

import base64
import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from PIL import Image
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MockHAClientWebSocket, WebSocketGenerator

from custom_components.rtcc_share.const import DOMAIN
from tests.support.hub_process import HubProcess

from .conftest import Unlocker
from .helpers import base_policy, control, hub_state, wait_for

type Ask = Callable[..., Awaitable[dict[str, Any]]]

# Every command and a valid body: each is refused to a non-admin user.
COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("state", {}),
    ("subscribe", {}),
    ("unlock", {"unlock_id": "u_x", "action": "revoke"}),
    ("revoke_all", {}),
    ("pause", {"minutes": 30}),
    ("resume", {}),
    ("rules", {"mode": "ask"}),
    ("camera/save", {"entity_id": "camera.front_door", "share": False}),
    ("camera/remove", {"entity_id": "camera.front_door"}),
    ("preview", {"entity_id": "camera.front_door"}),
    ("history", {}),
    ("history/unlock", {"unlock_id": "u_x"}),
    ("audit", {}),
]


@pytest.fixture
async def ws(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> MockHAClientWebSocket:
    """An admin's websocket connection (the panel's)."""
    return await hass_ws_client(hass)


@pytest.fixture
def ask(ws: MockHAClientWebSocket) -> Ask:
    """Send one rtcc_share command; return the whole answer (result or error)."""

    async def send(command: str, **data: Any) -> dict[str, Any]:
        await ws.send_json_auto_id({"type": f"{DOMAIN}/{command}", **data})
        return dict(await ws.receive_json())

    return send


async def _ok(ask: Ask, command: str, **data: Any) -> Any:
    answer = await ask(command, **data)
    assert answer["success"], answer
    return answer["result"]


async def _refused(ask: Ask, command: str, code: str, **data: Any) -> dict[str, Any]:
    answer = await ask(command, **data)
    assert not answer["success"], answer
    error = dict(answer["error"])
    assert error["code"] == code, error
    assert error["message"]  # a clear error, never an empty one
    return error


async def _revision(hub: HubProcess) -> int:
    return int((await hub_state(hub))["policy"]["revision"])


@pytest.mark.usefixtures("sharing")
async def test_state_names_everything_for_the_panel(
    hass: HomeAssistant, ask: Ask, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """Policy in the panel's terms, every camera of the home, unlocks with hub names."""
    hass.states.async_set("camera.garage", "idle", {"friendly_name": "Garage"})
    granted = await unlock(incident={"id": "I-1", "case_number": "C-1", "offense": "burglary"})
    coordinator = init_integration.runtime_data
    await wait_for(lambda: len(coordinator.data.unlocks) == 1)
    state = await _ok(ask, "state")
    assert state["entry_id"] == init_integration.entry_id
    assert state["entries"] == [{"entry_id": init_integration.entry_id, "title": "RTCC Share"}]
    assert state["policy"] | {"revision": 0} == {
        "consent": True,
        "paused_until": None,
        "mode": "auto",
        "ask_timeout_s": 600,
        "max_radius_m": 800,
        "max_duration_s": 3600,
        "max_unlocks_per_week": 50,
        "allow_live": True,
        "require_case_number": True,
        "excluded_offenses": ["protest"],
        "allow_clips": False,
        "max_clip_s": 1800,
        "max_clip_age_s": 604800,
        "revision": 0,
    }
    cameras = {c["entity_id"]: c for c in state["cameras"]}
    # The policy's cameras first, in its order, then the home's others.
    assert list(cameras) == ["camera.front_door", "camera.back_yard", "camera.garage"]
    assert cameras["camera.front_door"] | {"recorder_choices": []} == {
        "entity_id": "camera.front_door",
        "name": "Front door",
        "exists": True,
        "in_policy": True,
        "share": True,
        "label": "Front door",
        "public_label": "Front door",
        "masks": [],
        "max_width": None,
        "max_fps": 2.0,
        "recorder": None,
        "recorder_choices": [],
        "suggested_recorder": None,
    }
    garage = cameras["camera.garage"]
    assert (garage["in_policy"], garage["public_label"]) == (False, "Camera 3")
    (shown,) = state["unlocks"]
    assert shown["unlock_id"] == granted["unlock_id"]
    assert (shown["hub_name"], shown["incident_id"], shown["case_number"]) == (
        "Jackson RTCC",
        "I-1",
        "C-1",
    )
    assert [c["label"] for c in shown["cameras"]] == ["Front door", "Back yard"]
    assert state["viewing"] == []
    assert state["relays"] == []
    assert state["available"] is True


@pytest.mark.usefixtures("sharing")
async def test_subscribe_pushes_every_change(
    hass: HomeAssistant, ws: MockHAClientWebSocket, hub: HubProcess
) -> None:
    """The panel follows the add-on live; unsubscribing stops it."""
    await ws.send_json_auto_id({"type": "rtcc_share/subscribe"})
    result = await ws.receive_json()
    assert result["success"]
    subscription = result["id"]
    first = await ws.receive_json()
    assert first["type"] == "event"
    assert first["event"]["policy"]["mode"] == "auto"
    status, _ = await control(hub, "PUT", "/control/v1/policy", base_policy(mode="ask"))
    assert status == 200
    while (message := await ws.receive_json())["event"]["policy"]["mode"] != "ask":
        assert message["id"] == subscription
    await ws.send_json_auto_id({"type": "unsubscribe_events", "subscription": subscription})
    assert (await ws.receive_json())["success"]


@pytest.mark.usefixtures("sharing")
async def test_unlock_actions(
    ask: Ask, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """Approve and decline a pending unlock, revoke an active one; refusals translated."""
    status, _ = await control(hub, "PUT", "/control/v1/policy", base_policy(mode="ask"))
    assert status == 200
    first, second = await unlock(), await unlock()
    result = await _ok(ask, "unlock", unlock_id=first["unlock_id"], action="approve")
    assert result == {"unlock_id": first["unlock_id"], "status": "active"}
    declined = await _ok(ask, "unlock", unlock_id=second["unlock_id"], action="decline")
    assert declined["status"] == "declined"
    # Approving an active unlock: its status does not allow it.
    error = await _refused(
        ask, "unlock", "home_assistant_error", unlock_id=first["unlock_id"], action="approve"
    )
    assert error["translation_key"] == "unlock_conflict"
    assert first["unlock_id"] in error["message"]
    error = await _refused(
        ask, "unlock", "home_assistant_error", unlock_id="u_unknown", action="revoke"
    )
    assert error["translation_key"] == "unlock_not_found"
    assert error["message"] == "The add-on does not know unlock u_unknown"
    assert await _ok(ask, "unlock", unlock_id=first["unlock_id"], action="revoke")
    assert (await hub_state(hub))["unlocks"] == []
    await _ok(ask, "revoke_all")


# Input each command refuses before anything is asked of the add-on.
BAD_INPUT: list[tuple[str, dict[str, Any]]] = [
    ("unlock", {"unlock_id": "u_1/../revoke_all", "action": "revoke"}),
    ("unlock", {"unlock_id": "u_1", "action": "delete"}),
    ("unlock", {"action": "revoke"}),
    ("pause", {}),
    ("pause", {"minutes": 30, "until": "2099-01-01T00:00:00Z"}),
    ("pause", {"minutes": 0}),
    ("pause", {"minutes": True}),
    ("pause", {"minutes": 1.5}),
    ("pause", {"until": "tomorrow"}),
    ("rules", {"mode": "sometimes"}),
    ("rules", {"ask_timeout_s": 5}),
    ("rules", {"max_radius_m": 49}),
    ("rules", {"max_radius_m": True}),
    ("rules", {"max_duration_s": 86401}),
    ("rules", {"max_unlocks_per_week": -1}),
    ("rules", {"allow_live": "yes"}),
    ("rules", {"excluded_offenses": "protest"}),
    ("rules", {"excluded_offenses": ["x" * 201]}),
    ("rules", {"max_clip_s": 59}),
    ("rules", {"max_clip_age_s": 31 * 24 * 3600}),
    ("rules", {"home": {"lat": 0, "lon": 0}}),
    ("camera/save", {"entity_id": "light.kitchen", "share": True}),
    ("camera/save", {"entity_id": "camera.front_door"}),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "label": "x" * 101}),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "label": 5}),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "masks": [[[0, 0]]]}),
    (
        "camera/save",
        {"entity_id": "camera.front_door", "share": True, "masks": [[[0, 0], [1, 0], [1, 2]]]},
    ),
    (
        "camera/save",
        {"entity_id": "camera.front_door", "share": True, "masks": [[[0, 0], [1], [1, 1]]]},
    ),
    (
        "camera/save",
        {
            "entity_id": "camera.front_door",
            "share": True,
            "masks": [[[0, 0], [1, 0], [0, 1]]] * 33,
        },
    ),
    (
        "camera/save",
        {
            "entity_id": "camera.front_door",
            "share": True,
            "masks": [[[0, 0], [True, 0], [0, 1]]],
        },
    ),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "masks": "[]"}),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "max_width": 15}),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "max_fps": 31}),
    (
        "camera/save",
        {"entity_id": "camera.front_door", "share": True, "recorder": {"source": "nvr"}},
    ),
    (
        "camera/save",
        {
            "entity_id": "camera.front_door",
            "share": True,
            "recorder": {"source": "frigate", "camera": 5},
        },
    ),
    (
        "camera/save",
        {
            "entity_id": "camera.front_door",
            "share": True,
            "recorder": {"source": "unifiprotect", "camera": "x"},
        },
    ),
    ("camera/save", {"entity_id": "camera.front_door", "share": True, "recorder": "frigate"}),
    ("camera/remove", {"entity_id": "camera"}),
    ("preview", {"entity_id": "camera.front_door", "max_width": 8000}),
    ("preview", {"entity_id": "camera.front_door", "masks": [[]]}),
    ("history", {"limit": 0}),
    ("history", {"offset": -1}),
    ("history", {"status": "lost"}),
    ("history/unlock", {"unlock_id": ""}),
    ("state", {"entry_id": 5}),
]


@pytest.mark.usefixtures("sharing")
async def test_bad_input_is_refused_and_changes_nothing(
    ask: Ask, hub: HubProcess, unlock: Unlocker
) -> None:
    """Validated before anything is asked of the add-on: a clear error, nothing changed."""
    await unlock()
    before = await hub_state(hub)
    for command, data in BAD_INPUT:
        error = await _refused(ask, command, "invalid_format", **data)
        assert error["message"], (command, data)
    after = await hub_state(hub)
    assert after["policy"] == before["policy"]
    assert [u["status"] for u in after["unlocks"]] == ["active"]
    history = await control(hub, "GET", "/control/v1/history?after=0&limit=1000")
    assert [e["event"] for e in history[1]].count("policy_changed") == 1  # the fixture's


@pytest.mark.usefixtures("sharing")
async def test_pause_resume_and_rules(ask: Ask, hub: HubProcess) -> None:
    """Pause for minutes or until a time; resume; rules change only what is given."""
    result = await _ok(ask, "pause", minutes=30)
    until = dt_util.parse_datetime(result["paused_until"])
    assert until is not None
    left = until - dt_util.utcnow()
    assert timedelta(minutes=29) < left <= timedelta(minutes=30, seconds=1)
    assert (await hub_state(hub))["policy"]["paused_until"] is not None
    await _ok(ask, "resume")
    assert (await hub_state(hub))["policy"]["paused_until"] is None
    later = (dt_util.now() + timedelta(hours=3)).replace(tzinfo=None).isoformat()
    result = await _ok(ask, "pause", until=later)  # a bare time is the home's
    assert result["paused_until"] is not None
    revision = await _revision(hub)
    error = await _refused(ask, "pause", "home_assistant_error", until="2001-01-01T00:00:00Z")
    assert error["translation_key"] == "pause_in_past"
    assert await _revision(hub) == revision
    await _ok(ask, "resume")

    result = await _ok(
        ask,
        "rules",
        mode="ask",
        ask_timeout_s=120,
        max_radius_m=1200.5,
        excluded_offenses=["Protest ", "loitering", "", "protest"],
        allow_clips=True,
        max_clip_s=600,
        max_clip_age_s=3600,
        consent=False,
    )
    policy = (await hub_state(hub))["policy"]
    assert result["revision"] == policy["revision"]
    assert policy | {"revision": 0, "cameras": []} == base_policy(
        mode="ask",
        ask_timeout_s=120,
        max_radius_m=1200.5,
        excluded_offenses=["protest", "loitering"],
        allow_clips=True,
        max_clip_s=600,
        max_clip_age_s=3600,
        consent=False,
    ) | {"revision": 0, "cameras": []}


@pytest.mark.usefixtures("sharing")
async def test_cameras_save_and_remove(hass: HomeAssistant, ask: Ask, hub: HubProcess) -> None:
    """Add, change and take out cameras; never the entity id as a label."""
    hass.states.async_set("camera.garage", "idle", {"friendly_name": "Garage"})
    mask = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
    result = await _ok(
        ask,
        "camera/save",
        entity_id="camera.garage",
        share=True,
        label="  \u200b ",  # no visible text: no label
        masks=[mask],
        max_width=1280,
        max_fps=5,
        recorder={"source": "frigate", "camera": "garage"},
    )
    assert result["public_label"] == "Camera 3"
    cameras = {c["entity_id"]: c for c in (await hub_state(hub))["policy"]["cameras"]}
    assert cameras["camera.garage"] == {
        "entity_id": "camera.garage",
        "label": None,
        "share": True,
        "masks": [mask],
        "max_width": 1280,
        "max_fps": 5,
        "recorder": {"source": "frigate", "camera": "garage"},
    }
    result = await _ok(
        ask,
        "camera/save",
        entity_id="camera.garage",
        share=False,
        label=" Garage door ",
        recorder={"source": "unifiprotect"},
    )
    assert result["public_label"] == "Garage door"
    garage = next(
        c for c in (await hub_state(hub))["policy"]["cameras"] if c["entity_id"] == "camera.garage"
    )
    assert (garage["label"], garage["share"], garage["masks"], garage["recorder"]) == (
        "Garage door",
        False,
        [],
        {"source": "unifiprotect"},
    )

    revision = await _revision(hub)
    for label in ("camera.garage", "GARAGE"):
        error = await _refused(
            ask,
            "camera/save",
            "home_assistant_error",
            entity_id="camera.garage",
            share=True,
            label=label,
        )
        assert error["translation_key"] == "label_is_entity_id"
    error = await _refused(
        ask, "camera/save", "home_assistant_error", entity_id="camera.nowhere", share=True
    )
    assert error["translation_key"] == "unknown_camera"
    assert error["message"] == "There is no camera camera.nowhere in Home Assistant"
    assert await _revision(hub) == revision

    await _ok(ask, "camera/remove", entity_id="camera.garage")
    assert "camera.garage" not in {
        c["entity_id"] for c in (await hub_state(hub))["policy"]["cameras"]
    }
    error = await _refused(ask, "camera/remove", "home_assistant_error", entity_id="camera.garage")
    assert error["translation_key"] == "camera_not_in_policy"


# Names Frigate could give a camera (frigate/const.py REGEX_CAMERA_NAME), up to the add-on's
# 64, and names it could not: a space, a slash, a letter beyond ASCII, a newline, 65 long.
FRIGATE_NAMES = ["garage", "Garage-2_north", "7", "x" * 64]
NOT_FRIGATE_NAMES = ["front door", "", "garage/1", "cam\u00e9ra", "garage\n", " garage", "x" * 65]


@pytest.mark.usefixtures("sharing")
async def test_frigate_camera_by_name(hass: HomeAssistant, ask: Ask, hub: HubProcess) -> None:
    """Any Frigate camera name, typed by the owner (Home Assistant needs no Frigate
    integration); a name Frigate could not have gets a translated error, nothing changes."""
    hass.states.async_set("camera.garage", "idle", {"friendly_name": "Garage"})
    views = {c["entity_id"]: c for c in (await _ok(ask, "state"))["cameras"]}
    assert views["camera.garage"]["recorder_choices"] == []  # Home Assistant knows none
    for name in FRIGATE_NAMES:
        await _ok(
            ask,
            "camera/save",
            entity_id="camera.garage",
            share=True,
            recorder={"source": "frigate", "camera": name},
        )
        cameras = {c["entity_id"]: c for c in (await hub_state(hub))["policy"]["cameras"]}
        assert cameras["camera.garage"]["recorder"] == {"source": "frigate", "camera": name}

    revision = await _revision(hub)
    for name in NOT_FRIGATE_NAMES:
        error = await _refused(
            ask,
            "camera/save",
            "home_assistant_error",
            entity_id="camera.garage",
            share=False,
            recorder={"source": "frigate", "camera": name},
        )
        assert error["translation_key"] == "invalid_frigate_camera", name
        assert error["translation_domain"] == DOMAIN
    assert error["translation_placeholders"]["camera"] == "x" * 64 + "\u2026"  # cut short
    error = await _refused(
        ask,
        "camera/save",
        "home_assistant_error",
        entity_id="camera.garage",
        share=True,
        recorder={"source": "frigate", "camera": "front door"},
    )
    assert error["message"] == (
        "\u201cfront door\u201d is not a Frigate camera name: Frigate names have only letters, "
        "digits, _ and - (at most 64 characters). Nothing was changed"
    )
    assert await _revision(hub) == revision
    garage = next(
        c for c in (await hub_state(hub))["policy"]["cameras"] if c["entity_id"] == "camera.garage"
    )
    assert (garage["share"], garage["recorder"]) == (
        True,
        {"source": "frigate", "camera": "x" * 64},
    )


def _decode(image: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image))).convert("L"))


@pytest.mark.usefixtures("sharing")
async def test_preview_is_what_the_city_would_get(
    hass: HomeAssistant, ask: Ask, hub: HubProcess
) -> None:
    """The add-on's own rendering with the panel's unsaved masks and width; nothing changes."""
    revision = await _revision(hub)
    plain = await _ok(ask, "preview", entity_id="camera.front_door")
    assert plain["content_type"] == "image/jpeg"
    assert _decode(plain["image"]).max() > 100
    masked = await _ok(
        ask,
        "preview",
        entity_id="camera.front_door",
        masks=[[[0, 0], [1, 0], [1, 1], [0, 1]]],
        max_width=320,
    )
    pixels = _decode(masked["image"])
    assert pixels.shape[1] == 320
    assert pixels.max() <= 12  # all of it masked
    assert await _revision(hub) == revision
    history = await control(hub, "GET", "/control/v1/history?after=0&limit=1000")
    assert not [e for e in history[1] if e["event"] == "snapshot_served"]

    error = await _refused(ask, "preview", "home_assistant_error", entity_id="camera.nowhere")
    assert error["translation_key"] == "unknown_camera"
    # A camera Home Assistant has but cannot give an image of (the stand-in does not know it).
    hass.states.async_set("camera.garage", "idle")
    error = await _refused(ask, "preview", "home_assistant_error", entity_id="camera.garage")
    assert error["translation_key"] == "camera_unavailable"


@pytest.mark.usefixtures("sharing")
async def test_history_pages_filters_events_and_audit(
    ask: Ask, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """Newest first, in pages, by status; one unlock's events; the chain's head."""
    first = await unlock(incident={"id": "I-1", "case_number": "C", "offense": "burglary"})
    declined = await unlock(incident={"id": "I-2", "case_number": "C", "offense": "protest"})
    third = await unlock(incident={"id": "I-3", "case_number": "C", "offense": "burglary"})
    history = init_integration.runtime_data.history
    await wait_for(lambda: len(history) == 3)
    page = await _ok(ask, "history", limit=2)
    assert page["total"] == 3
    assert [r["incident_id"] for r in page["records"]] == ["I-3", "I-2"]
    assert page["hubs"] == [{"id": "jackson-rtcc", "name": "Jackson RTCC"}]
    assert page["records"][1] | {"received": None} == {
        "unlock_id": declined["unlock_id"],
        "hub": "jackson-rtcc",
        "hub_name": "Jackson RTCC",
        "incident_id": "I-2",
        "case_number": "C",
        "offense": "protest",
        "scope": ["snapshot"],
        "status": "declined",
        "reason": "excluded_offense",
        "received": None,
        "start": None,
        "end": page["records"][1]["end"],
        "cameras": [],
        "snapshots": 0,
        "frames": 0,
        "bytes": 0,
        "clips": [],
    }
    page = await _ok(ask, "history", offset=2, limit=2)
    assert [r["unlock_id"] for r in page["records"]] == [first["unlock_id"]]
    page = await _ok(ask, "history", status="declined", hub="jackson-rtcc")
    assert [r["unlock_id"] for r in page["records"]] == [declined["unlock_id"]]
    page = await _ok(ask, "history", hub="another-hub")
    assert page["total"] == 0

    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {third['access_token']}"}
        camera = third["cameras"][0]["id"]
        url = f"{hub.city_url}/api/v1/unlocks/{third['unlock_id']}/cameras/{camera}/snapshot"
        async with session.get(url, headers=headers) as response:
            assert response.status == 200
    await wait_for(lambda: history.get(third["unlock_id"]).snapshots == 1)  # type: ignore[union-attr]
    events = await _ok(ask, "history/unlock", unlock_id=third["unlock_id"])
    assert [e["event"] for e in events["events"]] == [
        "unlock_received",
        "unlock_status",
        "snapshot_served",
    ]
    assert events["events"][2]["camera"] == "Front door"
    assert events["events"][1]["detail"] == {"status": "active", "previous": None, "reason": None}
    assert events["truncated"] is False
    error = await _refused(ask, "history/unlock", "home_assistant_error", unlock_id="u_none")
    assert error["translation_key"] == "unlock_not_found"

    audit = await _ok(ask, "audit")
    status, verified = await control(hub, "GET", "/control/v1/audit/verify")
    assert status == 200
    assert audit == {
        "ok": True,
        "entries": verified["entries"],
        "head": verified["head"],
        "first_bad_seq": None,
    }


@pytest.mark.usefixtures("sharing")
async def test_non_admin_is_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hub: HubProcess,
    hass_ws_client: WebSocketGenerator,
    hass_read_only_access_token: str,
) -> None:
    """Every command is for administrators only (the panel is too)."""
    before = await hub_state(hub)
    client = await hass_ws_client(hass, hass_read_only_access_token)
    for command, data in COMMANDS:
        await client.send_json_auto_id({"type": f"{DOMAIN}/{command}", **data})
        answer = await client.receive_json()
        assert not answer["success"], command
        assert answer["error"]["code"] == "unauthorized", command
    assert (await hub_state(hub))["policy"] == before["policy"]


async def test_which_entry(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    home: None,
    config_entry: MockConfigEntry,
) -> None:
    """No entry loaded, an unknown one: translated errors, not a crash."""
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_ws_client(hass)  # the HTTP server starts here
    await client.send_json_auto_id({"type": "rtcc_share/state"})
    answer = await client.receive_json()
    assert answer["error"]["translation_key"] == "no_entry_loaded"
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await client.send_json_auto_id({"type": "rtcc_share/state", "entry_id": "nope"})
    answer = await client.receive_json()
    assert answer["error"]["translation_key"] == "entry_not_loaded"
    assert answer["error"]["message"] == "The RTCC Share entry nope is not loaded"
    await client.send_json_auto_id({"type": "rtcc_share/state", "entry_id": config_entry.entry_id})
    assert (await client.receive_json())["success"]
    await hass.config_entries.async_unload(config_entry.entry_id)
