"""Audit flood control of refusals that name no configured hub (review finding 2)."""

from __future__ import annotations

import asyncio
from typing import Any

from rtcc_hub.ratelimit import RefusalLimiter
from tests.hub.unit.conftest import Env
from tests.support import city as city_support


def refused(env: Env) -> list[dict[str, Any]]:
    return [e for e in env.hub.audit.entries() if e["event"] == "unlock_refused"]


async def post(env: Env, token: str) -> int:
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        await r.read()
        return r.status


async def test_garbage_flood_is_aggregated_in_the_audit(env: Env) -> None:
    env.hub.refusals = RefusalLimiter(per_address_burst=20, per_address_rate=2.0, interval_s=0.5)
    statuses = [await post(env, f"garbage-{i}") for i in range(80)]
    assert statuses == [401] * 80  # the answer never changes, only the audit is aggregated
    single = [e for e in refused(env) if e["detail"]["reason"] == "malformed"]
    assert 15 <= len(single) <= 40  # the burst, plus a little refill
    await asyncio.sleep(1.0)  # the scheduler writes the aggregate after the interval
    aggregated = [e for e in refused(env) if e["detail"]["reason"] == "rate_limited"]
    assert len(aggregated) == 1
    assert aggregated[0]["detail"] == {
        "reason": "rate_limited",
        "status": 401,
        "count": 80 - len(single),
    }
    assert "hub" not in aggregated[0]
    assert env.hub.audit.verify().ok


async def test_single_bad_requests_are_each_audited_at_once(env: Env) -> None:
    claims = env.city.claims(env.hub.home_id, now=env.clock())
    for i in range(60):  # the default burst is generous
        assert await post(env, city_support.sign_none(claims)) == 401
        assert len(refused(env)) == i + 1
    assert {e["detail"]["reason"] for e in refused(env)} == {"bad_algorithm"}


async def test_refusals_naming_a_configured_hub_are_never_aggregated(env: Env) -> None:
    env.hub.refusals = RefusalLimiter(per_address_burst=20, per_address_rate=2.0)
    for _ in range(40):
        assert await post(env, "garbage") == 401
    before = len(refused(env))
    for _ in range(30):
        token = city_support.tamper_signature(env.token())
        assert await post(env, token) == 401
    named = refused(env)[before:]
    assert len(named) == 30
    assert all(e["detail"]["reason"] == "bad_signature" for e in named)
    assert all(e["hub"] == "jackson-rtcc" for e in named)


async def test_pending_aggregate_is_written_at_stop(env: Env) -> None:
    env.hub.refusals = RefusalLimiter(per_address_burst=20, interval_s=3600)
    for _ in range(30):
        await post(env, "garbage")
    await env.restart()
    aggregated = [e for e in refused(env) if e["detail"]["reason"] == "rate_limited"]
    assert len(aggregated) == 1 and aggregated[0]["detail"]["count"] >= 1


def test_token_buckets() -> None:
    now = [0.0]
    limiter = RefusalLimiter(
        per_address_burst=3,
        per_address_rate=1.0,
        global_burst=5,
        global_rate=1.0,
        clock=lambda: now[0],
    )
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert [limiter.allow("b") for _ in range(3)] == [True, True, False]  # global bucket empty
    now[0] = 1.0
    assert limiter.allow("a") is True
    limiter.suppressed(401)
    limiter.suppressed(400)
    limiter.suppressed(401)
    assert limiter.due() == []
    now[0] = 20.0
    assert limiter.due() == [(400, 1), (401, 2)]
    assert limiter.due(force=True) == []
