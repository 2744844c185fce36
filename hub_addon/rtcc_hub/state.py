"""The home's state in memory, and the one way it changes: a `Change`, stored, then applied.

Every mutation of what is persisted — unlocks, their traffic, the totals, the policy, the audit
chain, replayed jtis and quota rows — is staged on a `Change` inside
`async with state.change() as change:`. On leaving the block the change is queued for the
writer; only once its transaction committed is it put into memory and are its audit entries
told to listeners. If the write fails (disk full, database locked for more than 5 s, I/O error)
nothing in memory changes: the request that needed it gets `503 unavailable`, the audit chain
and every mirror are exactly as stored, and later changes start from there (PROTOCOL.md
section 1).

Group commit. Changes are staged one at a time (an asyncio lock around the block, which holds
no I/O but the reads a change needs), each on top of the changes staged before it and not yet
stored: it sees their unlocks, policy, audit head, jtis and quota rows. Whatever has queued up
while one transaction was being written goes into the next one, so a slow disk costs one
fsync per batch, not one per request. A failed batch fails every change in it and every change
staged on top of one of them; a change staged on the stored state alone still commits.

Readers never wait: they see memory, which holds the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .audit import AuditLog, Entry, Head, canonical, make_entry
from .errors import DomainError, ErrorCode
from .ledger import Counters, Ledger
from .logthrottle import LogThrottle
from .policy import Policy
from .status import AuditEvent
from .storage import (
    WRITE_TIMEOUT_S,
    Statement,
    StorageError,
    Store,
    append_audit,
    claim_jti,
    record_unlock_time,
    save_unlock,
    set_meta,
)
from .unlock import Traffic, Unlock

_LOGGER = logging.getLogger(__name__)

type Clock = Callable[[], float]


class Change:
    """Writes staged for one transaction, and what memory takes once they are stored."""

    def __init__(self, state: HomeState, parent: Change | None, deadline: float) -> None:
        self._state = state
        self.parent = parent  # the change staged before this one, not yet stored
        self.deadline = deadline  # time.monotonic(): past it, the write fails
        self.now = state.clock()
        self.applied = False
        self.failed = False
        self._statements: list[Statement] = []
        self._entries: list[Entry] = []
        self._unlocks: dict[str, Unlock] = {}
        self._traffic: dict[str, list[Callable[[Traffic], None]]] = {}
        self._counters: list[Callable[[Counters], None]] = []
        self._policy: Policy | None = None
        self._jtis: set[tuple[str, str]] = set()
        self._quota: list[tuple[str, float]] = []
        self._after: list[Callable[[], None]] = []

    @property
    def empty(self) -> bool:
        return not (
            self._statements
            or self._entries
            or self._unlocks
            or self._traffic
            or self._counters
            or self._policy
            or self._jtis
            or self._quota
        )

    def _pending(self) -> Iterator[Change]:
        """This change, then those staged before it and not yet stored (newest first)."""
        change: Change | None = self
        while change is not None and not change.applied:
            yield change
            change = change.parent

    @property
    def tainted(self) -> bool:
        """Staged on top of a change whose write failed: what it saw never became true."""
        return any(change.failed for change in self._pending() if change is not self)

    # what the change sees: the staged versions over the stored state --------------------------

    @property
    def policy(self) -> Policy:
        for change in self._pending():
            if change._policy is not None:
                return change._policy
        return self._state.policy

    def unlock(self, unlock_id: str) -> Unlock | None:
        for change in self._pending():
            if unlock_id in change._unlocks:
                return change._unlocks[unlock_id]
        return self._state.ledger.get(unlock_id)

    def open_unlocks(self) -> list[Unlock]:
        """Every unlock not ended, with the versions staged so far (new ones included)."""
        seen: dict[str, Unlock] = {u.unlock_id: u for u in self._state.ledger.open_unlocks()}
        for change in reversed(list(self._pending())):  # oldest first: newest wins
            seen.update(change._unlocks)
        return [unlock for unlock in seen.values() if unlock.open]

    def jti_pending(self, hub: str, jti: str) -> bool:
        return any((hub, jti) in change._jtis for change in self._pending())

    def quota_pending(self, hub: str, since: float) -> list[float]:
        """Unlock times of `hub` after `since` staged but not yet stored, oldest first."""
        times = [ts for change in self._pending() for h, ts in change._quota if h == hub]
        return sorted(ts for ts in times if ts > since)

    def _head(self) -> Head:
        for change in self._pending():
            if change._entries:
                last = change._entries[-1]
                return Head(last["seq"], last["hash"])
        return self._state.audit.head

    # staging ----------------------------------------------------------------------------------

    def audit(
        self,
        event: AuditEvent,
        detail: dict[str, Any],
        *,
        unlock_id: str | None = None,
        hub: str | None = None,
    ) -> Entry:
        entry = make_entry(
            self._head(), self._state.clock(), event, detail, unlock_id=unlock_id, hub=hub
        )
        self._entries.append(entry)
        return entry

    def put_unlock(self, unlock: Unlock) -> None:
        self._unlocks[unlock.unlock_id] = unlock

    def traffic(self, unlock_id: str, mutate: Callable[[Traffic], None]) -> None:
        self._traffic.setdefault(unlock_id, []).append(mutate)

    def counters(self, mutate: Callable[[Counters], None]) -> None:
        self._counters.append(mutate)

    def set_policy(self, policy: Policy) -> None:
        self._policy = policy

    def claim_jti(self, hub: str, jti: str, exp: float) -> None:
        """Record a jti (the caller checked it is neither stored nor pending)."""
        self._jtis.add((hub, jti))
        self._statements.append(claim_jti(hub, jti, exp))

    def record_unlock_time(self, hub: str, ts: float) -> None:
        self._quota.append((hub, ts))
        self._statements.append(record_unlock_time(hub, ts))

    def sql(self, *statements: Statement) -> None:
        self._statements.extend(statements)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run once the change is stored and applied (never if the write failed)."""
        self._after.append(callback)

    # committing (HomeState only) -----------------------------------------------------------

    def statements(self) -> list[Statement]:
        """Its statements; rows it shares with pending changes are written with their effects
        too, so that whichever change of a batch writes a row last writes it whole."""
        state = self._state
        pending = list(reversed(list(self._pending())))  # oldest first, self last
        out = list(self._statements)
        if self._policy is not None:
            out.append(set_meta("policy", state.policy_json(self._policy)))
        for unlock_id in self._unlocks.keys() | self._traffic.keys():
            unlock = self.unlock(unlock_id)
            if unlock is None:  # traffic of an unlock that does not exist: nothing to store
                continue
            traffic = state.ledger.traffic(unlock_id).copy()
            for change in pending:
                for mutate in change._traffic.get(unlock_id, ()):
                    mutate(traffic)
            out.append(save_unlock(unlock_id, unlock.to_storage(traffic)))
        if self._counters:
            counters = state.counters.copy()
            for change in pending:
                for count in change._counters:
                    count(counters)
            out.append(set_meta("counters", counters.to_storage()))
        out.extend(append_audit(entry["seq"], canonical(entry)) for entry in self._entries)
        return out

    def apply(self) -> None:
        state = self._state
        if self._policy is not None:
            state.policy = self._policy
        for unlock in self._unlocks.values():
            state.ledger.put(unlock)
        for unlock_id, mutations in self._traffic.items():
            if state.ledger.get(unlock_id) is not None:
                for mutate in mutations:
                    mutate(state.ledger.traffic(unlock_id))
        for count in self._counters:
            count(state.counters)
        self.applied = True
        self.parent = None  # nothing earlier is pending any more
        state.audit.advance(self._entries)
        for callback in self._after:
            try:
                callback()
            except Exception:  # the change is stored; a callback must not undo the answer
                _LOGGER.exception("after-commit callback failed")


class HomeState:
    """What is stored, mirrored in memory: policy, unlocks, totals and the audit head."""

    def __init__(
        self,
        store: Store,
        *,
        home_id: str,
        policy: Policy,
        ledger: Ledger,
        counters: Counters,
        audit: AuditLog,
        clock: Clock,
        policy_json: Callable[[Policy], str],
    ) -> None:
        self.store = store
        self.home_id = home_id
        self.policy = policy
        self.ledger = ledger
        self.counters = counters
        self.audit = audit
        self.clock = clock
        self.policy_json = policy_json
        self._stage = asyncio.Lock()
        self._last: Change | None = None  # the newest change staged and not yet stored
        self._queue: list[tuple[Change, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._failures = LogThrottle(_LOGGER, "a write failed")
        # Set whenever what the scheduler plans on may have moved: a stored change (a new
        # deadline, a pause, a stream opened) or a refusal counted for the aggregated entry.
        self.schedule = asyncio.Event()

    def schedule_changed(self) -> None:
        self.schedule.set()

    @contextlib.asynccontextmanager
    async def change(self, timeout_s: float = WRITE_TIMEOUT_S) -> AsyncIterator[Change]:
        """Stage a change and store it on leaving the block; `DomainError(unavailable)` when
        it cannot be stored within `timeout_s` (memory then unchanged). An exception inside
        the block discards the change."""
        deadline = time.monotonic() + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await self._stage.acquire()
        except TimeoutError as err:
            self._failures.warning("the previous writes are still waiting for the database")
            raise DomainError(ErrorCode.UNAVAILABLE) from err
        try:
            parent = self._last if self._last is not None and not self._last.applied else None
            if parent is not None and (parent.failed or parent.tainted):
                parent = None
            change = Change(self, parent, deadline)
            yield change
            if change.empty:
                return
            stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append((change, stored))
            self._last = change
            if self._writer is None or self._writer.done():
                self._writer = asyncio.create_task(self._write_queue(), name="rtcc writer")
        finally:
            self._stage.release()
        # The write and its application to memory run in the writer task: a cancelled caller
        # (a client gone mid-request) cannot cut them in two; it only stops waiting.
        await asyncio.shield(stored)

    async def _write_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            doomed = [(c, f) for c, f in batch if c.tainted]
            batch = [(c, f) for c, f in batch if not c.tainted]
            self._fail(doomed, "staged on a write that failed")
            if not batch:
                continue
            statements = [s for change, _ in batch for s in change.statements()]
            try:
                await self.store.write(
                    statements, deadline=min(change.deadline for change, _ in batch)
                )
            except StorageError as err:
                self._fail(batch, str(err))
                continue
            except BaseException as err:  # never leave a caller waiting forever
                self._fail(batch, repr(err))
                raise
            for change, stored in batch:
                change.apply()
                if not stored.done():
                    stored.set_result(None)
            self.schedule.set()

    def _fail(self, batch: list[tuple[Change, asyncio.Future[None]]], why: str) -> None:
        if not batch:
            return
        self._failures.warning(why)
        for change, stored in batch:
            change.failed = True
            if not stored.done():
                stored.set_exception(DomainError(ErrorCode.UNAVAILABLE))
                stored.exception()  # retrieved: a cancelled caller may never look
