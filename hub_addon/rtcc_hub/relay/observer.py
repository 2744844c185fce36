"""What a relay tells the rest of the add-on: connection changes and dropped requests (to audit,
PROTOCOL.md section 5: "every relay connected and lost"), and its state for
`GET /control/v1/state` (section 4: `hub`, `url`, `connected`, `since`, `last_error`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class DropReason(StrEnum):
    """Why a request was dropped: not acted on, not answered (section 6)."""

    NO_RESPONSE_TOPIC = "no_response_topic"
    FOREIGN_RESPONSE_TOPIC = "foreign_response_topic"  # not under P/homes/H/responses/
    NO_CORRELATION_DATA = "no_correlation_data"
    BAD_CORRELATION_DATA = "bad_correlation_data"  # empty, or more than 64 bytes
    # Another request reused the Correlation Data of an open stream without being its renewal
    # or cancel: answering would mix into that stream's messages.
    CORRELATION_IN_USE = "correlation_in_use"
    # A retained request: the broker replays it to every new subscription, so it is a request
    # delivered late (section 6: "never delivered late"), every time the home reconnects.
    RETAINED = "retained"
    # More `429 busy` answers were pending than a relay sends at once: beyond that a flood is
    # not even answered.
    FLOOD = "flood"


@dataclass(frozen=True, slots=True)
class RelayIdentity:
    """A relay as the audit log names it. `client` is the key it has in the flood control of
    unattributable refusals (one per relay: section 6). Never credentials."""

    hub: str
    url: str
    client: str


class RelayObserver(Protocol):
    """Implemented by the add-on (audit log). Each call is awaited; an exception is logged and
    never stops the relay."""

    async def relay_connected(self, relay: RelayIdentity) -> None:
        """Connected, subscribed and announced online."""
        ...

    async def relay_lost(self, relay: RelayIdentity, error: str) -> None:
        """A connection that was up is gone; the relay reconnects with backoff."""
        ...

    async def relay_failed(self, relay: RelayIdentity, error: str) -> None:
        """A connection attempt failed (refused, TLS verification, authentication ...).

        Called for the first failure after start or after a lost connection, and again only
        when the error changes: a broker down for a day is one entry, not one per retry."""
        ...

    async def request_dropped(self, relay: RelayIdentity, reason: DropReason) -> None:
        """A request was dropped (section 6: "audited as refused")."""
        ...


class NullObserver:
    """An observer that records nothing (tools and benchmarks that audit elsewhere)."""

    async def relay_connected(self, relay: RelayIdentity) -> None:
        return None

    async def relay_lost(self, relay: RelayIdentity, error: str) -> None:
        return None

    async def relay_failed(self, relay: RelayIdentity, error: str) -> None:
        return None

    async def request_dropped(self, relay: RelayIdentity, reason: DropReason) -> None:
        return None
