"""Camera stills from Home Assistant: one upstream request per camera at a time.

Callers arriving while a request for the camera is under way share its answer (snapshots, the
preview and the stream poller alike, PROTOCOL.md section 1). The latest still of each camera is
kept briefly so that a snapshot taken while a stream polls that camera can reuse it when it is
fresher than one poll interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

type Fetch = Callable[[str], Coroutine[Any, Any, bytes]]

LATEST_STILL_KEEP_S = 30.0


class StillSource:
    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self._latest: dict[str, tuple[float, bytes]] = {}

    async def fetch(self, entity_id: str) -> bytes:
        """A fresh still, shared with every caller waiting for the same camera."""
        task = self._inflight.get(entity_id)
        if task is None:
            task = asyncio.create_task(self._fetch(entity_id), name=f"rtcc fetch {entity_id}")
            self._inflight[entity_id] = task
            task.add_done_callback(lambda done: self._fetched(entity_id, done))
        # shield: a caller that goes away (client gone, poller stopped) does not cancel the
        # request the others are waiting for.
        return await asyncio.shield(task)

    async def recent(self, entity_id: str, max_age_s: float) -> bytes:
        """The latest still when younger than `max_age_s`, else a fresh one."""
        latest = self._latest.get(entity_id)
        if latest is not None and asyncio.get_running_loop().time() - latest[0] < max_age_s:
            return latest[1]
        return await self.fetch(entity_id)

    def _fetched(self, entity_id: str, task: asyncio.Task[bytes]) -> None:
        if self._inflight.get(entity_id) is task:
            del self._inflight[entity_id]
        if task.cancelled() or task.exception() is not None:  # also marks it retrieved
            return
        now = asyncio.get_running_loop().time()
        self._latest[entity_id] = (now, task.result())
        for other, (at, _) in list(self._latest.items()):
            if now - at > LATEST_STILL_KEEP_S:
                del self._latest[other]

    def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        self._inflight.clear()
        self._latest.clear()
