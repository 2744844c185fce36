"""All unlocks of this home in memory, indexed so that no request costs more with more held.

The open unlocks are kept apart from the ended ones, each status has its own set, and a heap
holds every open unlock's next deadline (expiry, ask timeout): the scheduler pops what is due
instead of walking every unlock. Only a policy change looks at all open unlocks (it may affect
each). Entries on the heap are never removed when an unlock changes; a popped entry whose unlock
no longer has that deadline is skipped.

Memory changes only through `put`, which state.py calls once a change is stored.
"""

from __future__ import annotations

import heapq
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .status import UnlockStatus
from .timefmt import rfc3339
from .unlock import Traffic, Unlock, hash_token

# Hash compared against when the unlock id is unknown, so that path costs the same.
_DUMMY_HASH = hash_token("rtcc-no-such-unlock")


class Ledger:
    def __init__(self) -> None:
        self._unlocks: dict[str, Unlock] = {}
        self._traffic: dict[str, Traffic] = {}
        self._by_status: dict[UnlockStatus, dict[str, Unlock]] = {s: {} for s in UnlockStatus}
        self._deadlines: list[tuple[float, str]] = []

    @classmethod
    def from_rows(cls, rows: Iterable[str]) -> Ledger:
        ledger = cls()
        for text in rows:
            unlock, traffic = Unlock.from_storage(text)
            ledger._traffic[unlock.unlock_id] = traffic
            ledger.put(unlock)
        return ledger

    # queries ------------------------------------------------------------------------------

    def get(self, unlock_id: str) -> Unlock | None:
        return self._unlocks.get(unlock_id)

    def traffic(self, unlock_id: str) -> Traffic:
        traffic = self._traffic.get(unlock_id)
        if traffic is None:
            traffic = self._traffic[unlock_id] = Traffic()
        return traffic

    def open_unlocks(self) -> list[Unlock]:
        return [
            unlock
            for status in (UnlockStatus.PENDING, UnlockStatus.ACTIVE, UnlockStatus.SUSPENDED)
            for unlock in self._by_status[status].values()
        ]

    def in_status(self, status: UnlockStatus) -> list[Unlock]:
        return list(self._by_status[status].values())

    def count(self, status: UnlockStatus) -> int:
        return len(self._by_status[status])

    def authenticate(self, unlock_id: str, token: str | None) -> Unlock | None:
        """The unlock when `token` is its own access token; constant time in the token."""
        unlock = self._unlocks.get(unlock_id)
        expected = unlock.token_hash if unlock and unlock.token_hash else _DUMMY_HASH
        presented = hash_token(token or "")
        if hmac.compare_digest(expected, presented) and unlock is not None and token:
            return unlock
        return None

    def due(self, now: float) -> list[Unlock]:
        """Open unlocks one of whose deadlines has come (each once)."""
        found: dict[str, Unlock] = {}
        while self._deadlines and self._deadlines[0][0] <= now:
            when, unlock_id = heapq.heappop(self._deadlines)
            unlock = self._unlocks.get(unlock_id)
            if unlock is not None and unlock.open and when in _deadlines_of(unlock):
                found[unlock_id] = unlock
        return list(found.values())

    def requeue(self, unlocks: Iterable[Unlock]) -> None:
        """Put back the deadlines `due` popped when the change they were due for failed."""
        for unlock in unlocks:
            for when in _deadlines_of(unlock):
                heapq.heappush(self._deadlines, (when, unlock.unlock_id))

    def next_deadline(self) -> float | None:
        return self._deadlines[0][0] if self._deadlines else None

    # changes (after they are stored) -------------------------------------------------------

    def put(self, unlock: Unlock) -> None:
        previous = self._unlocks.get(unlock.unlock_id)
        if previous is not None:
            del self._by_status[previous.status][unlock.unlock_id]
        self._unlocks[unlock.unlock_id] = unlock
        self._by_status[unlock.status][unlock.unlock_id] = unlock
        self._traffic.setdefault(unlock.unlock_id, Traffic())
        if unlock.open and (previous is None or _deadlines_of(previous) != _deadlines_of(unlock)):
            for when in _deadlines_of(unlock):
                heapq.heappush(self._deadlines, (when, unlock.unlock_id))


def _deadlines_of(unlock: Unlock) -> tuple[float, ...]:
    if unlock.status is UnlockStatus.PENDING and unlock.decides_by is not None:
        return (unlock.expires_at, unlock.decides_by)
    return (unlock.expires_at,)


_COUNTER_KEYS = (
    "unlocks_received",
    "unlocks_activated",
    "unlocks_declined",
    "snapshots_served",
    "streams_opened",
    "frames_sent",
    "clips_served",
    "bytes_sent",
)


@dataclass(slots=True)
class Counters:
    """Totals for the owner's dashboard; changed only through these methods."""

    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTER_KEYS, 0))
    last_access: float | None = None
    last_shared: float | None = None

    def unlock_received(self) -> None:
        self.values["unlocks_received"] += 1

    def status_changed(
        self, status: UnlockStatus, previous: UnlockStatus | None, now: float
    ) -> None:
        if status is UnlockStatus.ACTIVE and previous in (None, UnlockStatus.PENDING):
            self.values["unlocks_activated"] += 1
            self.last_shared = now
        elif status is UnlockStatus.DECLINED:
            self.values["unlocks_declined"] += 1

    def snapshot_served(self, size: int, now: float) -> None:
        self.values["snapshots_served"] += 1
        self._sent(size, now)

    def stream_opened(self) -> None:
        self.values["streams_opened"] += 1

    def frame_sent(self, size: int, now: float) -> None:
        self.values["frames_sent"] += 1
        self._sent(size, now)

    def clip_served(self, size: int, now: float) -> None:
        self.values["clips_served"] += 1
        self._sent(size, now)

    def _sent(self, size: int, now: float) -> None:
        self.values["bytes_sent"] += size
        self.last_access = now

    def copy(self) -> Counters:
        return Counters(dict(self.values), self.last_access, self.last_shared)

    def as_json(self, open_streams: int) -> dict[str, Any]:
        return {
            **self.values,
            "open_streams": open_streams,
            "last_access": None if self.last_access is None else rfc3339(self.last_access),
            "last_shared": None if self.last_shared is None else rfc3339(self.last_shared),
        }

    def to_storage(self) -> str:
        return json.dumps(
            {
                "values": self.values,
                "last_access": self.last_access,
                "last_shared": self.last_shared,
            }
        )

    @classmethod
    def from_storage(cls, text: str | None) -> Counters:
        counters = cls()
        if text:
            data = json.loads(text)
            counters.values.update({k: int(v) for k, v in data["values"].items()})
            counters.last_access = data["last_access"]
            counters.last_shared = data["last_shared"]
        return counters
