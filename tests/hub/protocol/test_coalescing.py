"""PROTOCOL 1: one upstream poll per camera at a time, snapshots included (finding 7)."""

from __future__ import annotations

import asyncio

from tests.hub.protocol.conftest import FRONT, Env


async def test_parallel_snapshots_share_one_upstream_request(env: Env) -> None:
    env.ha.set_mode(FRONT, "ok", delay_s=0.3)
    u = await env.active_unlock(duration_s=60)
    cam = u.cam("Front door")
    env.ha.reset_counters()
    responses = await asyncio.gather(*(env.city.snapshot(u.id, cam, u.token) for _ in range(30)))
    assert [r.status for r in responses] == [200] * 30
    assert env.ha.max_in_flight(FRONT) == 1
    assert env.ha.requests(FRONT) <= 3
