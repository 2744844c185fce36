"""The recorder interface: recorded footage of a window, downloaded to a file.

A recorder source (Frigate, UniFi Protect through Home Assistant, ...) is one class with an
async `fetch`. Every failure is one of two outcomes, never a hang or a crash:

- `NoFootage`: the recorder says nothing is recorded in the window (PROTOCOL section 7
  `no_footage`);
- `RecorderFailed`: the recorder could not be read (errors, timeouts, garbage, too large;
  `failed`).

Footage is what the recorder sent, byte for byte (its SHA-256 is the receipt's
`source_sha256`), plus a timeline: which part of the file's media time shows which wall-clock
time. The clip maker keeps only frames whose wall-clock time is inside the asked window, so the
timeline is the security-relevant part of a recorder: media time it cannot place is dropped.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Final, Protocol

from ..policy import Recorder, RecorderSource

# Span boundaries are sums of durations in microseconds while frame times are in the stream's
# time base: a segment's first frame can land a few microseconds before its span begins. It
# belongs to the span it is within this much of (far below any frame interval).
SPAN_SLACK_S: Final = 0.001


class FootageOutcome(StrEnum):
    """Why no footage came back (the clip statuses of PROTOCOL section 7)."""

    NO_FOOTAGE = "no_footage"
    FAILED = "failed"


class RecorderError(Exception):
    """Base: the recorder gave no usable footage. `reason` is for the owner's log only."""

    outcome: ClassVar[FootageOutcome]

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoFootage(RecorderError):
    outcome = FootageOutcome.NO_FOOTAGE


class RecorderFailed(RecorderError):
    outcome = FootageOutcome.FAILED


@dataclass(frozen=True, slots=True)
class FootageWindow:
    """Wall-clock window, Unix seconds, half-open [start, end)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError("footage window must be finite")
        if not self.end > self.start:
            raise ValueError("footage window must end after it starts")

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class MediaSpan:
    """Media time [media_start, media_end) of the file shows wall time from `wall_start` on."""

    media_start: float
    media_end: float
    wall_start: float

    def wall_time(self, media_time: float) -> float:
        return self.wall_start + (media_time - self.media_start)


@dataclass(frozen=True, slots=True)
class Footage:
    """A recorder's download: the file, its digest and where its media time lies in wall time.

    `expected_media_s` is how long the recorder said the file is; the clip maker fails a file
    whose frames run past it by more than `tolerance_s` (its timeline cannot be trusted then).
    The file belongs to the caller, who removes it (`remove`) once the clip is made: it holds
    sound and footage outside the window, and never leaves the home.
    """

    path: Path
    sha256: str
    bytes: int
    source: RecorderSource
    spans: tuple[MediaSpan, ...]
    expected_media_s: float
    tolerance_s: float

    def wall_time(self, media_time: float) -> float | None:
        """Wall time of a media time, or None where the timeline does not place it."""
        for span in self.spans:
            if span.media_start - SPAN_SLACK_S <= media_time < span.media_end - SPAN_SLACK_S:
                return span.wall_time(media_time)
        return None

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class RecorderClient(Protocol):
    """One recorder source. Implementations live in a module of their own."""

    source: ClassVar[RecorderSource]

    async def fetch(
        self, recorder: Recorder, entity_id: str, window: FootageWindow, directory: Path
    ) -> Footage:
        """Download the footage of `window` into a new file in `directory`.

        Raises `NoFootage` or `RecorderFailed`; never leaves a partial file behind.
        """
        ...
