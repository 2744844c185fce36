"""Run the clip pipeline in a process of its own, off the event loop.

Why a process and not a thread: PyAV releases the GIL inside FFmpeg, but a process also
(1) runs at a lower CPU priority (`nice` 10 and `SCHED_BATCH`), so on a 2-core home server
the live streams and the control API of the add-on's process win every contended time slice;
(2) is cancelled at once and completely (SIGKILL), wherever FFmpeg is; (3) keeps a decoder
crash on a broken recording from taking the add-on down: it is just a `failed` clip.

The worker is `python -m rtcc_hub.clipmaker.worker` (the same interpreter): the job is one
JSON document on its stdin, its answers are JSON lines on stdout (`progress`, then one of
`done`, `no_footage`, `failed`). It writes `<output>.part`; only the parent renames it to
`output`, after the worker reported success and the file's size matches. A killed worker, a
cancelled job or a timeout leave nothing behind (`remove_partials` cleans up after a crash of
the add-on itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
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
_MAX_LINE: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """Time a clip may take: `base_s` plus `per_footage_s` per second of footage in the file."""

    base_s: float = 120.0
    per_footage_s: float = 2.0
    nice: int = 10

    def deadline(self, footage_seconds: float) -> float:
        return self.base_s + self.per_footage_s * max(0.0, footage_seconds)


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


# --------------------------------------------------------------------------------------------
# The job on the wire (parent -> worker)


def encode_job(  # noqa: PLR0917 - the whole job, once
    source: Path,
    timeline: Timeline,
    spec: ClipSpec,
    output: Path,
    settings: EncoderSettings,
    limits: RenderLimits,
    nice: int,
) -> bytes:
    return json.dumps(
        {
            "source": str(source),
            "timeline": asdict(timeline),
            "spec": asdict(spec),
            "output": str(output),
            "settings": asdict(settings),
            "limits": asdict(limits),
            "nice": nice,
        }
    ).encode()


def _decode_job(raw: bytes) -> dict[str, Any]:
    job: dict[str, Any] = json.loads(raw)
    tl = job["timeline"]
    job["timeline"] = Timeline(
        tuple((float(a), float(b), float(c)) for a, b, c in tl["spans"]),
        float(tl["expected_media_s"]),
        float(tl["tolerance_s"]),
    )
    spec = job["spec"]
    spec["masks"] = tuple(tuple(tuple(point) for point in polygon) for polygon in spec["masks"])
    job["spec"] = ClipSpec(**spec)
    job["settings"] = EncoderSettings(**job["settings"])
    job["limits"] = RenderLimits(**job["limits"])
    return job


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main() -> int:
    """`python -m rtcc_hub.clipmaker.worker`: one clip, then exit."""
    try:
        job = _decode_job(sys.stdin.buffer.read())
    except (ValueError, KeyError, TypeError) as err:
        _say({"kind": "failed", "reason": f"clip worker: bad job ({type(err).__name__})"})
        return 2
    with contextlib.suppress(OSError):
        os.nice(int(job["nice"]))
    with contextlib.suppress(OSError, AttributeError):
        # Linux: a batch job (and every thread it starts: FFmpeg's, x264's) gives way to the
        # add-on's live streams on wake-up, on top of the lower priority.
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    output = Path(job["output"])
    try:
        stats = render_clip(
            Path(job["source"]),
            job["timeline"],
            job["spec"],
            output,
            settings=job["settings"],
            limits=job["limits"],
            progress=lambda value: _say({"kind": "progress", "value": value}),
        )
        size = output.stat().st_size
        _say({"kind": "done", "stats": asdict(stats), "sha256": file_sha256(output), "bytes": size})
    except NoFramesInWindow as err:
        _say({"kind": "no_footage", "reason": str(err)})
    except ClipFailed as err:
        _say({"kind": "failed", "reason": err.reason})
    except Exception as err:  # anything odd is a failed clip
        output.unlink(missing_ok=True)
        _say({"kind": "failed", "reason": f"clip worker: {type(err).__name__}"})
    return 0


# --------------------------------------------------------------------------------------------
# The parent side


class ClipProcessRunner:
    """Starts one worker process per clip (any number may run; the caller bounds them)."""

    def __init__(
        self,
        *,
        settings: EncoderSettings = DEFAULT_ENCODER,
        render_limits: RenderLimits | None = None,
        limits: WorkerLimits | None = None,
        python: str = sys.executable,
    ) -> None:
        self._settings = settings
        self._render_limits = render_limits or RenderLimits()
        self._limits = limits or WorkerLimits()
        self._python = python

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
        job = encode_job(
            source, timeline, spec, partial, self._settings, self._render_limits, self._limits.nice
        )
        process: asyncio.subprocess.Process | None = None
        committed = False
        try:
            async with asyncio.timeout(self._limits.deadline(timeline.expected_media_s)):
                process = await asyncio.create_subprocess_exec(
                    self._python,
                    "-m",
                    "rtcc_hub.clipmaker.worker",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                    limit=_MAX_LINE,
                )
                assert process.stdin is not None
                assert process.stdout is not None
                process.stdin.write(job)
                await process.stdin.drain()
                process.stdin.close()
                message = await _final_message(process.stdout, progress)
                await process.wait()
            result = _commit(message, partial, output)
            committed = True
        except TimeoutError as err:
            raise ClipFailed("clip took too long") from err
        except (OSError, ValueError) as err:
            raise ClipFailed(f"clip worker: {type(err).__name__}") from err
        finally:
            if process is not None and process.returncode is None:
                # Cancelled, timed out or stuck: SIGKILL. The child watcher reaps it.
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            if not committed:
                partial.unlink(missing_ok=True)
        return result


async def _final_message(
    stdout: asyncio.StreamReader, progress: Callable[[float], None] | None
) -> dict[str, Any]:
    """Forward progress until the worker's last word (EOF without one: it died)."""
    while True:
        line = await stdout.readline()
        if not line:
            raise ClipFailed("clip worker died")
        try:
            message = json.loads(line)
        except ValueError as err:
            raise ClipFailed("clip worker said something unreadable") from err
        if not isinstance(message, dict):
            raise ClipFailed("clip worker said something unreadable")
        if message.get("kind") == "progress":
            if progress is not None:
                progress(float(message["value"]))
            continue
        return message


def _commit(message: dict[str, Any], partial: Path, output: Path) -> Rendered:
    kind = message.get("kind")
    if kind == "no_footage":
        raise NoFramesInWindow(str(message.get("reason", "")))
    if kind != "done":
        raise ClipFailed(str(message.get("reason", "clip worker failed")))
    stats, digest, size = message["stats"], str(message["sha256"]), int(message["bytes"])
    try:
        on_disk = partial.stat().st_size
    except FileNotFoundError as err:
        raise ClipFailed("clip file vanished") from err
    if on_disk != size or size == 0:
        raise ClipFailed("clip file does not match what the worker wrote")
    partial.replace(output)
    return Rendered(
        output,
        digest,
        size,
        int(stats["frames"]),
        int(stats["width"]),
        int(stats["height"]),
        float(stats["start"]),
        float(stats["end"]),
    )


if __name__ == "__main__":
    sys.exit(worker_main())
