"""Actions change the add-on's state (checked through its control API) or fail loudly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import probatio
import pytest
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.rtcc_share.const import DOMAIN, EVENT_UNLOCK
from tests.support.hub_process import HubProcess

from .conftest import Unlocker
from .helpers import base_policy, control, hub_state, wait_for

PAUSED = "datetime.camera_sharing_pause_sharing_until"


async def _call(hass: HomeAssistant, service: str, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, service, data, blocking=True)


@pytest.mark.usefixtures("sharing")
async def test_pause_and_resume(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """A pause is stored in the policy; unlocks are declined meanwhile; resume clears it."""
    before = dt_util.utcnow()
    await _call(hass, "pause_sharing", duration={"hours": 2})
    paused = dt_util.parse_datetime((await hub_state(hub))["policy"]["paused_until"])
    assert paused is not None
    assert before + timedelta(hours=2) <= paused <= before + timedelta(hours=2, seconds=5)
    await wait_for(lambda: hass.states.get(PAUSED).state not in ("unknown", "unavailable"))
    assert dt_util.parse_datetime(hass.states.get(PAUSED).state) == paused

    assert (await unlock())["status"] == "declined"

    await _call(hass, "resume_sharing", config_entry_id=init_integration.entry_id)
    assert (await hub_state(hub))["policy"]["paused_until"] is None
    await wait_for(lambda: hass.states.get(PAUSED).state == "unknown")
    assert (await unlock())["status"] == "active"

    until = dt_util.now() + timedelta(minutes=30)
    await _call(hass, "pause_sharing", until=until.replace(tzinfo=None).isoformat())
    stored = dt_util.parse_datetime((await hub_state(hub))["policy"]["paused_until"])
    assert stored is not None
    assert abs((stored - until).total_seconds()) <= 1


@pytest.mark.usefixtures("sharing")
async def test_pause_validation(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Exactly one of duration and until, in the future; nothing changes otherwise."""
    revision = (await hub_state(hub))["policy"]["revision"]
    past = (dt_util.utcnow() - timedelta(minutes=1)).isoformat()
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "pause_sharing", until=past)
    assert err.value.translation_key == "pause_in_past"
    for data in ({}, {"duration": {"hours": 1}, "until": past}, {"duration": "-01:00:00"}):
        with pytest.raises(probatio.Invalid):
            await _call(hass, "pause_sharing", **data)
    # Beyond what a date can hold: a clear refusal, not an OverflowError.
    for data in ({"duration": {"days": 10**8}}, {"until": "9999-12-31 23:59:59.5"}):
        with pytest.raises(ServiceValidationError) as err:
            await _call(hass, "pause_sharing", **data)
        assert err.value.translation_key == "pause_too_long"
    assert (await hub_state(hub))["policy"]["revision"] == revision


@pytest.mark.usefixtures("sharing")
async def test_revoke_all(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """revoke_all ends every unlock."""
    await unlock()
    await unlock()
    assert len((await hub_state(hub))["unlocks"]) == 2
    await _call(hass, "revoke_all")
    assert (await hub_state(hub))["unlocks"] == []


@pytest.mark.usefixtures("sharing")
async def test_unlock_action_errors(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """A 409 and an unknown unlock are clear errors, never silent."""
    granted = await unlock()
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "approve_unlock", unlock_id=granted["unlock_id"])
    assert err.value.translation_key == "unlock_conflict"
    assert granted["unlock_id"] in str(err.value)

    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "revoke_unlock", unlock_id="u_does_not_exist/../../revoke_all")
    assert err.value.translation_key == "unlock_not_found"
    assert len((await hub_state(hub))["unlocks"]) == 1  # nothing else was touched

    await _call(hass, "revoke_unlock", unlock_id=granted["unlock_id"])
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "revoke_unlock", unlock_id=granted["unlock_id"])
    assert err.value.translation_key in ("unlock_conflict", "unlock_not_found")


async def test_actions_need_a_loaded_entry(hass: HomeAssistant, home: None) -> None:
    """Without a loaded entry, or with an unknown one, the action says so."""
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError):
        await _call(hass, "revoke_all")
    with pytest.raises(ServiceValidationError):
        await _call(hass, "revoke_all", config_entry_id="nope")


@pytest.mark.usefixtures("sharing")
async def test_actions_when_addon_is_down(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """The add-on unreachable: a translated HomeAssistantError."""
    import asyncio

    await asyncio.to_thread(hub.stop)
    for service, data in (
        ("revoke_all", {}),
        ("resume_sharing", {}),
        ("decline_unlock", {"unlock_id": "u_x"}),
    ):
        with pytest.raises(HomeAssistantError) as err:
            await _call(hass, service, **data)
        assert err.value.translation_key == "communication_error"


async def test_ask_mode_approve_and_decline(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """Ask mode: a notification per request; approve activates, decline declines."""
    status, body = await control(
        hub, "PUT", "/control/v1/policy", base_policy(mode="ask", ask_timeout_s=600)
    )
    assert status == 200, body
    events = async_capture_events(hass, EVENT_UNLOCK)

    first = await unlock()
    assert first["status"] == "pending"
    notification_id = f"{DOMAIN}_request_{first['unlock_id']}"

    def notified(nid: str) -> bool:
        return nid in persistent_notification._async_get_or_create_notifications(hass)

    await wait_for(lambda: notified(notification_id), what="notification")
    message = persistent_notification._async_get_or_create_notifications(hass)[notification_id][
        "message"
    ]
    notification = persistent_notification._async_get_or_create_notifications(hass)[notification_id]
    assert notification["title"] == "Camera access requested"
    # Who asks, for what, which cameras (by label), and a link to decide in the panel.
    assert message.startswith("**Jackson RTCC** asks to see Front door, Back yard for incident")
    assert "(burglary, case C-2026-0001)" in message
    assert f"(/rtcc-share?unlock={first['unlock_id']})" in message
    assert "camera." not in message  # labels, never entity ids
    assert [e.data["status"] for e in events if e.data["unlock_id"] == first["unlock_id"]] == [
        "pending"
    ]

    await _call(hass, "approve_unlock", unlock_id=first["unlock_id"])
    state = await hub_state(hub)
    assert [u["status"] for u in state["unlocks"]] == ["active"]
    await wait_for(lambda: not notified(notification_id), what="notification dismissed")
    await wait_for(
        lambda: any(
            e.data["unlock_id"] == first["unlock_id"] and e.data["status"] == "active"
            for e in events
        )
    )

    second = await unlock()
    second_id = f"{DOMAIN}_request_{second['unlock_id']}"
    await wait_for(lambda: notified(second_id))
    await _call(hass, "decline_unlock", unlock_id=second["unlock_id"])
    await wait_for(lambda: not notified(second_id))
    assert second["unlock_id"] not in {u["unlock_id"] for u in (await hub_state(hub))["unlocks"]}
    await wait_for(
        lambda: any(
            e.data["unlock_id"] == second["unlock_id"]
            and e.data["status"] == "declined"
            and e.data["end_reason"] == "owner_declined"
            for e in events
        )
    )


@pytest.mark.usefixtures("sharing")
async def test_pause_ends_by_itself(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """paused_until turns unknown when the pause is over, without any news from the add-on."""
    await _call(hass, "pause_sharing", duration={"seconds": 2})
    await wait_for(lambda: hass.states.get(PAUSED).state not in ("unknown", "unavailable"))
    paused = dt_util.parse_datetime(hass.states.get(PAUSED).state)
    assert paused is not None
    assert (await unlock())["status"] == "declined"
    # The sensor re-evaluates at the end of the pause (a timer, not an add-on entry).
    await wait_for(lambda: hass.states.get(PAUSED).state == "unknown", wait_s=6, what="pause end")
    assert dt_util.utcnow() >= paused
    assert (await unlock())["status"] == "active"


async def test_request_notifications_follow_the_entry(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry, unlock: Unlocker
) -> None:
    """Unloading takes back the request notifications; reloading shows pending ones again."""
    status, body = await control(hub, "PUT", "/control/v1/policy", base_policy(mode="ask"))
    assert status == 200, body
    pending = await unlock()
    assert pending["status"] == "pending"
    notification_id = f"{DOMAIN}_request_{pending['unlock_id']}"

    def notified() -> bool:
        return notification_id in persistent_notification._async_get_or_create_notifications(hass)

    await wait_for(notified, what="notification")
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not notified()
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert notified()


@pytest.mark.usefixtures("sharing")
async def test_pause_control_and_resume_button(
    hass: HomeAssistant, hub: HubProcess, init_integration: MockConfigEntry
) -> None:
    """Pausing from any dashboard: set "Pause sharing until"; the button resumes."""
    until = (dt_util.now() + timedelta(hours=2)).replace(microsecond=500)
    await hass.services.async_call(
        "datetime",
        "set_value",
        {"entity_id": PAUSED, "datetime": until.isoformat()},
        blocking=True,
    )
    stored = dt_util.parse_datetime((await hub_state(hub))["policy"]["paused_until"])
    assert stored is not None
    # Rounded up to the whole second: a pause never ends early.
    assert stored == until.replace(microsecond=0) + timedelta(seconds=1)
    await wait_for(lambda: hass.states.get(PAUSED).state not in ("unknown", "unavailable"))

    revision = (await hub_state(hub))["policy"]["revision"]
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "datetime",
            "set_value",
            {"entity_id": PAUSED, "datetime": (dt_util.now() - timedelta(hours=1)).isoformat()},
            blocking=True,
        )
    assert err.value.translation_key == "pause_in_past"
    assert (await hub_state(hub))["policy"]["revision"] == revision

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.camera_sharing_resume_sharing"}, blocking=True
    )
    assert (await hub_state(hub))["policy"]["paused_until"] is None
    await wait_for(lambda: hass.states.get(PAUSED).state == "unknown")
