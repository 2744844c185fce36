"""Audit flood control of refusals no valid signature stands behind (PROTOCOL.md section 5)."""

from __future__ import annotations

import asyncio
from typing import Any

from rtcc_hub.ratelimit import RefusalLimiter
from tests.hub.unit.conftest import Env
from tests.support import city as city_support


async def refused(env: Env) -> list[dict[str, Any]]:
    return [e for e in await env.entries() if e["event"] == "unlock_refused"]


async def _aggregates(env: Env) -> list[dict[str, Any]]:
    for _ in range(60):
        found = [e for e in await refused(env) if e["detail"]["reason"] == "rate_limited"]
        if found:
            return found
        await asyncio.sleep(0.1)
    return []


async def post(env: Env, token: str) -> int:
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        await r.read()
        return r.status


async def test_garbage_flood_is_aggregated_in_the_audit(env: Env) -> None:
    env.hub.refusals.limiter = RefusalLimiter(per_address_burst=20, interval_s=0.5)
    statuses = [await post(env, f"garbage-{i}") for i in range(80)]
    assert statuses == [401] * 80  # the answer never changes, only the audit is aggregated
    single = [e for e in await refused(env) if e["detail"]["reason"] == "malformed"]
    assert len(single) == 20  # the burst; the buckets refill far too slowly to matter here
    aggregated = await _aggregates(env)  # the scheduler writes it after the interval
    assert len(aggregated) == 1
    assert aggregated[0]["detail"] == {
        "reason": "rate_limited",
        "count": 60,
        "statuses": {"401": 60},
    }
    assert "hub" not in aggregated[0]
    assert (await env.verify()).ok


async def test_single_bad_requests_are_each_audited_at_once(env: Env) -> None:
    claims = env.city.claims(env.hub.home_id, now=env.clock())
    for i in range(60):  # the default burst is generous
        assert await post(env, city_support.sign_none(claims)) == 401
        assert len(await refused(env)) == i + 1
    assert {e["detail"]["reason"] for e in await refused(env)} == {"bad_algorithm"}


async def test_forged_tokens_naming_the_real_hub_are_aggregated_too(env: Env) -> None:
    """A hub id is not a secret: naming it must not switch the flood control off."""
    env.hub.refusals.limiter = RefusalLimiter(per_address_burst=10, interval_s=0.3)
    for _ in range(50):
        token = city_support.tamper_signature(env.token())
        assert await post(env, token) == 401
    named = [e for e in await refused(env) if e["detail"]["reason"] == "bad_signature"]
    assert len(named) == 10
    assert all(e["hub"] == "jackson-rtcc" for e in named)
    [aggregated] = await _aggregates(env)
    assert aggregated["detail"]["count"] == 40


async def test_validly_signed_refusals_are_never_aggregated(env: Env) -> None:
    env.hub.refusals.limiter = RefusalLimiter(per_address_burst=1, global_burst=1)
    await env.put_policy()
    token = env.token()
    assert await post(env, token) == 201
    for _ in range(15):
        assert await post(env, token) == 401  # a replay: a valid signature stands behind it
    replays = [e for e in await refused(env) if e["detail"]["reason"] == "replayed_jti"]
    assert len(replays) == 15


async def test_pending_aggregate_is_written_at_stop(env: Env) -> None:
    env.hub.refusals.limiter = RefusalLimiter(per_address_burst=20, interval_s=3600)
    for _ in range(30):
        await post(env, "garbage")
    await env.restart()
    aggregated = [e for e in await refused(env) if e["detail"]["reason"] == "rate_limited"]
    assert len(aggregated) == 1 and aggregated[0]["detail"]["count"] == 10


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
    assert limiter.due() is None
    now[0] = 70.0
    assert limiter.due() == {400: 1, 401: 2}
    assert limiter.due(force=True) is None
    limiter.restore({401: 2})
    assert limiter.due(force=True) == {401: 2}


def test_default_limits_keep_the_log_growth_at_the_protocol_bound() -> None:
    """Beyond a burst of at most 300, at most about one entry a minute."""
    now = [0.0]
    limiter = RefusalLimiter(clock=lambda: now[0])
    written = 0
    for second in range(3600):  # an hour of 100 forged requests a second, from many addresses
        now[0] = float(second)
        for client in range(100):
            if limiter.allow(f"10.0.{client}.{second % 250}"):
                written += 1
            else:
                limiter.suppressed(401)
        if limiter.due() is not None:
            written += 1
    assert written <= 300 + 6 + 61  # burst, refill of one per ten minutes, one aggregate a minute
