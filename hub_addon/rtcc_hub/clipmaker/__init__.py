"""Masked clips of recorded footage (PROTOCOL section 7), made at home with PyAV.

The interface for the clip job (`prepare_clip` does it all)::

    maker = ClipMaker()                                  # one per add-on
    outcome = await prepare_clip(
        recorders, maker,
        recorder=camera.recorder, entity_id=camera.entity_id,
        spec=ClipSpec(start, end, masks=camera.masks, max_width=camera.max_width),
        workdir=data_dir / "clips", output=data_dir / "clips" / f"{clip_id}.mp4",
        progress=lambda fraction: ...,                   # 0..1, on the event loop
    )
    # outcome.status: ClipStatus.READY (outcome.result: ClipResult) | NO_FOOTAGE | FAILED
    # outcome.reason: for the owner's log only (never for the city)

Cancelling the awaiting task stops the job at once (the worker process is killed) and leaves
no file behind. At start-up, `remove_partials(workdir)` removes what a crash left half-made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..policy import Recorder
from ..recorders import Footage, FootageWindow, RecorderError, Recorders
from ..recorders import remove_partials as _remove_partial_downloads
from .render import (
    DEFAULT_ENCODER,
    ClipFailed,
    ClipSpec,
    EncoderSettings,
    NoFramesInWindow,
    RenderLimits,
    Timeline,
)
from .worker import PARTIAL_SUFFIX, ClipProcessRunner, WorkerLimits

__all__ = [
    "DEFAULT_ENCODER",
    "ClipFailed",
    "ClipMaker",
    "ClipOutcome",
    "ClipResult",
    "ClipSpec",
    "ClipStatus",
    "EncoderSettings",
    "NoFramesInWindow",
    "RenderLimits",
    "WorkerLimits",
    "prepare_clip",
    "remove_partials",
]

_LOGGER = logging.getLogger(__name__)


class ClipStatus(StrEnum):
    """A finished clip job's status (the section-7 statuses after `preparing`)."""

    READY = "ready"
    NO_FOOTAGE = "no_footage"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ClipResult:
    """A made clip: what the audit entry "prepared" and the receipt record."""

    path: Path
    sha256: str  # of the output file
    bytes: int
    frames: int
    width: int
    height: int
    start: float  # wall time covered, Unix seconds (first frame .. end of the last)
    end: float
    source_sha256: str  # of the recorder's download it was made from


@dataclass(frozen=True, slots=True)
class ClipOutcome:
    status: ClipStatus
    result: ClipResult | None = None
    reason: str = ""


def timeline_of(footage: Footage) -> Timeline:
    return Timeline(
        tuple((s.media_start, s.media_end, s.wall_start) for s in footage.spans),
        footage.expected_media_s,
        footage.tolerance_s,
    )


class ClipMaker:
    """Makes a clip from downloaded footage in a worker process (see `worker`)."""

    def __init__(
        self,
        *,
        settings: EncoderSettings = DEFAULT_ENCODER,
        render_limits: RenderLimits | None = None,
        limits: WorkerLimits | None = None,
    ) -> None:
        self._runner = ClipProcessRunner(
            settings=settings, render_limits=render_limits, limits=limits
        )

    async def make(
        self,
        footage: Footage,
        spec: ClipSpec,
        output: Path,
        progress: Callable[[float], None] | None = None,
    ) -> ClipResult:
        """Raises ClipFailed or NoFramesInWindow; cancellation kills the worker."""
        rendered = await self._runner.run(
            footage.path, timeline_of(footage), spec, output, progress
        )
        return ClipResult(
            path=rendered.path,
            sha256=rendered.sha256,
            bytes=rendered.bytes,
            frames=rendered.frames,
            width=rendered.width,
            height=rendered.height,
            start=rendered.start,
            end=rendered.end,
            source_sha256=footage.sha256,
        )


# Share of the progress bar for the download; the rest is the clip maker's.
_DOWNLOAD_SHARE = 0.2


async def prepare_clip(
    recorders: Recorders,
    maker: ClipMaker,
    *,
    recorder: Recorder,
    entity_id: str,
    spec: ClipSpec,
    workdir: Path,
    output: Path,
    progress: Callable[[float], None] | None = None,
) -> ClipOutcome:
    """Download the window's footage, make the masked clip, delete the download.

    Never raises for the recorder or the footage (those are outcomes); cancellation
    propagates after everything it started is stopped and removed.
    """
    report = progress or (lambda _fraction: None)
    report(0.0)
    window = FootageWindow(spec.start, spec.end)
    footage: Footage | None = None
    try:
        footage = await recorders.fetch(recorder, entity_id, window, workdir)
        report(_DOWNLOAD_SHARE)
        result = await maker.make(
            footage,
            spec,
            output,
            lambda fraction: report(_DOWNLOAD_SHARE + (1 - _DOWNLOAD_SHARE) * fraction),
        )
    except RecorderError as err:
        _LOGGER.info("clip of %s: %s (%s)", entity_id, err.outcome, err.reason)
        return ClipOutcome(ClipStatus(err.outcome.value), reason=err.reason)
    except NoFramesInWindow as err:
        return ClipOutcome(ClipStatus.NO_FOOTAGE, reason=str(err))
    except ClipFailed as err:
        _LOGGER.warning("clip of %s failed: %s", entity_id, err.reason)
        return ClipOutcome(ClipStatus.FAILED, reason=err.reason)
    finally:
        if footage is not None:
            # The download holds sound and footage outside the window: it never stays.
            footage.remove()  # one unlink: done even while a cancellation unwinds
    return ClipOutcome(ClipStatus.READY, result=result)


def remove_partials(workdir: Path) -> int:
    """Remove half-made downloads and clips a crash left in `workdir` (call at start-up)."""
    removed = _remove_partial_downloads(workdir)
    if workdir.is_dir():
        for path in workdir.glob(f"*{PARTIAL_SUFFIX}"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
