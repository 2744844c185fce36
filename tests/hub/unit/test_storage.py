"""SQLite storage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtcc_hub.storage import DB_FILENAME, Storage

_OPEN: list[Storage] = []


@pytest.fixture(autouse=True)
def _close_storages() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _open(path: Path) -> Storage:
    storage = Storage.open(path)
    _OPEN.append(storage)
    return storage


def test_wal_and_full_sync(tmp_path: Path) -> None:
    storage = _open(tmp_path / "nested")
    assert (tmp_path / "nested" / DB_FILENAME).exists()
    conn = storage._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_meta_and_unlocks_persist(tmp_path: Path) -> None:
    storage = _open(tmp_path)
    storage.set_meta("k", "v1")
    storage.set_meta("k", "v2")
    storage.save_unlock("u1", "a")
    storage.save_unlock("u2", "b")
    storage.save_unlock("u1", "c")
    storage.close()
    reopened = _open(tmp_path)
    assert reopened.get_meta("k") == "v2"
    assert reopened.get_meta("missing") is None
    assert reopened.load_unlocks() == ["c", "b"]


def test_jti_replay_store_per_hub(tmp_path: Path) -> None:
    storage = _open(tmp_path)
    assert storage.claim_jti("h1", "j", exp=200, now=100)
    assert not storage.claim_jti("h1", "j", exp=200, now=100)
    assert storage.claim_jti("h2", "j", exp=200, now=100)
    assert storage.jti_seen("h1", "j") and not storage.jti_seen("h1", "other")
    storage.close()
    assert _open(tmp_path).jti_seen("h1", "j")


def test_old_jtis_are_pruned_only_long_after_expiry(tmp_path: Path) -> None:
    storage = _open(tmp_path)
    storage.claim_jti("h", "old", exp=100, now=50)
    storage.claim_jti("h", "new", exp=100 + 2 * 86400, now=100)
    assert storage.jti_seen("h", "old")
    storage.claim_jti("h", "x", exp=10**9, now=100 + 86400 + 1)
    assert not storage.jti_seen("h", "old")
    assert storage.jti_seen("h", "new")


def test_quota_times(tmp_path: Path) -> None:
    storage = _open(tmp_path)
    for ts in (10.0, 20.0, 30.0):
        storage.record_unlock_time("h", ts)
    storage.record_unlock_time("other", 25.0)
    assert storage.unlock_times("h", since=15) == [20.0, 30.0]


def test_transaction_rolls_back_and_nests(tmp_path: Path) -> None:
    storage = _open(tmp_path)

    def failing_writes() -> None:
        with storage.transaction():
            storage.set_meta("a", "1")
            with storage.transaction():
                storage.set_meta("b", "2")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_writes()
    assert storage.get_meta("a") is None and storage.get_meta("b") is None
    with storage.transaction():
        storage.set_meta("a", "1")
    assert storage.get_meta("a") == "1"


def test_audit_rows_paging(tmp_path: Path) -> None:
    storage = _open(tmp_path)
    assert storage.last_audit_row() is None
    for seq in range(1, 6):
        storage.append_audit(seq, f"e{seq}")
    assert [s for s, _ in storage.audit_rows(after=2, limit=2)] == [3, 4]
    assert storage.last_audit_row() == (5, "e5")
    with pytest.raises(sqlite3.IntegrityError):
        storage.append_audit(5, "dup")
