"""Ask many homes at once over a relay: one signed unlock per home, every answer collected.

    tokens = {home.home_id: sign_unlock_token(key, audience=home.home_id, ...) for home in homes}
    result = await broadcast(relay, tokens)        # relay: a connected CityRelay
    result.accepted, result.declined, result.no_answer, result.refused
    result.report()                                # what `rtcc-city broadcast` prints

Every request goes out at once over the one connection; each home's answer is kept with the
time it took from the broadcast's start. A declined unlock carries no reason (every decline
looks alike to the city); a home that does not answer within the relay's timeout is
`no_answer`, one that answers with an error status (`401`, `429`...) is `refused`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .client import CityApiError, CityClientError, Unlock
from .relay import CityRelay


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


async def broadcast(relay: CityRelay, tokens: Mapping[str, str]) -> BroadcastResult:
    """Send each home its token (`{home_id: token}`) at once; wait for every answer or for the
    relay's timeout. Never raises for one home's failure: that is in its `HomeAnswer`."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def ask(home_id: str, token: str) -> HomeAnswer:
        try:
            unlock = await relay.home(home_id).unlock(token)
        except CityClientError as err:
            return HomeAnswer(home_id, loop.time() - started, error=err)
        return HomeAnswer(home_id, loop.time() - started, unlock=unlock)

    answers = await asyncio.gather(*(ask(h, t) for h, t in tokens.items()))
    return BroadcastResult(tuple(answers), loop.time() - started)
