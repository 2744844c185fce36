"""What the relays tell the add-on, written to the audit log (PROTOCOL.md section 5: "every
relay connected and lost"; section 6: a dropped request is "audited as refused")."""

from __future__ import annotations

from .refusals import RefusalAudit
from .relay import DropReason, RelayIdentity
from .state import HomeState
from .status import AuditEvent


class RelayAudit:
    """The add-on's `RelayObserver`: never credentials, only the hub and the broker URL."""

    def __init__(self, state: HomeState, refusals: RefusalAudit) -> None:
        self._state = state
        self._refusals = refusals

    async def relay_connected(self, relay: RelayIdentity) -> None:
        await self._entry(AuditEvent.RELAY_CONNECTED, relay, {"url": relay.url})

    async def relay_lost(self, relay: RelayIdentity, error: str) -> None:
        await self._entry(AuditEvent.RELAY_LOST, relay, {"url": relay.url, "error": error})

    async def relay_failed(self, relay: RelayIdentity, error: str) -> None:
        # Once per distinct error (the relay says so), not once per retry.
        await self._entry(AuditEvent.RELAY_FAILED, relay, {"url": relay.url, "error": error})

    async def request_dropped(self, relay: RelayIdentity, reason: DropReason) -> None:
        await self._refusals.dropped(reason.value, relay.client, relay.hub, relay.url)

    async def _entry(self, event: AuditEvent, relay: RelayIdentity, detail: dict[str, str]) -> None:
        async with self._state.change() as change:
            change.audit(event, detail, hub=relay.hub)
