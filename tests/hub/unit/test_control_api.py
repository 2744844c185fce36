"""Control API over real HTTP on loopback (PROTOCOL.md section 4, DESIGN.md shapes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rtcc_hub.audit import verify_rows
from tests.hub.unit.conftest import CONTROL_TOKEN, Env, eventually
from tests.hub.unit.helpers import policy_doc


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {CONTROL_TOKEN}", CONTROL_TOKEN])
async def test_requires_the_control_token(env: Env, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for path in ("/control/v1/state", "/control/v1/nope"):
        async with env.session.get(env.control_url + path, headers=headers) as response:
            assert response.status == 401
            assert (await response.json())["error"] == "unauthorized"


async def test_control_port_serves_no_city_paths(env: Env) -> None:
    status, body = await env.control("GET", "/api/v1/health")
    assert status == 404 and body["error"] == "not_found"


async def test_first_start_state(env: Env) -> None:
    status, state = await env.control("GET", "/control/v1/state")
    assert status == 200
    assert set(state) == {"home_id", "policy", "unlocks", "counters", "relays"}
    assert state["relays"] == []
    assert state["home_id"] == env.hub.home_id
    assert state["policy"]["consent"] is False and state["policy"]["cameras"] == []
    assert state["policy"]["revision"] == 0
    assert state["unlocks"] == []
    assert state["counters"]["unlocks_received"] == 0
    assert state["counters"]["last_access"] is None


async def test_home_id_survives_restart(env: Env) -> None:
    home_id = env.hub.home_id
    await env.put_policy()
    await env.restart()
    _, state = await env.control("GET", "/control/v1/state")
    assert state["home_id"] == home_id
    assert state["policy"]["revision"] == 1 and state["policy"]["consent"] is True


async def test_policy_revision_and_identical_put(env: Env) -> None:
    first = await env.put_policy()
    assert first["revision"] == 1
    assert first == {**policy_doc(), "revision": 1, "cameras": first["cameras"]}
    again = await env.put_policy()
    assert again["revision"] == 1
    second = await env.put_policy(max_radius_m=500)
    assert second["revision"] == 2
    changes = [e for e in (await env.entries()) if e["event"] == "policy_changed"]
    assert [e["detail"] for e in changes] == [
        {
            "revision": 1,
            "changed": ["consent", "home", "allow_live", "excluded_offenses", "cameras"],
        },
        {"revision": 2, "changed": ["max_radius_m"]},
    ]
    assert "32.2988" not in json.dumps(changes)


async def test_invalid_policy_changes_nothing(env: Env) -> None:
    await env.put_policy()
    status, body = await env.control("PUT", "/control/v1/policy", policy_doc(max_radius_m=9000))
    assert status == 400
    assert body["error"] == "invalid_policy" and "max_radius_m" in body["message"]
    async with env.session.put(
        env.control_url + "/control/v1/policy",
        data=b"{nope",
        headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"
    _, state = await env.control("GET", "/control/v1/state")
    assert state["policy"]["revision"] == 1 and state["policy"]["max_radius_m"] == 800


async def test_state_lists_open_unlocks_with_entity_ids(env: Env) -> None:
    await env.put_policy()
    _, body = await env.unlock()
    _, state = await env.control("GET", "/control/v1/state")
    (unlock,) = state["unlocks"]
    assert unlock["unlock_id"] == body["unlock_id"]
    assert unlock["hub"] == "jackson-rtcc" and unlock["hub_name"] == "Jackson RTCC"
    assert unlock["cameras"][0]["entity_id"] == "camera.front_door"
    assert unlock["status"] == "active" and unlock["viewers"] == 0
    assert state["counters"]["unlocks_activated"] == 1
    assert state["counters"]["last_shared"] is not None


async def test_ask_mode_approve_decline_and_409(env: Env) -> None:
    await env.put_policy(mode="ask", ask_timeout_s=60)
    _, first = await env.unlock()
    _, second = await env.unlock()
    _, state = await env.control("GET", "/control/v1/state")
    assert {u["status"] for u in state["unlocks"]} == {"pending"}
    assert state["unlocks"][0]["decides_by"] is not None

    snap_path = f"/api/v1/unlocks/{first['unlock_id']}"
    view = await (await env.city_get(snap_path, first["access_token"])).json()
    assert view["status"] == "pending" and view["cameras"] == []

    status, approved = await env.control(
        "POST", f"/control/v1/unlocks/{first['unlock_id']}/approve"
    )
    assert status == 200 and approved["status"] == "active"
    status, body = await env.control("POST", f"/control/v1/unlocks/{first['unlock_id']}/approve")
    assert status == 409 and body["error"] == "conflict"
    status, declined = await env.control(
        "POST", f"/control/v1/unlocks/{second['unlock_id']}/decline"
    )
    assert status == 200 and declined["status"] == "declined"
    status, _ = await env.control("POST", f"/control/v1/unlocks/{second['unlock_id']}/revoke")
    assert status == 409
    status, body = await env.control("POST", "/control/v1/unlocks/u_nope/approve")
    assert status == 404
    view = await (await env.city_get(snap_path, first["access_token"])).json()
    assert view["status"] == "active" and view["cameras"]


async def test_ask_timeout_declines_on_its_own(env: Env) -> None:
    await env.put_policy(mode="ask", ask_timeout_s=10)
    _, body = await env.unlock()
    env.clock.advance(11)

    async def declined() -> list[dict[str, Any]]:  # the scheduler, not a request, writes it
        found = [e["detail"] for e in await env.entries() if e["event"] == "unlock_status"]
        return found if found[-1]["status"] == "declined" else []

    statuses = await eventually(declined)
    assert statuses[-1]["reason"] == "ask_timeout"
    assert env.hub.state.ledger.get(body["unlock_id"]).status == "declined"


async def test_approve_while_paused_starts_suspended(env: Env) -> None:
    await env.put_policy(mode="ask")
    _, body = await env.unlock()
    await env.put_policy(mode="ask", paused_until="2030-01-01T00:00:00Z")
    status, approved = await env.control("POST", f"/control/v1/unlocks/{body['unlock_id']}/approve")
    assert status == 200 and approved["status"] == "suspended"


async def test_revoke_and_revoke_all(env: Env) -> None:
    await env.put_policy()
    _, a = await env.unlock()
    _, b = await env.unlock()
    _, c = await env.unlock()
    status, revoked = await env.control("POST", f"/control/v1/unlocks/{a['unlock_id']}/revoke")
    assert status == 200 and revoked["status"] == "ended" and revoked["ended_reason"] == "revoked"
    status, body = await env.control("POST", "/control/v1/revoke_all")
    assert status == 200 and sorted(body["revoked"]) == sorted([b["unlock_id"], c["unlock_id"]])
    _, state = await env.control("GET", "/control/v1/state")
    assert state["unlocks"] == []


async def test_pause_suspends_and_resumes_on_its_own(env: Env) -> None:
    await env.put_policy()
    _, body = await env.unlock()
    until = env.clock() + 60
    from rtcc_hub.timefmt import rfc3339

    await env.put_policy(paused_until=rfc3339(until))
    assert env.hub.state.ledger.get(body["unlock_id"]).status == "suspended"
    env.clock.advance(61)

    async def resumed() -> bool:
        return env.hub.state.ledger.get(body["unlock_id"]).status == "active"

    assert await eventually(resumed)
    reasons = [
        e["detail"]["reason"] for e in (await env.entries()) if e["event"] == "unlock_status"
    ]
    assert reasons[-2:] == ["paused", "resumed"]


async def test_history_paging_and_verify(env: Env) -> None:
    await env.put_policy()
    for _ in range(3):
        await env.unlock()
    status, page = await env.control("GET", "/control/v1/history?after=0&limit=2")
    assert status == 200
    assert [e["seq"] for e in page] == [1, 2]  # a bare array, oldest first
    _, rest = await env.control("GET", "/control/v1/history?after=2&limit=1000")
    entries = page + rest
    head_seq = env.hub.owner.head_seq
    assert [e["seq"] for e in entries] == list(range(1, head_seq + 1))
    rows = [(e["seq"], json.dumps(e, sort_keys=True, separators=(",", ":"))) for e in entries]
    assert verify_rows(rows).ok
    for bad in ("limit=0", "limit=1001", "after=-1", "after=x"):
        status, body = await env.control("GET", f"/control/v1/history?{bad}")
        assert status == 400 and body["error"] == "invalid_request"
    status, result = await env.control("GET", "/control/v1/audit/verify")
    assert result == {"ok": True, "entries": head_seq, "head": entries[-1]["hash"]}


async def read_events(
    env: Env, count: int, query: str = "", headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with env.session.get(
        env.control_url + "/control/v1/events" + query,
        headers={"Authorization": f"Bearer {CONTROL_TOKEN}", **(headers or {})},
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        block: list[str] = []
        async with asyncio.timeout(5):
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line:
                    block.append(line)
                    continue
                fields = dict(part.split(": ", 1) for part in block if not part.startswith(":"))
                block = []
                if fields:
                    assert fields["event"] == "audit"
                    entry = json.loads(fields["data"])
                    assert int(fields["id"]) == entry["seq"]
                    events.append(entry)
                if len(events) >= count:
                    return events
    return events


async def test_events_replay_then_live(env: Env) -> None:
    await env.put_policy()
    head = env.hub.owner.head_seq
    reader = asyncio.create_task(read_events(env, head + 2, "?after=0"))
    await asyncio.sleep(0.2)
    await env.put_policy(max_radius_m=600)
    await env.put_policy(max_radius_m=700)
    events = await reader
    assert [e["seq"] for e in events] == list(range(1, head + 3))
    assert events[-1]["event"] == "policy_changed"


async def test_events_last_event_id(env: Env) -> None:
    await env.put_policy()
    await env.put_policy(max_radius_m=600)
    events = await read_events(env, 1, headers={"Last-Event-ID": "2"})
    assert events[0]["seq"] == 3


async def test_events_live_only_without_after(env: Env) -> None:
    await env.put_policy()
    reader = asyncio.create_task(read_events(env, 1))
    await asyncio.sleep(0.2)
    await env.put_policy(max_radius_m=650)
    (event,) = await reader
    assert event["seq"] == env.hub.owner.head_seq


async def test_events_bad_last_event_id(env: Env) -> None:
    async with env.session.get(
        env.control_url + "/control/v1/events",
        headers={"Authorization": f"Bearer {CONTROL_TOKEN}", "Last-Event-ID": "x"},
    ) as response:
        assert response.status == 400


async def _preview(env: Env, body: Any) -> tuple[int, bytes]:
    async with env.session.post(
        env.control_url + "/control/v1/preview",
        data=json.dumps(body) if not isinstance(body, bytes) else body,
        headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
    ) as response:
        return response.status, await response.read()


async def test_preview_uses_the_camera_policy_and_audits_nothing(env: Env) -> None:
    await env.put_policy()
    before = len(await env.entries())
    status, image = await _preview(env, {"entity_id": "camera.front_door"})
    assert status == 200
    front = policy_doc()["cameras"][0]
    assert repr(tuple(tuple(tuple(p) for p in m) for m in front["masks"])).encode() in image
    assert b"max_width=1280" in image
    assert len(await env.entries()) == before
    _, state = await env.control("GET", "/control/v1/state")
    assert state["counters"]["snapshots_served"] == 0 and state["counters"]["bytes_sent"] == 0


async def test_preview_with_masks_and_width_of_the_request(env: Env) -> None:
    # A camera not in the policy yet can be previewed too (the owner is drawing its masks).
    body = {"entity_id": "camera.porch", "masks": [[[0, 0], [1, 0], [1, 1]]], "max_width": None}
    status, image = await _preview(env, body)
    assert status == 200
    assert b"((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))" in image and b"max_width=None" in image
    assert env.cameras.fetches["camera.porch"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "entity_id"),
        ({"entity_id": "light.x"}, "entity_id"),
        ({"entity_id": "camera.x", "masks": [[[0, 0], [2, 0], [0, 1]]]}, "masks"),
        ({"entity_id": "camera.x", "max_width": 8}, "max_width"),
        ({"entity_id": "camera.x", "extra": 1}, "extra"),
        (["camera.x"], "preview"),
        (b"{not json", "JSON"),
    ],
)
async def test_preview_refuses_bad_input(env: Env, body: Any, field: str) -> None:
    status, raw = await _preview(env, body)
    assert status == 400
    answer = json.loads(raw)
    assert answer["error"] == "invalid_request" and field in answer["message"]
    assert sum(env.cameras.fetches.values()) == 0


async def test_preview_of_a_failing_camera_is_503(env: Env) -> None:
    env.cameras.failing.add("camera.front_door")
    status, raw = await _preview(env, {"entity_id": "camera.front_door"})
    assert status == 503 and json.loads(raw)["error"] == "camera_unavailable"
