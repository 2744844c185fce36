"""File descriptors: a budget the city can never exhaust, and spares for the owner.

Running out of descriptors must never stop the add-on from answering its owner or from ending
access (PROTOCOL.md section 3). Three layers make sure of it:

1. At start the soft `RLIMIT_NOFILE` is raised towards the hard limit (many systems start
   processes at 1024 while allowing far more).
2. The city listener's total connection cap is sized below what is left, with a reserve for
   the control API, the clients to Home Assistant, Frigate and the relays, and storage; each
   city connection is counted twice (its socket and a file it may be served from). So city
   traffic alone cannot run the process out of descriptors.
3. The process keeps a few spare descriptors (opened on /dev/null), shared by the listeners.
   When `accept()` fails with EMFILE anyway (a limit lowered from outside, a leak elsewhere),
   a listener closes a spare and accepts: the control listener serves that connection (the
   owner can still revoke), the city listener closes it at once and takes the spare back (the
   backlog drains instead of waking the loop forever). While the spares are short, the city
   listener admits nothing: every descriptor it gets goes back to the reserve first, so a flood
   can never take the descriptors the owner's requests free.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

# How high the soft limit is raised when the hard limit allows it: far above what the caps
# need (512 city connections), low enough not to matter to anything that walks all descriptors.
TARGET_SOFT_LIMIT = 8192
# Descriptors kept for everything that is not a city connection: the control listener's
# connections (64), clients to Home Assistant, Frigate and relays (64), storage, logs and the
# event loop itself (32).
RESERVED_DESCRIPTORS = 160
DESCRIPTORS_PER_CITY_CONNECTION = 2
# Below this the city listener would be useless; it still gets this many (and a warning) so
# that a badly configured limit degrades service instead of stopping the add-on.
MIN_CITY_CONNECTIONS = 8
# Spares: two for the owner's concurrent requests at EMFILE, one for the city to shed with.
SPARE_DESCRIPTORS = 3
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def open_descriptor_count() -> int:
    """Descriptors open in this process now (Linux and macOS list them; elsewhere a guess)."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return sum(1 for _ in Path(directory).iterdir())
    return 64


def raise_soft_limit(target: int = TARGET_SOFT_LIMIT) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to `target` (never above the hard limit, never lower it).

    Returns the (soft, hard) limits in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as err:  # a sandbox may refuse; the caps adapt below
            _LOGGER.warning("could not raise the descriptor limit to %d: %s", wanted, err)
    return soft, hard


def city_connection_cap(wanted: int, soft_limit: int, open_now: int) -> int:
    """The city listener's total cap: `wanted` (512) unless the descriptor limit is lower."""
    available = (soft_limit - open_now - RESERVED_DESCRIPTORS) // DESCRIPTORS_PER_CITY_CONNECTION
    return max(MIN_CITY_CONNECTIONS, min(wanted, available))


@dataclass(frozen=True, slots=True)
class DescriptorBudget:
    """The descriptor limit this process runs with, measured once at start, and the spares
    its listeners share."""

    soft_limit: int
    hard_limit: int
    open_at_start: int
    spares: SpareDescriptors = field(compare=False)

    @classmethod
    def for_process(cls) -> DescriptorBudget:
        """Raise the soft limit, then measure (call once, before the listeners start)."""
        soft, hard = raise_soft_limit()
        if soft == resource.RLIM_INFINITY:
            soft = TARGET_SOFT_LIMIT
        return cls(soft, hard, open_descriptor_count(), SpareDescriptors(SPARE_DESCRIPTORS))

    def city_cap(self, wanted: int) -> int:
        cap = city_connection_cap(wanted, self.soft_limit, self.open_at_start)
        if cap < wanted:
            _LOGGER.warning(
                "descriptor limit %d (hard %d) is too low for %d city connections: the city "
                "API accepts at most %d at once",
                self.soft_limit,
                self.hard_limit,
                wanted,
                cap,
            )
        return cap


class SpareDescriptors:
    """A few descriptors held open so that `accept()` can still succeed at EMFILE."""

    def __init__(self, count: int = SPARE_DESCRIPTORS) -> None:
        self._count = count
        self._held: list[int] = []
        self.replenish()

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def short(self) -> bool:
        return len(self._held) < self._count

    def replenish(self) -> None:
        """Reopen spares up to `count`; quietly keeps fewer while descriptors are short."""
        while len(self._held) < self._count:
            try:
                self._held.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return

    def release_one(self) -> bool:
        """Close one spare, so that the next descriptor opened in this process gets it."""
        if not self._held:
            return False
        os.close(self._held.pop())
        return True

    def close(self) -> None:
        while self._held:
            os.close(self._held.pop())
