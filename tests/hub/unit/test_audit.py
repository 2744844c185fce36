"""Audit chain (PROTOCOL.md section 5)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtcc_hub.audit import GENESIS, AuditLog, canonical, entry_hash, verify_rows
from rtcc_hub.storage import Storage

_OPEN: list[Storage] = []


@pytest.fixture(autouse=True)
def _close_storages() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make_log(tmp_path: Path) -> tuple[Storage, AuditLog]:
    storage = Storage.open(tmp_path)
    _OPEN.append(storage)
    return storage, AuditLog(storage, lambda: 1_800_000_000.25)


def test_entries_have_exactly_the_section_5_form(tmp_path: Path) -> None:
    _, log = make_log(tmp_path)
    first = log.append("service_started", {"version": "x"})
    second = log.append("snapshot_served", {"bytes": 3}, unlock_id="u_1", hub="h")
    assert set(first) == {"seq", "ts", "event", "detail", "prev", "hash"}
    assert set(second) == {"seq", "ts", "event", "unlock_id", "hub", "detail", "prev", "hash"}
    assert first["seq"] == 1 and second["seq"] == 2
    assert first["prev"] == GENESIS and second["prev"] == first["hash"]
    assert first["ts"] == "2027-01-15T08:00:00.250Z"


def test_hash_is_sha256_of_the_canonical_json_without_hash(tmp_path: Path) -> None:
    _, log = make_log(tmp_path)
    entry = log.append("policy_changed", {"note": "caf\u00e9 \u2603"})
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert "\\u00e9" in text  # ASCII escapes
    assert entry["hash"] == hashlib.sha256(text.encode()).hexdigest() == entry_hash(entry)


def test_stored_form_round_trips(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    entry = log.append("x", {"f": 0.1, "n": None, "l": [1, "a"]})
    assert log.entries() == [entry]
    assert storage.audit_rows() == [(1, canonical(entry))]


def test_verify_ok_and_head(tmp_path: Path) -> None:
    _, log = make_log(tmp_path)
    assert log.verify().as_json() == {"ok": True, "entries": 0, "head": GENESIS}
    for i in range(5):
        last = log.append("e", {"i": i})
    result = log.verify()
    assert result.ok and result.entries == 5 and result.head == last["hash"]
    assert "first_bad_seq" not in result.as_json()


def test_chain_continues_across_restart(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    log.append("a", {})
    storage.close()
    storage2 = Storage.open(tmp_path)
    _OPEN.append(storage2)
    log2 = AuditLog(storage2, lambda: 0.0)
    entry = log2.append("b", {})
    assert entry["seq"] == 2
    assert log2.verify().ok


def test_tampered_entry_is_named(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    for i in range(4):
        log.append("e", {"i": i})
    rows = storage.audit_rows()
    tampered = json.loads(rows[2][1])
    tampered["detail"]["i"] = 99
    rows[2] = (3, canonical(tampered))
    result = verify_rows(rows)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.head == json.loads(rows[1][1])["hash"]
    assert result.as_json()["first_bad_seq"] == 3


def test_rehashed_tamper_breaks_the_next_link(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    for i in range(3):
        log.append("e", {"i": i})
    rows = storage.audit_rows()
    tampered = json.loads(rows[1][1])
    tampered["detail"]["i"] = 7
    tampered["hash"] = entry_hash(tampered)
    rows[1] = (2, canonical(tampered))
    assert verify_rows(rows).first_bad_seq == 3


def test_gaps_and_garbage_are_bad(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    for i in range(3):
        log.append("e", {"i": i})
    rows = storage.audit_rows()
    assert verify_rows([rows[0], rows[2]]).first_bad_seq == 2
    assert verify_rows([rows[0], (2, "not json")]).first_bad_seq == 2
    assert verify_rows([(1, "[]")]).first_bad_seq == 1


def test_listeners_get_entries_and_a_broken_one_does_not_stop_auditing(tmp_path: Path) -> None:
    _, log = make_log(tmp_path)
    seen: list[int] = []

    def broken(entry: dict[str, object]) -> None:
        raise RuntimeError("boom")

    log.subscribe(broken)
    unsubscribe = log.subscribe(lambda entry: seen.append(entry["seq"]))
    log.append("a", {})
    unsubscribe()
    log.append("b", {})
    assert seen == [1]
    assert log.head_seq == 2


def test_damaged_last_row_still_chains(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    log.append("a", {})
    storage.append_audit(2, "garbage")
    log2 = AuditLog(storage, lambda: 0.0)
    log2.append("c", {})
    assert log2.verify().first_bad_seq == 2


def test_rolled_back_entry_is_forgotten_and_never_announced(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    heard: list[int] = []
    log.subscribe(lambda entry: heard.append(entry["seq"]))
    log.append("a", {})
    try:
        with storage.transaction():
            log.append("lost", {})
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    with storage.transaction():
        kept = log.append("b", {})
        assert heard == [1]  # announced only after commit
    assert heard == [1, 2]
    assert kept["seq"] == 2
    assert log.verify().ok


def test_failed_verify_counts_every_entry(tmp_path: Path) -> None:
    storage, log = make_log(tmp_path)
    for i in range(6):
        log.append("e", {"i": i})
    rows = storage.audit_rows()
    tampered = json.loads(rows[1][1])
    tampered["detail"]["i"] = 99
    rows[1] = (2, canonical(tampered))
    result = verify_rows(rows)
    assert (result.ok, result.first_bad_seq, result.entries) == (False, 2, 6)
    assert result.head == json.loads(rows[0][1])["hash"]
