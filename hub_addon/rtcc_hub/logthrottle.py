"""One log line per condition, not one per occurrence: floods must not flood the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# A condition that keeps happening is logged again at most this often, with a count.
REPEAT_S = 60.0


class LogThrottle:
    """Logs the first occurrence of a condition at once, later ones at most every REPEAT_S
    seconds with the number of occurrences they stand for."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        repeat_s: float = REPEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._what = what
        self._repeat_s = repeat_s
        self._clock = clock
        self._last: float | None = None
        self._suppressed = 0

    def warning(self, detail: str) -> None:
        self._log(logging.WARNING, detail)

    def error(self, detail: str) -> None:
        self._log(logging.ERROR, detail)

    def _log(self, level: int, detail: str) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._repeat_s:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
        self._logger.log(level, "%s: %s%s", self._what, detail, more)
        self._last, self._suppressed = now, 0
