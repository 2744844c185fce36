"""SQLite under the data dir, worked on two threads so that the event loop never waits for it.

One writer thread owns the connection that writes; a second connection on a reader thread
serves history pages, verification and the unlock intake's look-ups (WAL lets it read while a
write is under way, and while another process holds the write lock). A write is a function of
the connection run inside `BEGIN IMMEDIATE ... COMMIT`; when anything in it fails (disk full, the
database locked past the deadline, an I/O error) it is rolled back and `StorageError` raised, and
the caller — who only applies a change to memory once `write` returned — keeps memory exactly as
stored (state.py).

Tables: meta (home_id, policy, counters), unlocks (one JSON row each), jtis (replay store), quota
(one row per validly signed unlock), audit (seq, entry exactly as hashed) and open_streams (the
streams open right now, so that a crash cannot leave a `stream_opened` without its close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_LOGGER = logging.getLogger(__name__)

DB_FILENAME: Final = "rtcc_hub.sqlite3"
# PROTOCOL.md section 1: a database locked for more than this fails the request (503).
WRITE_TIMEOUT_S: Final = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unlocks (unlock_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jtis (
    hub TEXT NOT NULL, jti TEXT NOT NULL, exp REAL NOT NULL, PRIMARY KEY (hub, jti)
);
CREATE TABLE IF NOT EXISTS quota (hub TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS quota_hub_ts ON quota (hub, ts);
CREATE INDEX IF NOT EXISTS quota_ts ON quota (ts);
CREATE INDEX IF NOT EXISTS jtis_exp ON jtis (exp);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clips (
    clip_id TEXT PRIMARY KEY, unlock_id TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS open_streams (
    viewer TEXT PRIMARY KEY,
    unlock_id TEXT NOT NULL,
    hub TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    opened_at REAL NOT NULL,
    frames INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0
);
"""

type Connect = Callable[[Path], sqlite3.Connection]
type Statement = tuple[str, tuple[object, ...]]


class StorageError(Exception):
    """A database operation failed; the request that needed it fails (503), nothing changed."""


class UnusableDataDir(Exception):
    """The data dir cannot hold the add-on's state: the add-on cannot start."""


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: autocommit; writes open their own transaction.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


@dataclass(frozen=True, slots=True)
class OpenStream:
    """A stream that was open at its last checkpoint (a row of `open_streams`)."""

    viewer: str
    unlock_id: str
    hub: str
    camera_id: str
    entity_id: str
    opened_at: float
    frames: int = 0
    bytes: int = 0
    dropped: int = 0


class Store:
    """The add-on's only persistent state. Open with `await Store.open(data_dir)`."""

    def __init__(self, path: Path, connect: Connect = _connect) -> None:
        self.path = path
        self._connect = connect
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="rtcc-db-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="rtcc-db-read")
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        # True when the database file was there but empty (0 bytes): state.py warns and audits.
        self.found_empty = False

    @classmethod
    async def open(cls, data_dir: Path, connect: Connect = _connect) -> Store:
        """Create or open the database; `UnusableDataDir` says plainly why it cannot be."""
        store = cls(data_dir / DB_FILENAME, connect)
        try:
            await asyncio.get_running_loop().run_in_executor(store._writer, store._open_sync)
        except BaseException:
            await store.close()
            raise
        return store

    def _open_sync(self) -> None:
        data_dir = self.path.parent
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UnusableDataDir(f"cannot create the data dir {data_dir}: {err}") from err
        self.found_empty = self.path.is_file() and self.path.stat().st_size == 0
        try:
            conn = self._connect(self.path)
            self._write_conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            reader = self._connect(self.path)
            self._read_conn = reader
            reader.execute("PRAGMA query_only=1")
            reader.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.DatabaseError as err:
            # "file is not a database", "attempt to write a readonly database", "unable to
            # open database file", a full disk at creation ...
            raise UnusableDataDir(f"cannot use the database {self.path}: {err}") from err

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for executor, attr in ((self._reader, "_read_conn"), (self._writer, "_write_conn")):
            conn = getattr(self, attr)
            if conn is not None:
                with contextlib.suppress(sqlite3.Error, RuntimeError):
                    await loop.run_in_executor(executor, conn.close)
                setattr(self, attr, None)
            executor.shutdown(wait=True)

    async def read[T](self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only query on the reader thread."""

        def run() -> T:
            if self._read_conn is None:
                raise StorageError("the database is closed")
            try:
                return query(self._read_conn)
            except sqlite3.Error as err:
                raise StorageError(f"read failed: {err}") from err

        return await asyncio.get_running_loop().run_in_executor(self._reader, run)

    async def write(self, statements: list[Statement], *, deadline: float) -> None:
        """Run `statements` in one transaction on the writer thread, all or nothing.

        `deadline` (time.monotonic) bounds how long the database may stay locked by someone
        else: past it the write fails. Raises `StorageError`; the database is then as before.
        """

        def run() -> None:
            conn = self._write_conn
            if conn is None:
                raise StorageError("the database is closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StorageError("the database stayed busy")
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(remaining * 1000)}")
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StorageError(f"cannot start a write: {err}") from err
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                # SQLite may already have rolled back (SQLITE_FULL, SQLITE_IOERR): a second
                # rollback then fails harmlessly.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise StorageError(f"write failed: {err}") from err

        await asyncio.get_running_loop().run_in_executor(self._writer, run)


# Queries (run on the reader thread with Store.read, or at start-up) ------------------------------


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def load_unlock_rows(conn: sqlite3.Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT data FROM unlocks ORDER BY rowid")]


def jti_seen(conn: sqlite3.Connection, hub: str, jti: str) -> bool:
    row = conn.execute("SELECT 1 FROM jtis WHERE hub = ? AND jti = ?", (hub, jti)).fetchone()
    return row is not None


def quota_count(conn: sqlite3.Connection, hub: str, since: float) -> int:
    row = conn.execute(
        "SELECT count(*) FROM quota WHERE hub = ? AND ts > ?", (hub, since)
    ).fetchone()
    return int(row[0])


def quota_nth_oldest(conn: sqlite3.Connection, hub: str, since: float, n: int) -> float | None:
    """The n-th oldest (from 0) unlock time of `hub` after `since`, by the (hub, ts) index."""
    row = conn.execute(
        "SELECT ts FROM quota WHERE hub = ? AND ts > ? ORDER BY ts LIMIT 1 OFFSET ?",
        (hub, since, n),
    ).fetchone()
    return None if row is None else float(row[0])


def audit_rows(
    conn: sqlite3.Connection, after: int = 0, limit: int | None = None
) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT seq, entry FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, -1 if limit is None else limit),
    )
    return [(int(seq), str(entry)) for seq, entry in rows]


def last_audit_row(conn: sqlite3.Connection) -> tuple[int, str] | None:
    row = conn.execute("SELECT seq, entry FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def open_stream_rows(conn: sqlite3.Connection) -> list[OpenStream]:
    rows = conn.execute(
        "SELECT viewer, unlock_id, hub, camera_id, entity_id, opened_at, frames, bytes, "
        "dropped FROM open_streams ORDER BY opened_at, rowid"
    )
    return [
        OpenStream(
            viewer=str(row[0]),
            unlock_id=str(row[1]),
            hub=str(row[2]),
            camera_id=str(row[3]),
            entity_id=str(row[4]),
            opened_at=float(row[5]),
            frames=int(row[6]),
            bytes=int(row[7]),
            dropped=int(row[8]),
        )
        for row in rows
    ]


# Statements (staged in a change, run by Store.write) --------------------------------------------

# A jti is kept until its token could no longer pass the time rules anyway (exp in the past),
# plus this margin for clock adjustments.
_JTI_RETENTION_S: Final = 24 * 3600
# The quota window (7 days) plus a day for clock adjustments.
_QUOTA_RETENTION_S: Final = 8 * 24 * 3600


def set_meta(key: str, value: str) -> Statement:
    return (
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def save_unlock(unlock_id: str, data: str) -> Statement:
    return (
        "INSERT INTO unlocks (unlock_id, data) VALUES (?, ?) "
        "ON CONFLICT(unlock_id) DO UPDATE SET data = excluded.data",
        (unlock_id, data),
    )


def claim_jti(hub: str, jti: str, exp: float) -> Statement:
    """Record a jti (the caller checked it was unseen while holding the write lock)."""
    return ("INSERT INTO jtis (hub, jti, exp) VALUES (?, ?, ?)", (hub, jti, exp))


def record_unlock_time(hub: str, ts: float) -> Statement:
    return ("INSERT INTO quota (hub, ts) VALUES (?, ?)", (hub, ts))


def prune(now: float) -> list[Statement]:
    """Forget jtis whose tokens could no longer pass the time rules anyway, and quota rows
    that count for nothing (the scheduler runs this now and then, never a POST: its cost
    would grow with the rows held)."""
    return [
        ("DELETE FROM jtis WHERE exp < ?", (now - _JTI_RETENTION_S,)),
        ("DELETE FROM quota WHERE ts < ?", (now - _QUOTA_RETENTION_S,)),
    ]


def append_audit(seq: int, entry: str) -> Statement:
    return ("INSERT INTO audit (seq, entry) VALUES (?, ?)", (seq, entry))


def add_open_stream(stream: OpenStream) -> Statement:
    return (
        "INSERT INTO open_streams (viewer, unlock_id, hub, camera_id, entity_id, opened_at, "
        "frames, bytes, dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            stream.viewer,
            stream.unlock_id,
            stream.hub,
            stream.camera_id,
            stream.entity_id,
            stream.opened_at,
            stream.frames,
            stream.bytes,
            stream.dropped,
        ),
    )


def checkpoint_open_stream(viewer: str, frames: int, size: int, dropped: int) -> Statement:
    return (
        "UPDATE open_streams SET frames = ?, bytes = ?, dropped = ? WHERE viewer = ?",
        (frames, size, dropped, viewer),
    )


def delete_open_stream(viewer: str) -> Statement:
    return ("DELETE FROM open_streams WHERE viewer = ?", (viewer,))
