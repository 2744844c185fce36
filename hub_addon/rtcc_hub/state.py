"""The home's state in memory, and the one way it changes: a `Change`, stored, then applied.

Every mutation of what is persisted — unlocks, their traffic, the totals, the policy, the audit
chain — is staged on a `Change` inside `async with state.change() as change:`. On leaving the
block the staged statements are written in one transaction on the writer thread; only when that
committed are the staged versions put into memory and the new audit entries told to listeners.
If the write fails (disk full, database locked for more than 5 s, I/O error) nothing in memory
has changed: the request that needed the write gets `503 unavailable`, the audit chain and every
mirror are exactly as stored, and the next change starts from there (PROTOCOL.md section 1).

Changes run one at a time (an asyncio lock; SQLite has one writer anyway), so whatever a change
reads from memory while it is being staged is still true when it commits. Readers never wait:
they see memory, which holds the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .audit import AuditLog, Entry, canonical, make_entry
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
    save_unlock,
    set_meta,
)
from .unlock import Traffic, Unlock

_LOGGER = logging.getLogger(__name__)

type Clock = Callable[[], float]


class Change:
    """Writes staged for one transaction, and what memory takes once they are stored."""

    def __init__(self, state: HomeState) -> None:
        self._state = state
        self.now = state.clock()
        self._statements: list[Statement] = []
        self._entries: list[Entry] = []
        self._unlocks: dict[str, Unlock] = {}
        self._traffic: dict[str, list[Callable[[Traffic], None]]] = {}
        self._counters: list[Callable[[Counters], None]] = []
        self._policy: Policy | None = None
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
        )

    # what the change sees: its own staged versions over the stored state

    @property
    def policy(self) -> Policy:
        return self._policy if self._policy is not None else self._state.policy

    def unlock(self, unlock_id: str) -> Unlock | None:
        return self._unlocks.get(unlock_id) or self._state.ledger.get(unlock_id)

    # staging

    def audit(
        self,
        event: AuditEvent,
        detail: dict[str, Any],
        *,
        unlock_id: str | None = None,
        hub: str | None = None,
    ) -> Entry:
        head = self._state.audit.head
        if self._entries:
            last = self._entries[-1]
            head = type(head)(last["seq"], last["hash"])
        entry = make_entry(head, self._state.clock(), event, detail, unlock_id=unlock_id, hub=hub)
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

    def sql(self, *statements: Statement) -> None:
        self._statements.extend(statements)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run once the change is stored and applied (never if the write failed)."""
        self._after.append(callback)

    # committing (HomeState only)

    def statements(self) -> list[Statement]:
        state = self._state
        out = list(self._statements)
        if self._policy is not None:
            out.append(set_meta("policy", state.policy_json(self._policy)))
        for unlock_id in self._unlocks.keys() | self._traffic.keys():
            unlock = self.unlock(unlock_id)
            if unlock is None:  # traffic of an unlock that does not exist: nothing to store
                continue
            traffic = state.ledger.traffic(unlock_id).copy()
            for mutate in self._traffic.get(unlock_id, ()):
                mutate(traffic)
            out.append(save_unlock(unlock_id, unlock.to_storage(traffic)))
        if self._counters:
            counters = state.counters.copy()
            for count in self._counters:
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
        self._lock = asyncio.Lock()
        self._failures = LogThrottle(_LOGGER, "a write failed")

    @contextlib.asynccontextmanager
    async def change(self, timeout_s: float = WRITE_TIMEOUT_S) -> AsyncIterator[Change]:
        """Stage a change and store it on leaving the block; `DomainError(unavailable)` when
        it cannot be stored within `timeout_s` (memory then unchanged). An exception inside
        the block discards the change."""
        deadline = time.monotonic() + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await self._lock.acquire()
        except TimeoutError as err:
            self._failures.warning("the previous writes are still waiting for the database")
            raise DomainError(ErrorCode.UNAVAILABLE) from err
        committing = False
        try:
            change = Change(self)
            yield change
            if change.empty:
                return
            # The write and its application to memory are one step that a cancelled caller
            # (a client gone mid-request) cannot cut in two: the task finishes on its own and
            # releases the lock; the caller only waits for it.
            commit = asyncio.create_task(self._commit(change, deadline))
            committing = True
            commit.add_done_callback(_retrieve)
            await asyncio.shield(commit)
        finally:
            if not committing:
                self._lock.release()

    async def _commit(self, change: Change, deadline: float) -> None:
        try:
            try:
                await self.store.write(change.statements(), deadline=deadline)
            except StorageError as err:
                self._failures.warning(str(err))
                raise DomainError(ErrorCode.UNAVAILABLE) from err
            change.apply()
        finally:
            self._lock.release()


def _retrieve(task: asyncio.Task[None]) -> None:
    # The caller may have been cancelled and never look at the outcome.
    if not task.cancelled():
        task.exception()
