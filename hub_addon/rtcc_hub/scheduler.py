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

# The scheduler sleeps until the next thing it knows is due (an unlock's deadline, the end of a
# pause, the aggregated refusal entry, a stream checkpoint, pruning), woken early by any stored
# change or counted refusal (`HomeState.schedule`); never shorter than TICK_S (a write that
# failed is retried at that pace, not in a busy loop), never longer than IDLE_S: what the plan
# cannot see — the wall clock set forward, say — happens within that. An idle home wakes once a
# second instead of four times (benchmarks/city_scale.py runs thousands in one process).
TICK_S = 0.25
IDLE_S = 1.0
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
        self._state.schedule_changed()
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

    def _sleep_s(self, since_checkpoint: float, since_prune: float) -> float:
        """How long nothing known is due (see TICK_S/IDLE_S)."""
        state = self._state
        now = state.clock()
        delay = min(IDLE_S, PRUNE_S - since_prune)
        deadline = state.ledger.next_deadline()
        if deadline is not None:
            delay = min(delay, deadline - now)
        paused_until = state.policy.paused_until
        if paused_until is not None and paused_until > now:
            delay = min(delay, paused_until - now)
        aggregate = self._refusals.limiter.seconds_until_due()
        if aggregate is not None:
            delay = min(delay, aggregate)
        if self._access.checkpoint_due():
            delay = min(delay, self.checkpoint_s - since_checkpoint)
        return max(TICK_S, delay)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        schedule = self._state.schedule
        last_checkpoint = loop.time()
        last_prune = -PRUNE_S  # once at start
        while not self._stopping.is_set():
            schedule.clear()  # what changes from here on wakes the sleep below at once
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
            if self._stopping.is_set():
                break
            sleep_s = self._sleep_s(loop.time() - last_checkpoint, loop.time() - last_prune)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(schedule.wait(), sleep_s)
