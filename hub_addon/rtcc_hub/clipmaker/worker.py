"""Run the clip pipeline in a process of its own, off the event loop.

Why a process and not a thread: PyAV releases the GIL inside FFmpeg, but a process also
(1) runs at a lower CPU priority (`nice`), so on a 2-core home server the live streams and the
control API of the add-on's process win every contended time slice; (2) is cancelled at once
and completely (SIGKILL), wherever FFmpeg is; (3) keeps a decoder crash on a broken recording
from taking the add-on down: it is just a `failed` clip.

The child writes `<output>.part`; only the parent renames it to `output`, after the child has
reported success and the file's size matches. A killed child, a cancelled job or a timeout
leave nothing behind (and `remove_partials` cleans up after a crash of the add-on itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .render import (
    DEFAULT_ENCODER,
    ClipFailed,
    ClipSpec,
    EncoderSettings,
    NoFramesInWindow,
    RenderLimits,
    Timeline,
    render_clip,
)

PARTIAL_SUFFIX: Final = ".part"
_HASH_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """Time a clip may take: `base_s` plus `per_footage_s` per second of footage in the file."""

    base_s: float = 120.0
    per_footage_s: float = 2.0
    nice: int = 10

    def deadline(self, footage_seconds: float) -> float:
        return self.base_s + self.per_footage_s * max(0.0, footage_seconds)


@dataclass(frozen=True, slots=True)
class _Job:
    source: str
    timeline: Timeline
    spec: ClipSpec
    output: str
    settings: EncoderSettings
    limits: RenderLimits
    nice: int


@dataclass(frozen=True, slots=True)
class Rendered:
    path: Path
    sha256: str
    bytes: int
    frames: int
    width: int
    height: int
    start: float
    end: float


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _child(conn: multiprocessing.connection.Connection, job: _Job) -> None:
    """Entry point of the worker process: one clip, then exit."""
    with contextlib.suppress(OSError):
        os.nice(job.nice)
    output = Path(job.output)
    try:
        stats = render_clip(
            Path(job.source),
            job.timeline,
            job.spec,
            output,
            settings=job.settings,
            limits=job.limits,
            progress=lambda value: conn.send(("progress", value)),
        )
        conn.send(("done", stats, file_sha256(output), output.stat().st_size))
    except NoFramesInWindow as err:
        conn.send(("no_footage", str(err)))
    except ClipFailed as err:
        conn.send(("failed", err.reason))
    except BaseException as err:  # anything odd is a failed clip
        output.unlink(missing_ok=True)
        conn.send(("failed", f"clip worker: {type(err).__name__}"))
    finally:
        conn.close()


class ClipProcessRunner:
    """Starts one worker process per clip (any number may run; the caller bounds them)."""

    def __init__(
        self,
        *,
        settings: EncoderSettings = DEFAULT_ENCODER,
        render_limits: RenderLimits | None = None,
        limits: WorkerLimits | None = None,
        start_method: str = "spawn",
    ) -> None:
        self._settings = settings
        self._render_limits = render_limits or RenderLimits()
        self._limits = limits or WorkerLimits()
        self._context = multiprocessing.get_context(start_method)

    async def run(
        self,
        source: Path,
        timeline: Timeline,
        spec: ClipSpec,
        output: Path,
        progress: Callable[[float], None] | None = None,
    ) -> Rendered:
        """Render into `output`; raises ClipFailed, NoFramesInWindow or CancelledError."""
        partial = output.with_name(output.name + PARTIAL_SUFFIX)
        partial.unlink(missing_ok=True)
        job = _Job(
            str(source),
            timeline,
            spec,
            str(partial),
            self._settings,
            self._render_limits,
            self._limits.nice,
        )
        receiver, sender = self._context.Pipe(duplex=False)
        process: Any = self._context.Process(  # type: ignore[attr-defined]
            target=_child, args=(sender, job), name="rtcc-clip", daemon=True
        )
        committed = False
        try:
            await asyncio.to_thread(process.start)
            sender.close()
            async with asyncio.timeout(self._limits.deadline(timeline.expected_media_s)):
                message = await _final_message(receiver, progress)
                # The child exits right after its last word; reap it off the loop.
                await asyncio.to_thread(process.join, 10)
            result = _commit(message, partial, output)
            committed = True
        except TimeoutError as err:
            raise ClipFailed("clip took too long") from err
        else:
            return result
        finally:
            receiver.close()
            if process.pid is not None and process.exitcode is None:
                process.kill()  # cancelled, timed out or stuck: SIGKILL, then reap (instant)
                process.join(5)
            if not committed:
                partial.unlink(missing_ok=True)


async def _final_message(
    receiver: multiprocessing.connection.Connection, progress: Callable[[float], None] | None
) -> tuple[Any, ...]:
    """Forward progress until the child's last word (EOF without one: it died)."""
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            while receiver.poll():
                messages.put_nowait(receiver.recv())
        except (EOFError, OSError):
            loop.remove_reader(receiver.fileno())
            messages.put_nowait(None)

    loop.add_reader(receiver.fileno(), readable)
    try:
        while True:
            message = await messages.get()
            if message is None:
                raise ClipFailed("clip worker died")
            if message[0] == "progress":
                if progress is not None:
                    progress(float(message[1]))
                continue
            return message
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(receiver.fileno())


def _commit(message: tuple[Any, ...], partial: Path, output: Path) -> Rendered:
    kind = message[0]
    if kind == "no_footage":
        raise NoFramesInWindow(str(message[1]))
    if kind != "done":
        raise ClipFailed(str(message[1]))
    stats, digest, size = message[1], str(message[2]), int(message[3])
    try:
        on_disk = partial.stat().st_size
    except FileNotFoundError as err:
        raise ClipFailed("clip file vanished") from err
    if on_disk != size or size == 0:
        raise ClipFailed("clip file does not match what the worker wrote")
    partial.replace(output)
    return Rendered(
        output, digest, size, stats.frames, stats.width, stats.height, stats.start, stats.end
    )
