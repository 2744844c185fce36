"""Requests of one relay in progress, keyed by their Correlation Data (PROTOCOL.md section 6).

An exchange lives from the moment a request is admitted until its last message is sent: the
whole answer, or a stream's `end`. While it lives, another request with the same Correlation
Data is not a new request:

- the same method, path and authorization again renews it: for a stream, its lease runs 60 s
  from then (and a renewal of a request still being answered is a duplicate, answered once);
- a `DELETE` of the same path cancels the stream (`end: cancelled`), even one still opening;
- anything else is dropped (`correlation_in_use`): answering it would mix its messages into
  the first one's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum

from ..carriage import CityRequest, FrameStream, Method, StreamEnd


class Repeat(StrEnum):
    """What a request reusing a live exchange's Correlation Data is."""

    RENEWAL = "renewal"
    CANCEL = "cancel"
    CONFLICT = "conflict"


def classify_repeat(first: CityRequest, again: CityRequest) -> Repeat:
    if again.method == first.method and again.path == first.path:
        return Repeat.RENEWAL if again.authorization == first.authorization else Repeat.CONFLICT
    if again.method == Method.DELETE and first.method == Method.GET and again.path == first.path:
        return Repeat.CANCEL
    return Repeat.CONFLICT


@dataclass(slots=True, eq=False)
class Exchange:
    """One admitted request. `generation` is the connection it arrived on."""

    request: CityRequest
    response_topic: str
    generation: int
    lease_s: float
    lease_deadline: float
    stream: FrameStream | None = None
    cancelled: bool = False
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def renew(self, now: float) -> None:
        self.lease_deadline = now + self.lease_s

    def cancel(self) -> None:
        self.cancelled = True
        if self.stream is not None:
            self.stream.stop(StreamEnd.CANCELLED)

    def attach(self, stream: FrameStream, loop: asyncio.AbstractEventLoop) -> None:
        """The router opened a stream for this request: apply a cancel that came first, and
        start watching the lease (counted from the request, as renewed since)."""
        self.stream = stream
        if self.cancelled:
            stream.stop(StreamEnd.CANCELLED)
            return
        self._watch_lease(loop)

    def _watch_lease(self, loop: asyncio.AbstractEventLoop) -> None:
        def check() -> None:
            self._timer = None
            if self.stream is None:
                return
            if loop.time() >= self.lease_deadline:
                self.stream.stop(StreamEnd.LEASE_EXPIRED)
            else:  # renewed meanwhile: look again at the new deadline
                self._timer = loop.call_at(self.lease_deadline, check)

        self._timer = loop.call_at(self.lease_deadline, check)

    def detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ExchangeTable:
    def __init__(self) -> None:
        self._live: dict[bytes, Exchange] = {}

    def __len__(self) -> int:
        return len(self._live)

    def get(self, correlation: bytes) -> Exchange | None:
        return self._live.get(correlation)

    def add(self, correlation: bytes, exchange: Exchange) -> None:
        self._live[correlation] = exchange

    def remove(self, correlation: bytes, exchange: Exchange) -> None:
        if self._live.get(correlation) is exchange:
            del self._live[correlation]
        exchange.detach()

    def streams(self, generation: int | None = None) -> list[FrameStream]:
        """Open streams, of one connection or of all."""
        return [
            exchange.stream
            for exchange in self._live.values()
            if exchange.stream is not None
            and (generation is None or exchange.generation == generation)
        ]
