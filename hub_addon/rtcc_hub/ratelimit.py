"""Audit flood control for refusals that no valid signature stands behind.

Anyone who can reach the city API can send garbage, and every refusal is audited with an fsync.
Refusals of requests not attributable to a valid signature — not JSON, no token, malformed, bad
algorithm, unknown issuer, bad signature *whatever `iss` they name* (a hub id is not a secret)
— pass through token buckets, one per client (a remote address; a relay as a whole) and one
shared by all. While the buckets have tokens each refusal is audited on its own, as usual;
beyond that they are only counted, and at most one aggregated `unlock_refused` entry
`{"reason": "rate_limited", "count": N, "statuses": {"401": n, ...}}` is written per interval
(PROTOCOL.md section 5: beyond a burst of at most 300, at most one entry per minute). The
buckets refill slowly (one token per ten minutes), so however long a flood lasts the log grows
by little more than one entry a minute. The answer to the client is unchanged (400/401).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Generous: a client sending one bad request at a time (a test suite, a misconfigured hub) sees
# every refusal audited on its own; only a flood is aggregated.
PER_ADDRESS_BURST = 100
PER_ADDRESS_RATE = 1 / 600  # tokens per second
GLOBAL_BURST = 300
GLOBAL_RATE = 1 / 600
AGGREGATE_INTERVAL_S = 60.0
MAX_ADDRESSES = 4096


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float

    def refill(self, now: float, burst: float, rate: float) -> None:
        self.tokens = min(burst, self.tokens + (now - self.updated) * rate)
        self.updated = now


class RefusalLimiter:
    def __init__(
        self,
        *,
        per_address_burst: int = PER_ADDRESS_BURST,
        per_address_rate: float = PER_ADDRESS_RATE,
        global_burst: int = GLOBAL_BURST,
        global_rate: float = GLOBAL_RATE,
        interval_s: float = AGGREGATE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address_burst = per_address_burst
        self.per_address_rate = per_address_rate
        self.global_burst = global_burst
        self.global_rate = global_rate
        self.interval_s = interval_s
        self._clock = clock
        self._addresses: dict[str, _Bucket] = {}
        self._global = _Bucket(float(global_burst), clock())
        self._pending: dict[str, int] = {}
        self._pending_since: float | None = None

    def allow(self, address: str | None) -> bool:
        """True when this refusal may be audited on its own; else it is only counted."""
        now = self._clock()
        self._global.refill(now, self.global_burst, self.global_rate)
        key = address or "?"
        bucket = self._addresses.get(key)
        if bucket is None:
            if len(self._addresses) >= MAX_ADDRESSES:
                self._prune(now)
            bucket = self._addresses[key] = _Bucket(float(self.per_address_burst), now)
        bucket.refill(now, self.per_address_burst, self.per_address_rate)
        if bucket.tokens < 1 or self._global.tokens < 1:
            return False
        bucket.tokens -= 1
        self._global.tokens -= 1
        return True

    def suppressed(self, kind: str) -> None:
        """Count a refusal not audited on its own; `kind` is its status ("401") or what it was
        (a relay's "dropped" request)."""
        self._pending[kind] = self._pending.get(kind, 0) + 1
        if self._pending_since is None:
            self._pending_since = self._clock()

    def due(self, *, force: bool = False) -> dict[str, int] | None:
        """Counts per status to write as one entry now (once per interval, or whatever is
        pending if `force`), else None."""
        if not self._pending:
            return None
        if self._pending_since is None:  # pragma: no cover - set with the first count
            self._pending_since = self._clock()
        if not force and self._clock() - self._pending_since < self.interval_s:
            return None
        pending, self._pending, self._pending_since = dict(sorted(self._pending.items())), {}, None
        return pending

    def seconds_until_due(self) -> float | None:
        """When the pending counts are due as one entry (None: nothing pending)."""
        if self._pending_since is None:
            return None
        return self._pending_since + self.interval_s - self._clock()

    def restore(self, counts: dict[str, int]) -> None:
        """Count again what `due` handed out but could not be written (the disk was full)."""
        for kind, count in counts.items():
            self._pending[kind] = self._pending.get(kind, 0) + count
        if self._pending_since is None:
            self._pending_since = self._clock()

    def _prune(self, now: float) -> None:
        # Buckets that have refilled completely carry no information: forget them first.
        for key, bucket in list(self._addresses.items()):
            bucket.refill(now, self.per_address_burst, self.per_address_rate)
            if bucket.tokens >= self.per_address_burst:
                del self._addresses[key]
        if len(self._addresses) >= MAX_ADDRESSES:
            # Still full (a wide spread of addresses): the global bucket keeps bounding us.
            self._addresses.clear()
