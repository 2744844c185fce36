"""Ask many homes at once over a relay: one signed unlock per home, every answer collected.

    result = await broadcast_signing(relay, home_ids, sign)  # sign(home_id) -> its token,
                                                             # made as its request goes out
    result = await broadcast(relay, {home_id: token, ...})   # or tokens signed beforehand
    result.accepted, result.declined, result.no_answer, result.refused
    result.report()                                          # what `rtcc-city broadcast` prints

Requests go out over the one connection with at most `in_flight` (default 500) waiting for
their answers at once, each next one as soon as an answer comes in: a broker queues a bounded
number of messages for a client that has not read them yet (Mosquitto's `max_queued_messages`,
1000 by default, beyond which it drops them), and thousands of homes answering together would
overrun it. Each home's answer is kept with the time it took from the broadcast's start.

A declined unlock carries no reason (every decline looks alike to the city); a home that does
not answer within the relay's timeout is `no_answer`, one that answers with an error status
(`401`, `429`...) is `refused`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .client import CityApiError, CityClientError, Unlock
from .relay import CityRelay

# Half of Mosquitto's default queue for one client (max_queued_messages 1000): room for the
# answers in flight and for anything else the city's connection receives meanwhile.
DEFAULT_IN_FLIGHT = 500


@dataclass(frozen=True, slots=True)
class HomeAnswer:
    home_id: str
    seconds: float  # from the broadcast's start to this home's answer (or to giving up)
    unlock: Unlock | None = None
    error: CityClientError | None = None  # CityApiError when the home answered with an error

    @property
    def accepted(self) -> bool:
        return self.unlock is not None and self.unlock.status != "declined"

    @property
    def declined(self) -> bool:
        return self.unlock is not None and self.unlock.status == "declined"

    @property
    def refused(self) -> bool:
        return isinstance(self.error, CityApiError)


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    answers: tuple[HomeAnswer, ...]
    seconds: float  # from the first request sent to the last answer (or timeout)

    @property
    def asked(self) -> int:
        return len(self.answers)

    @property
    def accepted(self) -> list[HomeAnswer]:
        return [a for a in self.answers if a.accepted]

    @property
    def declined(self) -> list[HomeAnswer]:
        return [a for a in self.answers if a.declined]

    @property
    def refused(self) -> list[HomeAnswer]:
        return [a for a in self.answers if a.refused]

    @property
    def no_answer(self) -> list[HomeAnswer]:
        return [a for a in self.answers if a.unlock is None and not a.refused]

    def report(self) -> dict[str, Any]:
        """The JSON document of `rtcc-city broadcast`."""
        refused = []
        for answer in self.refused:
            assert isinstance(answer.error, CityApiError)
            refused.append(
                {
                    "home_id": answer.home_id,
                    "status": answer.error.status,
                    "error": answer.error.code,
                }
            )
        return {
            "asked": self.asked,
            "accepted": [
                {"home_id": a.home_id, **((a.unlock.raw if a.unlock else None) or {})}
                for a in self.accepted
            ],
            "declined": [a.home_id for a in self.declined],  # no reason: every decline alike
            "no_answer": [a.home_id for a in self.no_answer],
            "refused": refused,
            "seconds": round(self.seconds, 3),
        }


async def broadcast(
    relay: CityRelay, tokens: Mapping[str, str], *, in_flight: int = DEFAULT_IN_FLIGHT
) -> BroadcastResult:
    """Send each home its token (`{home_id: token}`), signed beforehand. Only for broadcasts
    that end within a minute of signing: a home refuses a token whose `iat` is older than 60 s
    (PROTOCOL.md 3.1). `broadcast_signing` signs each token as its request goes out."""
    return await broadcast_signing(relay, list(tokens), tokens.__getitem__, in_flight=in_flight)


async def broadcast_signing(
    relay: CityRelay,
    home_ids: Sequence[str],
    sign: Callable[[str], str],
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
) -> BroadcastResult:
    """Ask every home, `sign(home_id)` making its token just before its request goes out, at
    most `in_flight` unanswered at once; wait for every answer or for the relay's timeout (per
    request). Thousands of homes take longer than the 60 s a token's `iat` may be old.

    The first home's token is signed before anything is sent, so that bad input (`sign`
    raising) fails the broadcast before any home hears of it. Never raises for one home's
    failure to answer: that is in its `HomeAnswer`."""
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    if not home_ids:
        return BroadcastResult((), 0.0)
    first = sign(home_ids[0])
    loop = asyncio.get_running_loop()
    started = loop.time()
    window = asyncio.Semaphore(in_flight)

    async def ask(index: int, home_id: str) -> HomeAnswer:
        async with window:
            token = first if index == 0 else sign(home_id)
            try:
                unlock = await relay.home(home_id).unlock(token)
            except CityClientError as err:
                return HomeAnswer(home_id, loop.time() - started, error=err)
            return HomeAnswer(home_id, loop.time() - started, unlock=unlock)

    answers = await asyncio.gather(*(ask(i, home_id) for i, home_id in enumerate(home_ids)))
    return BroadcastResult(tuple(answers), loop.time() - started)
