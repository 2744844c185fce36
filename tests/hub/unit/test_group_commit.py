"""Group commit (state.py): what queues up while one transaction is written goes into the next
one, each change seeing the ones staged before it; a failed batch fails only what depends on it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.audit import verify_rows
from rtcc_hub.errors import DomainError
from rtcc_hub.status import AuditEvent
from rtcc_hub.storage import audit_rows
from tests.hub.unit.conftest import Env
from tests.support.state import opened_state


class SlowCounting:
    """A connection factory whose COMMITs take a while (a slow disk) and are counted."""

    def __init__(self, delay_s: float = 0.05) -> None:
        self.delay_s = delay_s
        self.commits = 0
        self.fail_next = False

    def __call__(self, path: Path) -> sqlite3.Connection:
        outer = self

        class Connection(sqlite3.Connection):
            def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
                if sql == "COMMIT":
                    outer.commits += 1
                    time.sleep(outer.delay_s)
                    if outer.fail_next:
                        outer.fail_next = False
                        raise sqlite3.OperationalError("disk I/O error")
                return super().execute(sql, parameters)

        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, factory=Connection
        )


async def _append(state: Any, n: int) -> int:
    async with state.change() as change:
        entry = change.audit(AuditEvent.POLICY_CHANGED, {"n": n})
    return int(entry["seq"])


async def test_changes_queued_behind_a_slow_write_share_the_next_transaction(
    tmp_path: Path,
) -> None:
    connect = SlowCounting()
    async with opened_state(tmp_path, connect=connect) as state:
        before = connect.commits
        seqs = await asyncio.gather(*(_append(state, n) for n in range(40)))
        assert sorted(seqs) == list(range(2, 42))  # every one stored, in one chain, no gap
        assert connect.commits - before <= 5  # not 40 fsyncs
        assert verify_rows(await state.store.read(audit_rows)).ok
        assert state.audit.head.seq == 41


async def test_a_failed_batch_fails_its_changes_and_later_ones_start_clean(tmp_path: Path) -> None:
    connect = SlowCounting(delay_s=0.2)
    async with opened_state(tmp_path, connect=connect) as state:
        first = asyncio.create_task(_append(state, 0))  # written alone, slowly
        await asyncio.sleep(0.05)
        connect.fail_next = True  # ... and it will fail
        second = asyncio.create_task(_append(state, 1))  # staged on top of the first
        with pytest.raises(DomainError):
            await first
        with pytest.raises(DomainError):
            await second  # it chained on an entry that was never stored
        assert state.audit.head.seq == 1
        assert await _append(state, 2) == 2  # the next one starts from the stored head
        assert verify_rows(await state.store.read(audit_rows)).ok


async def test_one_jti_twice_in_one_batch_is_one_unlock_and_one_replay(env: Env) -> None:
    await env.put_policy()
    token = env.token()

    async def post() -> int:
        async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
            return r.status

    statuses = sorted(await asyncio.gather(*(post() for _ in range(6))))
    assert statuses == [201, 401, 401, 401, 401, 401]


async def test_the_quota_counts_unlocks_not_yet_stored(env: Env) -> None:
    await env.put_policy(max_unlocks_per_week=3)

    async def post() -> int:
        async with env.session.post(
            env.city_url + "/api/v1/unlocks", json={"token": env.token()}
        ) as r:
            return r.status

    statuses = sorted(await asyncio.gather(*(post() for _ in range(8))))
    assert statuses == [201, 201, 201, 429, 429, 429, 429, 429]


async def test_a_policy_change_sees_an_unlock_staged_before_it(env: Env) -> None:
    """Consent withdrawn in the batch that records a new unlock still ends that unlock."""
    await env.put_policy()

    async def unlock() -> dict[str, Any]:
        async with env.session.post(
            env.city_url + "/api/v1/unlocks", json={"token": env.token()}
        ) as r:
            return dict(await r.json())

    created, _ = await asyncio.gather(unlock(), env.put_policy(consent=False))
    if created.get("status") == "active":  # staged before the withdrawal: it must be ended
        view = await env.city_get(
            f"/api/v1/unlocks/{created['unlock_id']}", created["access_token"]
        )
        assert (await view.json())["status"] == "ended"
    _, state = await env.control("GET", "/control/v1/state")
    assert state["unlocks"] == []
