"""The add-on's stored state opened directly (no listeners), for storage and audit tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rtcc_hub.app import open_state
from rtcc_hub.audit import Entry
from rtcc_hub.state import HomeState
from rtcc_hub.status import AuditEvent
from rtcc_hub.storage import Connect, Statement, Store, audit_rows

NOW = 1_800_000_000.25


@asynccontextmanager
async def opened_state(
    data_dir: Path, *, clock: Callable[[], float] = lambda: NOW, connect: Connect | None = None
) -> AsyncIterator[HomeState]:
    """The state under `data_dir` (entry 1 is its `service_started`), closed afterwards."""
    state = await open_state(data_dir, clock, connect)
    try:
        yield state
    finally:
        await state.store.close()


async def append(
    state: HomeState,
    event: AuditEvent = AuditEvent.POLICY_CHANGED,
    detail: dict[str, Any] | None = None,
    **where: str,
) -> Entry:
    """One audit entry, written as every change writes it."""
    async with state.change() as change:
        entry = change.audit(event, detail if detail is not None else {}, **where)
    return entry  # noqa: RET504 - once the change is stored, not before


async def rows(store: Store) -> list[tuple[int, str]]:
    return await store.read(audit_rows)


async def write(store: Store, *statements: Statement) -> None:
    await store.write(list(statements), deadline=time.monotonic() + 5)
