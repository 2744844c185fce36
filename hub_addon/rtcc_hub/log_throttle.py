"""Rate-limited logging: one line per condition per interval, however often it happens.

A flood of hostile or broken connections must not grow the log by more than a fixed rate
(PROTOCOL.md section 5 asks the same of the audit log). The first occurrence of a condition is
logged at once; repeats within the interval are only counted, and one summary line with their
number follows when the interval is over. So each condition costs at most two lines per
interval, and the number of conditions is fixed by the caller's `StrEnum`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_INTERVAL_S = 60.0


@dataclass(slots=True)
class _Window:
    level: int
    message: str
    opened_at: float
    suppressed: int = 0
    flush: asyncio.TimerHandle | None = field(default=None, repr=False)


class LogThrottle:
    """Log `condition`s through `logger`, at most one line each per `interval_s` plus a summary.

    Must be used from inside a running event loop (the summary is written by a timer).
    """

    def __init__(
        self,
        logger: logging.Logger,
        prefix: str,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
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
