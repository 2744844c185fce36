"""PROTOCOL 2 (`mode: ask`, `paused_until`) and 3.1/3.2 (pending, suspended)."""

from __future__ import annotations

import asyncio
import time

from tests.hub.protocol.conftest import Env, wait_for
from tests.hub.protocol.helpers import assert_error, find, rfc3339

STREAM = ["snapshot", "stream"]


async def test_ask_mode_pending_then_approve(env: Env) -> None:
    await env.set_policy(mode="ask")
    r, _ = await env.unlock(scope=STREAM, duration_s=120)
    assert r.status == 201, r
    body = r.json
    assert body["status"] == "pending", body
    assert isinstance(body.get("access_token"), str)
    assert "cameras" not in body
    uid, tok = body["unlock_id"], body["access_token"]
    g = await env.city.get_unlock(uid, tok)
    assert g.status == 200
    assert g.json["status"] == "pending"
    state = await env.control.state()
    mine = [x for x in state["unlocks"] if x["unlock_id"] == uid]
    assert mine and mine[0]["status"] == "pending"
    # Nothing leaves while pending: snapshot and stream refused with 403 not_active.
    cam_ids = [c["id"] for c in mine[0].get("cameras", [])]
    for cid in cam_ids:
        r = await env.city.snapshot(uid, cid, tok)
        assert_error(r, 403, "not_active")
        r = await env.city.request("GET", f"/api/v1/unlocks/{uid}/cameras/{cid}/stream", token=tok)
        assert_error(r, 403, "not_active")
    a = await env.control.action(uid, "approve")
    assert a.status == 200, a
    assert a.json["status"] == "active"
    assert a.json["unlock_id"] == uid
    g = (await env.city.get_unlock(uid, tok)).json
    assert g["status"] == "active"
    front = next(c["id"] for c in g["cameras"] if c["label"] == "Front door")
    assert (await env.city.snapshot(uid, front, tok)).status == 200
    # Approving or declining an active unlock is not allowed.
    assert (await env.control.action(uid, "approve")).status == 409
    assert (await env.control.action(uid, "decline")).status == 409


async def test_ask_mode_owner_declines(env: Env) -> None:
    await env.set_policy(mode="ask")
    u = await env.pending_unlock()
    seq = await env.control.head_seq()
    d = await env.control.action(u.id, "decline")
    assert d.status == 200, d
    assert d.json["status"] == "declined"
    g = (await env.city.get_unlock(u.id, u.token)).json
    assert g["status"] == "declined"
    assert (await env.control.action(u.id, "approve")).status == 409
    assert (await env.control.action(u.id, "decline")).status == 409
    st = find(await env.control.entries_since(seq), "unlock_status", status="declined")
    assert st and st[-1]["detail"]["reason"] == "owner_declined"
    assert st[-1]["detail"]["previous"] == "pending"


async def test_ask_timeout_declines(env: Env) -> None:
    # PROTOCOL gives no minimum; the add-on accepts ask_timeout_s from 1 s.
    await env.set_policy(mode="ask", ask_timeout_s=3)
    seq = await env.control.head_seq()
    u = await env.pending_unlock()
    t0 = time.monotonic()

    async def declined() -> bool:
        return (await env.city.get_unlock(u.id, u.token)).json["status"] == "declined"

    assert await wait_for(declined, 7.0), "pending unlock not declined after ask_timeout_s"
    assert time.monotonic() - t0 >= 2.5, "declined before ask_timeout_s"
    assert (await env.control.action(u.id, "approve")).status == 409
    st = find(await env.control.entries_since(seq), "unlock_status", status="declined")
    assert st and st[-1]["detail"]["reason"] == "ask_timeout"


async def test_ask_mode_still_declines_policy_failures(env: Env) -> None:
    from tests.support.city import default_incident

    await env.set_policy(mode="ask")
    r, _ = await env.unlock(incident=default_incident(offense="protest"))
    assert r.json["status"] == "declined"
    assert "access_token" not in r.json


async def test_control_actions_409_and_404(env: Env) -> None:
    u = await env.active_unlock()
    assert (await env.control.action(u.id, "approve")).status == 409
    assert (await env.control.action(u.id, "decline")).status == 409
    r = await env.control.action(u.id, "revoke")
    assert r.status == 200
    assert r.json["status"] == "ended"
    assert (await env.control.action(u.id, "revoke")).status == 409
    assert (await env.control.action("u_does_not_exist", "revoke")).status == 404


async def test_pause_suspends_and_access_returns(env: Env) -> None:
    u = await env.active_unlock(duration_s=60)
    cam = u.cam("Front door")
    seq = await env.control.head_seq()
    until = time.time() + 3
    await env.update_policy(paused_until=rfc3339(until))
    g = (await env.city.get_unlock(u.id, u.token)).json
    assert g["status"] == "suspended", g
    assert_error(await env.city.snapshot(u.id, cam, u.token), 403, "not_active")
    # While paused, new unlocks are declined.
    r, _ = await env.unlock()
    assert r.json["status"] == "declined"
    await asyncio.sleep(max(0.0, until - time.time()) + 0.2)

    async def active() -> bool:
        return (await env.city.get_unlock(u.id, u.token)).json["status"] == "active"

    assert await wait_for(active, 3.0), "access did not return after paused_until"
    assert (await env.city.snapshot(u.id, cam, u.token)).status == 200
    entries = await env.control.entries_since(seq)
    statuses = [e["detail"] for e in find(entries, "unlock_status", unlock_id=u.id)]
    assert [(d["status"], d["reason"]) for d in statuses] == [
        ("suspended", "paused"),
        ("active", "resumed"),
    ], statuses


async def test_pause_past_the_window_ends_unlock(env: Env) -> None:
    u = await env.active_unlock(duration_s=2)
    await env.update_policy(paused_until=rfc3339(time.time() + 4))
    assert (await env.city.get_unlock(u.id, u.token)).json["status"] == "suspended"

    async def ended() -> bool:
        b = (await env.city.get_unlock(u.id, u.token)).json
        return b["status"] == "ended" and b.get("ended_reason") == "expired"

    assert await wait_for(ended, 6.0)
    await asyncio.sleep(max(0.0, 4.5 - 2))
    assert (await env.city.get_unlock(u.id, u.token)).json["status"] == "ended"
    assert_error(await env.city.snapshot(u.id, u.cam("Front door"), u.token), 410, "gone")


async def test_pause_cleared_resumes_at_once(env: Env) -> None:
    u = await env.active_unlock(duration_s=60)
    await env.update_policy(paused_until=rfc3339(time.time() + 600))
    assert (await env.city.get_unlock(u.id, u.token)).json["status"] == "suspended"
    await env.update_policy(paused_until=None)

    async def active() -> bool:
        return (await env.city.get_unlock(u.id, u.token)).json["status"] == "active"

    assert await wait_for(active, 2.0)
    assert (await env.city.snapshot(u.id, u.cam("Front door"), u.token)).status == 200


async def test_consent_withdrawn_ends_pending_unlock(env: Env) -> None:
    await env.set_policy(mode="ask")
    u = await env.pending_unlock()
    await env.update_policy(consent=False)
    g = (await env.city.get_unlock(u.id, u.token)).json
    assert g["status"] == "ended", g
    assert g["ended_reason"] == "consent_withdrawn"
    await env.update_policy(consent=True)
    assert (await env.control.action(u.id, "approve")).status == 409
    assert (await env.city.get_unlock(u.id, u.token)).json["status"] == "ended"


async def test_pending_unlock_past_its_window_cannot_be_approved(env: Env) -> None:
    await env.set_policy(mode="ask")
    u = await env.pending_unlock(duration_s=2)
    await asyncio.sleep(max(0.0, u.claims["exp"] - time.time()) + 0.3)
    r = await env.control.action(u.id, "approve")
    assert r.status == 409, r
    g = (await env.city.get_unlock(u.id, u.token)).json
    assert g["status"] in ("ended", "declined"), g
