"""A write that fails (disk full, I/O error) fails only its request, changes nothing, and the
add-on is whole again once the fault clears (PROTOCOL.md section 1).

Disk full runs for real on a 3 MB tmpfs where one can be mounted (root, as on the development
and CI machines), else as `SQLITE_FULL` injected at COMMIT; the I/O error is always injected.
The test prints which ran.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.hub.faults.conftest import Fault
from tests.hub.unit.conftest import Env
from tests.support.streams import sse_events


async def _head(env: Env) -> int:
    return int(env.hub.owner.head_seq)


async def _snapshot(env: Env, unlock: dict[str, Any]) -> int:
    path = f"/api/v1/unlocks/{unlock['unlock_id']}/cameras/{unlock['cameras'][0]['id']}/snapshot"
    return (await env.city_get(path, unlock["access_token"])).status


async def test_failed_writes_change_nothing_and_the_add_on_recovers(
    faulty: tuple[Env, Fault],
) -> None:
    env, fault = faulty
    print(f"storage fault: {fault.error} ({fault.kind})")
    await env.put_policy()
    status, unlock = await env.unlock()
    assert status == 201 and unlock["status"] == "active"
    assert await _snapshot(env, unlock) == 200
    heard: list[int] = []

    async def listen() -> None:
        async with env.session.get(
            env.control_url + "/control/v1/events",
            headers={"Authorization": f"Bearer {env.hub.control_token}"},
        ) as response:
            async for event in sse_events(response):
                if event.event == "audit":
                    heard.append(event.json()["seq"])

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.2)

    fault.on()
    refused = 0
    for _ in range(3000):  # a real full disk: until the WAL needs a block it cannot have
        before_head = await _head(env)
        before = (await env.control("GET", "/control/v1/state"))[1]
        status = await _snapshot(env, unlock)
        after = (await env.control("GET", "/control/v1/state"))[1]
        if status == 503:
            refused += 1
            assert await _head(env) == before_head  # no entry, no gap
            assert after["counters"] == before["counters"]
            assert after["unlocks"] == before["unlocks"]
            break
        assert status == 200 and await _head(env) == before_head + 1
    assert refused, "the fault never made a write fail"

    # Every write now fails alone and changes nothing; reads keep working.
    head = await _head(env)
    state = (await env.control("GET", "/control/v1/state"))[1]
    assert (await env.control("POST", f"/control/v1/unlocks/{unlock['unlock_id']}/revoke"))[
        0
    ] == 503
    assert (await env.control("POST", "/control/v1/revoke_all"))[0] == 503
    status, body = await env.control(
        "PUT", "/control/v1/policy", {**state["policy"], "max_radius_m": 700}
    )
    assert status == 503 and body["error"] == "unavailable"
    token = env.token()
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        assert r.status == 503
    assert await _head(env) == head
    assert (await env.control("GET", "/control/v1/state"))[1] == state
    assert (await env.control("GET", "/control/v1/audit/verify"))[1]["ok"]
    assert (await env.city_get("/api/v1/health", None)).status == 200

    fault.off()
    # The same jti was never consumed: the city's retry is accepted.
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        assert r.status == 201
    status, revoked = await env.control("POST", f"/control/v1/unlocks/{unlock['unlock_id']}/revoke")
    assert status == 200 and revoked["status"] == "ended"
    assert await _snapshot(env, unlock) == 410
    verified = (await env.control("GET", "/control/v1/audit/verify"))[1]
    assert verified["ok"] and verified["entries"] == await _head(env)
    await asyncio.sleep(0.3)
    assert heard and heard[-1] == await _head(env)  # the owner's event stream goes on
    assert heard == sorted(set(heard))
    listener.cancel()

    await env.restart()
    assert await _snapshot(env, unlock) == 410  # a revoke that was acknowledged holds
    verified = (await env.control("GET", "/control/v1/audit/verify"))[1]
    assert verified["ok"]
    entries = await env.entries()
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
