"""The scheduler sleeps until something is due or something changed (scheduler.py): an idle home
wakes about once per IDLE_S, a stored change or a counted refusal wakes it at once, and what a
plan cannot see (here: the fake clock moved forward) still happens within IDLE_S."""

from __future__ import annotations

import asyncio
from typing import Any

from rtcc_hub.scheduler import IDLE_S, TICK_S
from tests.hub.unit.conftest import Env, eventually


def _count_ticks(env: Env) -> list[float]:
    scheduler = env.hub.scheduler
    ticks: list[float] = []
    real_tick = scheduler.tick

    async def counted() -> None:
        ticks.append(asyncio.get_running_loop().time())
        await real_tick()

    scheduler.tick = counted
    return ticks


async def test_an_idle_home_wakes_about_once_per_idle_interval(env: Env) -> None:
    ticks = _count_ticks(env)
    await asyncio.sleep(3 * IDLE_S + 0.1)
    # 3 intervals: 3 wakes (4 with the phase), where a fixed TICK_S tick made 12.
    assert 2 <= len(ticks) <= 4, ticks


async def test_a_stored_change_wakes_it_at_once(env: Env) -> None:
    ticks = _count_ticks(env)
    await asyncio.sleep(TICK_S)  # now asleep for up to IDLE_S
    before = len(ticks)
    changed_at = asyncio.get_running_loop().time()
    await env.put_policy()
    await eventually(lambda: _more(ticks, before), timeout_s=IDLE_S / 2)
    assert ticks[before] - changed_at < IDLE_S / 2


async def test_a_counted_refusal_wakes_it_and_its_aggregate_is_written_when_due(env: Env) -> None:
    from rtcc_hub.ratelimit import RefusalLimiter

    env.hub.refusals.limiter = RefusalLimiter(per_address_burst=1, interval_s=0.3)
    for _ in range(3):  # the first is its own entry, the others are counted
        async with env.session.post(
            env.city_url + "/api/v1/unlocks", json={"token": "not-a-jws"}
        ) as response:
            assert response.status == 401

    async def aggregated() -> list[dict[str, Any]]:
        return [
            e["detail"]
            for e in await env.entries()
            if e["event"] == "unlock_refused" and e["detail"].get("reason") == "rate_limited"
        ]

    entries = await eventually(aggregated, timeout_s=IDLE_S * 0.9)
    assert entries and entries[0]["count"] == 2


async def test_what_no_plan_sees_happens_within_the_idle_interval(env: Env) -> None:
    await env.put_policy(mode="ask", ask_timeout_s=30)
    _, body = await env.unlock()
    await asyncio.sleep(TICK_S)
    env.clock.advance(31)  # the fake wall clock jumps; nothing wakes the scheduler
    moved_at = asyncio.get_running_loop().time()

    async def declined() -> bool:
        return env.hub.state.ledger.get(body["unlock_id"]).status == "declined"

    assert await eventually(declined, timeout_s=3 * IDLE_S)
    assert asyncio.get_running_loop().time() - moved_at <= IDLE_S + 0.5


async def _more(ticks: list[float], than: int) -> bool:
    return len(ticks) > than
