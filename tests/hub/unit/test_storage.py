"""SQLite storage: two threads, all-or-nothing writes, deadlines, unusable data dirs."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from rtcc_hub.storage import (
    DB_FILENAME,
    StorageError,
    Store,
    UnusableDataDir,
    append_audit,
    audit_rows,
    claim_jti,
    get_meta,
    jti_seen,
    last_audit_row,
    load_unlock_rows,
    prune,
    quota_count,
    quota_nth_oldest,
    record_unlock_time,
    save_unlock,
    set_meta,
)
from tests.support.state import write


async def test_wal_and_full_sync(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "nested")
    try:
        assert (tmp_path / "nested" / DB_FILENAME).exists()
        assert await store.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        conn = sqlite3.connect(tmp_path / "nested" / DB_FILENAME)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    finally:
        await store.close()


async def test_meta_and_unlocks_persist(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    await write(store, set_meta("k", "v1"), set_meta("k", "v2"))
    await write(store, save_unlock("u1", "a"), save_unlock("u2", "b"), save_unlock("u1", "c"))
    await store.close()
    store = await Store.open(tmp_path)
    try:
        assert await store.read(lambda c: get_meta(c, "k")) == "v2"
        assert await store.read(lambda c: get_meta(c, "missing")) is None
        assert await store.read(load_unlock_rows) == ["c", "b"]
    finally:
        await store.close()


async def test_jti_replay_store_per_hub_and_pruning(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        await write(store, claim_jti("h1", "old", exp=100))
        await write(store, claim_jti("h2", "old", exp=100))
        await write(store, claim_jti("h1", "new", exp=100 + 2 * 86400))
        with pytest.raises(StorageError):  # a second claim of the same jti by one hub
            await write(store, claim_jti("h1", "old", exp=100))
        assert await store.read(lambda c: jti_seen(c, "h1", "old"))
        assert not await store.read(lambda c: jti_seen(c, "h1", "other"))
        await write(store, *prune(now=100 + 86400 - 1))
        assert await store.read(lambda c: jti_seen(c, "h1", "old"))  # kept a day past exp
        await write(store, *prune(now=100 + 86400 + 1))
        assert not await store.read(lambda c: jti_seen(c, "h1", "old"))
        assert await store.read(lambda c: jti_seen(c, "h1", "new"))
    finally:
        await store.close()


async def test_quota_counts_and_nth_oldest(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        for ts in (10.0, 20.0, 30.0):
            await write(store, record_unlock_time("h", ts))
        await write(store, record_unlock_time("other", 25.0))
        assert await store.read(lambda c: quota_count(c, "h", 15)) == 2
        assert await store.read(lambda c: quota_nth_oldest(c, "h", 15, 1)) == 30.0
        assert await store.read(lambda c: quota_nth_oldest(c, "h", 15, 2)) is None
        plan = await store.read(
            lambda c: c.execute(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM quota WHERE hub = ? AND ts > ?",
                ("h", 0),
            ).fetchall()
        )
        assert "quota_hub_ts" in str(plan)  # counted with the index, never a scan
        await write(store, *prune(now=30.0 + 8 * 86400 - 1))
        assert await store.read(lambda c: quota_count(c, "h", 0)) == 1  # the 30.0 row
        for table, index in (("quota", "quota_ts"), ("jtis", "jtis_exp")):
            column = "ts" if table == "quota" else "exp"
            plan = await store.read(
                lambda c, t=table, col=column: c.execute(
                    f"EXPLAIN QUERY PLAN DELETE FROM {t} WHERE {col} < 0"
                ).fetchall()
            )
            assert index in str(plan)  # pruning by index too
    finally:
        await store.close()


async def test_a_write_is_all_or_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        await write(store, append_audit(1, "e1"))
        with pytest.raises(StorageError):
            await write(store, set_meta("a", "1"), append_audit(1, "duplicate"))
        assert await store.read(lambda c: get_meta(c, "a")) is None
        await write(store, set_meta("a", "1"))  # and the next write works
        assert await store.read(lambda c: get_meta(c, "a")) == "1"
    finally:
        await store.close()


async def test_audit_rows_paging(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        assert await store.read(last_audit_row) is None
        await write(store, *(append_audit(seq, f"e{seq}") for seq in range(1, 6)))
        page = await store.read(lambda c: audit_rows(c, after=2, limit=2))
        assert [s for s, _ in page] == [3, 4]
        assert await store.read(last_audit_row) == (5, "e5")
    finally:
        await store.close()


async def test_a_locked_database_fails_the_write_at_the_deadline_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path)
    other = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        with pytest.raises(StorageError):
            await store.write([set_meta("a", "1")], deadline=time.monotonic() + 0.5)
        waited = time.monotonic() - started
        ticker.cancel()
        assert 0.4 <= waited < 2.0
        assert ticks >= 20  # the loop kept running while the writer thread waited
        # Reads go on meanwhile (WAL).
        assert await store.read(lambda c: get_meta(c, "a")) is None
        other.execute("ROLLBACK")
        await write(store, set_meta("a", "1"))
    finally:
        other.close()
        await store.close()


async def test_a_passed_deadline_fails_at_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        with pytest.raises(StorageError):
            await store.write([set_meta("a", "1")], deadline=time.monotonic() - 1)
    finally:
        await store.close()


async def test_a_file_that_is_not_a_database_is_an_unusable_data_dir(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UnusableDataDir, match="not a database"):
        await Store.open(tmp_path)


async def test_a_data_dir_that_cannot_be_created_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UnusableDataDir, match="cannot create the data dir"):
        await Store.open(blocker / "data")


async def test_an_empty_database_file_is_noticed(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"")
    store = await Store.open(tmp_path)
    try:
        assert store.found_empty
    finally:
        await store.close()
    store = await Store.open(tmp_path)
    try:
        assert not store.found_empty  # it has a schema now
    finally:
        await store.close()
