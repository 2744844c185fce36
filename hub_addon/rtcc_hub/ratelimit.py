"""Audit flood control for unlock refusals that name no configured hub.

Anyone who can reach the city port can POST garbage, and every refusal is audited with an fsync.
Refusals where no configured hub is identified (not JSON, no token, malformed, bad algorithm,
unknown issuer ...) pass through token buckets, one per remote address and one shared by all:
while a bucket has tokens each refusal is audited on its own, as usual; beyond that they are
counted and written as one aggregated `unlock_refused` entry
`{"reason": "rate_limited", "status": S, "count": N}` per status and interval. The HTTP answer
is unchanged (400/401): only the audit is aggregated. Refusals naming a configured hub are never
aggregated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Generous: a client sending one bad request at a time (a test suite, a misconfigured hub) sees
# every refusal audited on its own; only a flood is aggregated.
PER_ADDRESS_BURST = 100
PER_ADDRESS_RATE = 5.0  # tokens per second
GLOBAL_BURST = 300
GLOBAL_RATE = 20.0
AGGREGATE_INTERVAL_S = 10.0
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
        self._pending: dict[int, int] = {}
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

    def suppressed(self, status: int) -> None:
        self._pending[status] = self._pending.get(status, 0) + 1
        if self._pending_since is None:
            self._pending_since = self._clock()

    def due(self, *, force: bool = False) -> list[tuple[int, int]]:
        """(status, count) pairs to write now: once per interval, or everything if `force`."""
        if not self._pending:
            return []
        if self._pending_since is None:  # pragma: no cover - set with the first count
            self._pending_since = self._clock()
        if not force and self._clock() - self._pending_since < self.interval_s:
            return []
        pending, self._pending, self._pending_since = sorted(self._pending.items()), {}, None
        return pending

    def _prune(self, now: float) -> None:
        # Buckets that have refilled completely carry no information: forget them first.
        for key, bucket in list(self._addresses.items()):
            bucket.refill(now, self.per_address_burst, self.per_address_rate)
            if bucket.tokens >= self.per_address_burst:
                del self._addresses[key]
        if len(self._addresses) >= MAX_ADDRESSES:
            # Still full (a wide spread of addresses): the global bucket keeps bounding us.
            self._addresses.clear()
