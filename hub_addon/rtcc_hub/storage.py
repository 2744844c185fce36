"""SQLite state under the data dir: home_id, policy, unlocks, seen jtis, quota, audit log, and
the streams open right now (so that a crash cannot leave a `stream_opened` without its close).

Writes are small and few (one per unlock, status change, snapshot, stream open or close, and one
checkpoint of the open streams every few seconds, never one per frame), so they run
synchronously on the event loop: a commit in WAL mode with synchronous=FULL takes well under a
millisecond on local storage, and doing it inline means every write is durable before the
response that depends on it is sent, with no thread hand-off to get wrong. Nothing here is ever
called per stream frame.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DB_FILENAME = "rtcc_hub.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unlocks (unlock_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jtis (
    hub TEXT NOT NULL, jti TEXT NOT NULL, exp REAL NOT NULL, PRIMARY KEY (hub, jti)
);
CREATE TABLE IF NOT EXISTS quota (hub TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS quota_hub_ts ON quota (hub, ts);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
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

# A jti is kept until its token could no longer pass the time rules anyway (exp in the past),
# plus this margin for clock adjustments.
_JTI_RETENTION_S = 24 * 3600
# The quota window (7 days) plus a day for clock adjustments.
_QUOTA_RETENTION_S = 8 * 24 * 3600


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


class Storage:
    """The add-on's only persistent state. One instance per process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # isolation_level=None: autocommit; multi-statement writes use `transaction()`.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        self._on_rollback: list[Callable[[], None]] = []

    @classmethod
    def open(cls, data_dir: Path) -> Storage:
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(data_dir / DB_FILENAME)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes so they commit together (nested use joins the outer transaction)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._depth = 0
            self._after_commit.clear()
            for hook in self._on_rollback:
                hook()
            raise
        self._conn.execute("COMMIT")
        self._depth = 0
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction commits (at once outside one)."""
        if self._depth:
            self._after_commit.append(callback)
        else:
            callback()

    def on_rollback(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every rollback (to resync in-memory state)."""
        self._on_rollback.append(hook)

    # meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # unlocks --------------------------------------------------------------------------------

    def save_unlock(self, unlock_id: str, data: str) -> None:
        self._conn.execute(
            "INSERT INTO unlocks (unlock_id, data) VALUES (?, ?) "
            "ON CONFLICT(unlock_id) DO UPDATE SET data = excluded.data",
            (unlock_id, data),
        )

    def load_unlocks(self) -> list[str]:
        return [str(r[0]) for r in self._conn.execute("SELECT data FROM unlocks ORDER BY rowid")]

    # replay store -----------------------------------------------------------------------------

    def claim_jti(self, hub: str, jti: str, exp: float, now: float) -> bool:
        """Record a jti for a hub; False when that hub already used it (a replay)."""
        with self.transaction():
            self._conn.execute("DELETE FROM jtis WHERE exp < ?", (now - _JTI_RETENTION_S,))
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO jtis (hub, jti, exp) VALUES (?, ?, ?)", (hub, jti, exp)
            )
            return cursor.rowcount == 1

    def jti_seen(self, hub: str, jti: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM jtis WHERE hub = ? AND jti = ?", (hub, jti)
        ).fetchone()
        return row is not None

    # quota ------------------------------------------------------------------------------------

    def record_unlock_time(self, hub: str, ts: float) -> None:
        # Rows older than the 7-day window count for nothing: prune them as we go.
        self._conn.execute("DELETE FROM quota WHERE ts < ?", (ts - _QUOTA_RETENTION_S,))
        self._conn.execute("INSERT INTO quota (hub, ts) VALUES (?, ?)", (hub, ts))

    def unlock_times(self, hub: str, since: float) -> list[float]:
        rows = self._conn.execute(
            "SELECT ts FROM quota WHERE hub = ? AND ts > ? ORDER BY ts", (hub, since)
        )
        return [float(r[0]) for r in rows]

    # audit ------------------------------------------------------------------------------------

    def append_audit(self, seq: int, entry: str) -> None:
        self._conn.execute("INSERT INTO audit (seq, entry) VALUES (?, ?)", (seq, entry))

    def audit_rows(self, after: int = 0, limit: int | None = None) -> list[tuple[int, str]]:
        rows = self._conn.execute(
            "SELECT seq, entry FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, -1 if limit is None else limit),
        )
        return [(int(seq), str(entry)) for seq, entry in rows]

    def last_audit_row(self) -> tuple[int, str] | None:
        row = self._conn.execute(
            "SELECT seq, entry FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    # open streams -----------------------------------------------------------------------------

    def add_open_stream(self, stream: OpenStream) -> None:
        self._conn.execute(
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

    def checkpoint_open_stream(self, viewer: str, frames: int, size: int, dropped: int) -> None:
        self._conn.execute(
            "UPDATE open_streams SET frames = ?, bytes = ?, dropped = ? WHERE viewer = ?",
            (frames, size, dropped, viewer),
        )

    def delete_open_stream(self, viewer: str) -> None:
        self._conn.execute("DELETE FROM open_streams WHERE viewer = ?", (viewer,))

    def open_streams(self) -> list[OpenStream]:
        rows = self._conn.execute(
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
