"""Audit databases for tests: a real add-on state with a known number of entries."""

from __future__ import annotations

from pathlib import Path

from rtcc_hub.app import open_state
from rtcc_hub.state import HomeState
from rtcc_hub.status import AuditEvent

NOW = 1_800_000_000.0


async def state_with_entries(data_dir: Path, entries: int) -> HomeState:
    """Open the state under `data_dir` (its `service_started` is entry 1) and add entries up
    to `entries` in all. The caller closes `state.store`."""
    state = await open_state(data_dir, lambda: NOW)
    for i in range(entries - state.audit.head.seq):
        async with state.change() as change:
            change.audit(AuditEvent.POLICY_CHANGED, {"revision": i + 1, "changed": []})
    return state
