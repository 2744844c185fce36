"""One log line per condition, not one per occurrence: floods must not flood the log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

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


@dataclass(slots=True)
class _Window:
    level: int
    message: str
    opened_at: float
    suppressed: int = 0
    flush: asyncio.TimerHandle | None = field(default=None, repr=False)


class ConditionThrottle:
    """`LogThrottle` for several conditions of one component, each at its own level.

    The first occurrence of a condition is logged at once (with its traceback, if any);
    repeats within `interval_s` are only counted, and a timer writes one summary line with
    their number when the interval is over, so a flood that stops is still accounted for.
    Each condition costs at most two lines per interval, and the conditions are a `StrEnum`.
    Must be used from inside a running event loop.
    """

    def __init__(
        self,
        logger: logging.Logger,
        prefix: str,
        *,
        interval_s: float = REPEAT_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._logger = logger
        self._prefix = prefix
        self._interval_s = interval_s
        self._clock = clock
        self._windows: dict[StrEnum, _Window] = {}

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def log(
        self,
        condition: StrEnum,
        level: int,
        message: str,
        *,
        exc_info: BaseException | None = None,
    ) -> None:
        """Log `message` now, or count it when `condition` was already logged in this interval.

        A traceback (`exc_info`) is only ever printed with the first line of an interval.
        """
        if not self._logger.isEnabledFor(level):
            return
        now = self._now()
        window = self._windows.get(condition)
        if window is not None and now - window.opened_at < self._interval_s:
            window.suppressed += 1
            if window.flush is None:
                window.flush = asyncio.get_running_loop().call_at(
                    window.opened_at + self._interval_s, self._summarise, condition
                )
            return
        if window is not None:
            self._summarise(condition)
        self._windows[condition] = _Window(level, message, now)
        self._logger.log(
            level,
            "%s: %s (repeats within %d s are counted)",
            self._prefix,
            message,
            self._interval_s,
            exc_info=exc_info,
        )

    def _summarise(self, condition: StrEnum) -> None:
        window = self._windows.pop(condition, None)
        if window is None:
            return
        if window.flush is not None:
            window.flush.cancel()
        if window.suppressed:
            self._logger.log(
                window.level,
                "%s: %s: %d more in %d s",
                self._prefix,
                window.message,
                window.suppressed,
                self._interval_s,
            )

    def close(self) -> None:
        """Write every pending summary now (at shutdown)."""
        for condition in list(self._windows):
            self._summarise(condition)
