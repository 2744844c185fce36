"""Makes time-driven changes happen on their own: expiry, the end of a pause, ask timeouts.

A convenience, not a safeguard: every access re-checks status, window, consent, pause and share
at request time and again before every stream frame (lifecycle.py), so a late or failed tick
delays an audit entry, never ends access late. It also writes the aggregated refusal entries and
the open streams' counters (every STREAM_CHECKPOINT_S, never once per frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .access import CityAccess
from .clips import ClipService
from .errors import DomainError
from .logthrottle import LogThrottle
from .refusals import RefusalAudit
from .state import HomeState
from .storage import prune
from .transitions import run_due

_LOGGER = logging.getLogger(__name__)

TICK_S = 0.25
# Open streams' frame and byte counters (and their unlocks' and the totals) are written this
# often, so that a crash loses at most this much of them.
STREAM_CHECKPOINT_S = 5.0
PRUNE_S = 600.0  # old jtis and quota rows


class Scheduler:
    def __init__(
        self,
        state: HomeState,
        access: CityAccess,
        refusals: RefusalAudit,
        clips: ClipService,
        *,
        checkpoint_s: float = STREAM_CHECKPOINT_S,
    ) -> None:
        self._state = state
        self._access = access
        self._refusals = refusals
        self._clips = clips
        self.checkpoint_s = checkpoint_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failed = LogThrottle(_LOGGER, "a scheduled write failed; retrying")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rtcc scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def prune(self) -> None:
        async with self._state.change() as change:
            change.sql(*prune(change.now))

    async def tick(self) -> None:
        await run_due(self._state)
        await self._clips.sweep()
        await self._refusals.flush()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_checkpoint = loop.time()
        last_prune = -PRUNE_S  # once at start
        while not self._stopping.is_set():
            try:
                await self.tick()
                if loop.time() - last_checkpoint >= self.checkpoint_s:
                    last_checkpoint = loop.time()
                    await self._access.checkpoint()
                if loop.time() - last_prune >= PRUNE_S:
                    last_prune = loop.time()
                    await self.prune()
            except DomainError as err:
                self._failed.warning(err.message)
            except Exception:  # keep scheduling; access checks do not depend on it
                _LOGGER.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_S)
