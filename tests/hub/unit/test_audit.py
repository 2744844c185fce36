"""Audit chain (PROTOCOL.md section 5): entries made by changes, verification, listeners."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rtcc_hub.audit import GENESIS, canonical, entry_hash, verify_rows
from rtcc_hub.errors import DomainError
from rtcc_hub.status import AuditEvent
from rtcc_hub.storage import append_audit
from tests.hub.unit.conftest import Env
from tests.support.state import append, opened_state, rows, write


async def test_entries_have_exactly_the_section_5_form(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        [(_, started)] = await rows(state.store)
        first = json.loads(started)
        second = await append(
            state, AuditEvent.SNAPSHOT_SERVED, {"bytes": 3}, unlock_id="u_1", hub="h"
        )
    assert set(first) == {"seq", "ts", "event", "detail", "prev", "hash"}
    assert set(second) == {"seq", "ts", "event", "unlock_id", "hub", "detail", "prev", "hash"}
    assert first["seq"] == 1 and second["seq"] == 2
    assert first["event"] == "service_started"
    assert first["prev"] == GENESIS and second["prev"] == first["hash"]
    assert first["ts"] == "2027-01-15T08:00:00.250Z"


async def test_hash_is_sha256_of_the_canonical_json_without_hash(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        entry = await append(state, detail={"note": "caf\u00e9 \u2603"})
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert "\\u00e9" in text  # ASCII escapes
    assert entry["hash"] == hashlib.sha256(text.encode()).hexdigest() == entry_hash(entry)


async def test_stored_form_round_trips(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        entry = await append(state, detail={"f": 0.1, "n": None, "l": [1, "a"]})
        assert (await rows(state.store))[-1] == (2, canonical(entry))


async def test_verify_ok_and_head(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        for i in range(4):
            last = await append(state, detail={"i": i})
        result = verify_rows(await rows(state.store))
    assert result.ok and result.entries == 5 and result.head == last["hash"]
    assert "first_bad_seq" not in result.as_json()
    assert verify_rows([]).as_json() == {"ok": True, "entries": 0, "head": GENESIS}


async def test_chain_continues_across_restart(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        await append(state)
    async with opened_state(tmp_path) as state:  # its service_started is entry 3
        entry = await append(state)
        assert entry["seq"] == 4
        assert verify_rows(await rows(state.store)).ok


async def test_tampered_entry_is_named(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        for i in range(3):
            await append(state, detail={"i": i})
        stored = await rows(state.store)
    tampered = json.loads(stored[2][1])
    tampered["detail"]["i"] = 99
    stored[2] = (3, canonical(tampered))
    result = verify_rows(stored)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.head == json.loads(stored[1][1])["hash"]
    assert result.as_json()["first_bad_seq"] == 3
    assert result.entries == 4


async def test_rehashed_tamper_breaks_the_next_link(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        for i in range(2):
            await append(state, detail={"i": i})
        stored = await rows(state.store)
    tampered = json.loads(stored[1][1])
    tampered["detail"]["i"] = 7
    tampered["hash"] = entry_hash(tampered)
    stored[1] = (2, canonical(tampered))
    assert verify_rows(stored).first_bad_seq == 3


async def test_gaps_and_garbage_are_bad(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        for i in range(2):
            await append(state, detail={"i": i})
        stored = await rows(state.store)
    assert verify_rows([stored[0], stored[2]]).first_bad_seq == 2
    assert verify_rows([stored[0], (2, "not json")]).first_bad_seq == 2
    assert verify_rows([(1, "[]")]).first_bad_seq == 1


async def test_listeners_hear_committed_entries_and_a_broken_one_stops_nothing(
    tmp_path: Path,
) -> None:
    async with opened_state(tmp_path) as state:
        seen: list[int] = []

        def broken(entry: dict[str, object]) -> None:
            raise RuntimeError("boom")

        state.audit.subscribe(broken)
        unsubscribe = state.audit.subscribe(lambda entry: seen.append(entry["seq"]))
        await append(state)
        unsubscribe()
        await append(state)
        assert seen == [2]
        assert state.audit.head.seq == 3


async def test_damaged_last_row_still_chains(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        await write(state.store, append_audit(2, "garbage"))
    async with opened_state(tmp_path) as state:
        await append(state)
        assert verify_rows(await rows(state.store)).first_bad_seq == 2


async def test_a_discarded_change_is_never_stored_nor_announced(tmp_path: Path) -> None:
    async with opened_state(tmp_path) as state:
        heard: list[int] = []
        state.audit.subscribe(lambda entry: heard.append(entry["seq"]))

        async def abandoned() -> None:
            async with state.change() as change:
                change.audit(AuditEvent.POLICY_CHANGED, {"lost": True})
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            await abandoned()
        kept = await append(state)
        assert heard == [2] and kept["seq"] == 2
        assert verify_rows(await rows(state.store)).ok


async def test_a_failed_write_keeps_the_head_and_the_chain(tmp_path: Path) -> None:
    """A write that fails at COMMIT (here: the row's seq is taken) moves nothing in memory."""
    async with opened_state(tmp_path) as state:
        head = state.audit.head
        await write(state.store, append_audit(2, "squatter"))  # the next seq, taken behind its back
        with pytest.raises(DomainError) as err:
            await append(state)
        assert err.value.status == 503
        assert state.audit.head == head
        assert [seq for seq, _ in await rows(state.store)] == [1, 2]


async def test_entries_once_written_never_change_nor_go(env: Env) -> None:
    """PROTOCOL 5: "Nothing is ever updated or deleted": whatever happens after (an unlock
    revoked, consent withdrawn, a week passing that prunes quotas and seen `jti`s, a
    restart), the log read earlier is exactly the start of the log read later."""
    await env.put_policy()
    status, body = await env.unlock()
    assert status == 201 and body["status"] == "active", body
    before = await env.entries()
    await env.control("POST", f"/control/v1/unlocks/{body['unlock_id']}/revoke")
    await env.unlock()
    await env.put_policy(consent=False)
    env.clock.advance(8 * 86400)
    await env.unlock()
    await env.restart()
    after = await env.entries()
    assert len(after) > len(before) + 3
    assert after[: len(before)] == before
    assert (await env.verify()).ok
