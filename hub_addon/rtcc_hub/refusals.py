"""Audit entries for requests that never became an unlock, under flood control."""

from __future__ import annotations

import logging

from .errors import DomainError
from .logthrottle import LogThrottle
from .ratelimit import RefusalLimiter
from .state import HomeState
from .status import AuditEvent, RefusalReason

_LOGGER = logging.getLogger(__name__)

_DROPPED = "dropped"  # relay requests dropped unanswered, counted in the same aggregate


class RefusalAudit:
    """`unlock_refused` entries: one each for refusals a valid signature stands behind (a
    replay, the quota), rate-limited and aggregated for all others (ratelimit.py)."""

    def __init__(self, state: HomeState, limiter: RefusalLimiter | None = None) -> None:
        self._state = state
        self.limiter = limiter or RefusalLimiter()
        self._failed = LogThrottle(_LOGGER, "a refusal could not be audited")

    async def signed(self, reason: RefusalReason, status: int, hub: str) -> None:
        """A refusal of a validly signed request: always its own entry."""
        await self._write(reason, status, hub)

    async def unsigned(
        self, reason: RefusalReason, status: int, client: str, hub: str | None = None
    ) -> None:
        """A refusal no valid signature stands behind; `hub` is the configured hub it named,
        if any (kept in the entry, never a reason to skip the flood control)."""
        if self.limiter.allow(client):
            await self._write(reason, status, hub)
        else:
            self.limiter.suppressed(str(status))
            self._state.schedule_changed()  # an aggregated entry is now due at some point
            await self.flush()

    async def dropped(self, reason: str, client: str, hub: str, url: str) -> None:
        """A relay request dropped unanswered (PROTOCOL.md section 6: "audited as refused"),
        under the same flood control: the relay counts as one client."""
        if self.limiter.allow(client):
            async with self._state.change() as change:
                change.audit(
                    AuditEvent.RELAY_REQUEST_DROPPED, {"reason": reason, "url": url}, hub=hub
                )
        else:
            self.limiter.suppressed(_DROPPED)
            self._state.schedule_changed()
            await self.flush()

    async def flush(self, *, force: bool = False) -> None:
        """Write the aggregated entry for refusals counted but not audited one by one."""
        counts = self.limiter.due(force=force)
        if counts is None:
            return
        detail: dict[str, object] = {
            "reason": RefusalReason.RATE_LIMITED.value,
            "count": sum(counts.values()),
            "statuses": {kind: n for kind, n in counts.items() if kind != _DROPPED},
        }
        if _DROPPED in counts:
            detail["dropped"] = counts[_DROPPED]
        try:
            async with self._state.change() as change:
                change.audit(AuditEvent.UNLOCK_REFUSED, detail)
        except DomainError:
            self.limiter.restore(counts)
            self._failed.warning("the aggregated entry waits for the next interval")

    async def _write(self, reason: RefusalReason, status: int, hub: str | None) -> None:
        # Every unlock received is audited (section 5): when this entry cannot be written the
        # request fails with 503 like any other whose write failed.
        async with self._state.change() as change:
            change.audit(
                AuditEvent.UNLOCK_REFUSED, {"reason": reason.value, "status": status}, hub=hub
            )
