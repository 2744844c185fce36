"""Reconnect delays (PROTOCOL.md section 6): exponential from 1 s to 60 s, with jitter."""

from __future__ import annotations

import random
from collections.abc import Callable

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0


def reconnect_delay(
    failures: int, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """The wait before the next attempt after `failures` failed ones in a row (1 or more).

    The ceiling doubles per failure (2, 4, 8 ... capped at 60 s) and the delay is drawn from its
    upper half, so it is never under 1 s nor over 60 s, and a whole city of homes dropped by one
    broker restart does not come back in one wave.
    """
    ceiling = min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** max(1, failures))
    delay = uniform(max(FIRST_DELAY_S, ceiling / 2), ceiling)
    return min(MAX_DELAY_S, max(FIRST_DELAY_S, delay))
