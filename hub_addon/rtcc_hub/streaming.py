"""MJPEG streams built from stills: one poller per camera, bounded per-viewer queues.

One `CameraPoller` per entity id fetches stills at the camera's `max_fps`, however many unlocks
and viewers watch it; it starts with the first viewer and stops after the last. Each still is
processed once per distinct OutputSpec among the current viewers. Every viewer has a small
queue: when a client reads slowly its oldest frame is dropped (and counted) instead of holding
up the poller or any other viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .ha_client import CameraUnavailable
from .imaging import ImageError, OutputSpec

_LOGGER = logging.getLogger(__name__)

VIEWER_QUEUE_FRAMES = 2
# How long a viewer waits for a frame before re-checking its access: with the write timeout
# this bounds how late a stream can end after expiry, revoke or pause (PROTOCOL.md: 2 s).
RECHECK_INTERVAL_S = 0.25
WRITE_TIMEOUT_S = 1.25
FIRST_FRAME_TIMEOUT_S = 9.0
# A stream that could send no frame for this long (the camera stopped giving images, or hangs)
# ends with `camera_unavailable`; cameras slower than one frame in half of it get two frame
# intervals instead, so a healthy slow camera is never cut off.
STALL_TIMEOUT_S = 15.0
ERROR_BACKOFF_S = 1.0
# A viewer joining a camera polled less often than this gets its own poll rather than waiting
# up to 1/max_fps (10 s at 0.1 fps) for its first frame.
NEW_VIEWER_POLL_S = 1.0

type Fetch = Callable[[str], Awaitable[bytes]]
type Process = Callable[[bytes, OutputSpec], Awaitable[bytes]]


class Unavailable(Exception):
    """No frame could be produced (upstream or imaging failure)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A processed frame and the OutputSpec it was made with.

    The spec travels with the frame so that the sender can drop a frame whose masks or width
    are no longer the camera's current ones (the policy changed while it was queued).
    """

    spec: OutputSpec
    data: bytes


type QueueItem = Frame | Unavailable


@dataclass(eq=False, slots=True)
class Viewer:
    entity_id: str
    spec: Callable[[], OutputSpec]
    id: str = field(default_factory=lambda: "v_" + secrets.token_urlsafe(8))
    queue: asyncio.Queue[QueueItem] = field(
        default_factory=lambda: asyncio.Queue(VIEWER_QUEUE_FRAMES)
    )
    dropped: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, item: QueueItem) -> None:
        """Queue without ever blocking: a full queue loses its oldest frame."""
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.dropped += 1
        self.queue.put_nowait(item)


class CameraPoller:
    def __init__(
        self, entity_id: str, fetch: Fetch, process: Process, fps: Callable[[], float]
    ) -> None:
        self.entity_id = entity_id
        self.viewers: set[Viewer] = set()
        self._fetch = fetch
        self._process = process
        self._fps = fps
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"rtcc poll {self.entity_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.viewers:
            started = loop.time()
            self.polls += 1
            try:
                raw = await self._fetch(self.entity_id)
            except CameraUnavailable as err:
                _LOGGER.debug("still unavailable: %s", err)
                self._broadcast_error()
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            made: dict[OutputSpec, QueueItem] = {}
            served: dict[Viewer, OutputSpec] = {}
            await self._deliver(raw, made, served, newcomers=True)
            # Wait for the next poll in slices, so that a higher max_fps takes effect at once,
            # and a viewer whose masks or width changed gets the still we already have made
            # with its new spec (no extra upstream poll). A viewer that joined meanwhile gets a
            # fresh still: at once when the last poll is NEW_VIEWER_POLL_S old (slow cameras),
            # else with the next regular poll.
            while self.viewers:
                now = loop.time()
                remaining = started + 1.0 / max(self._fps(), 0.01) - now
                if remaining <= 0:
                    break
                if now - started >= NEW_VIEWER_POLL_S and any(
                    viewer not in served for viewer in self.viewers
                ):
                    break
                await asyncio.sleep(min(remaining, RECHECK_INTERVAL_S))
                await self._deliver(raw, made, served, newcomers=False)

    async def _deliver(
        self,
        raw: bytes,
        made: dict[OutputSpec, QueueItem],
        served: dict[Viewer, OutputSpec],
        *,
        newcomers: bool,
    ) -> None:
        """Queue `raw`, processed once per spec, to every viewer not yet served its spec
        (viewers not served this still at all only when `newcomers`)."""
        for viewer in list(self.viewers):
            spec = viewer.spec()
            previous = served.get(viewer)
            if previous == spec or (previous is None and not newcomers):
                continue
            item = made.get(spec)
            if item is None:
                try:
                    item = Frame(spec, await self._process(raw, spec))
                except ImageError as err:
                    _LOGGER.warning("camera image rejected: %s", err)
                    item = Unavailable("image rejected")
                made[spec] = item
            if viewer in self.viewers:
                served[viewer] = spec
                viewer.offer(item)

    def _broadcast_error(self) -> None:
        for viewer in list(self.viewers):
            viewer.offer(Unavailable("camera unavailable"))


class StreamHub:
    """The pollers of all cameras and their viewers."""

    def __init__(self, fetch: Fetch, process: Process, fps: Callable[[str], float]) -> None:
        self._fetch = fetch
        self._process = process
        self._fps = fps
        self.pollers: dict[str, CameraPoller] = {}

    @property
    def open_viewers(self) -> int:
        return sum(len(poller.viewers) for poller in self.pollers.values())

    def open(self, entity_id: str, spec: Callable[[], OutputSpec]) -> Viewer:
        viewer = Viewer(entity_id=entity_id, spec=spec)
        poller = self.pollers.get(entity_id)
        if poller is None:
            poller = CameraPoller(
                entity_id, self._fetch, self._process, lambda: self._fps(entity_id)
            )
            self.pollers[entity_id] = poller
        poller.viewers.add(viewer)
        poller.start()
        return viewer

    def _detach(self, viewer: Viewer) -> CameraPoller | None:
        """Take a viewer off its camera; the camera's poller when that left it unwatched."""
        viewer.closed.set()
        poller = self.pollers.get(viewer.entity_id)
        if poller is None:
            return None
        poller.viewers.discard(viewer)
        if poller.viewers:
            return None
        del self.pollers[viewer.entity_id]
        return poller

    async def close(self, viewer: Viewer) -> None:
        if (poller := self._detach(viewer)) is not None:
            await poller.stop()

    def discard(self, viewer: Viewer) -> None:
        """`close` for a viewer that never got going (its stream could not be opened): the
        poller ends by itself once it has no viewers left."""
        self._detach(viewer)

    def close_all(self) -> None:
        """Ask every viewer to finish (shutdown); their handlers close them."""
        for poller in self.pollers.values():
            for viewer in poller.viewers:
                viewer.closed.set()

    async def stop(self) -> None:
        self.close_all()
        for poller in list(self.pollers.values()):
            await poller.stop()
        self.pollers.clear()


async def next_frame(viewer: Viewer, wait_s: float) -> QueueItem | None:
    """The next queued item, or None after `wait_s` seconds or when the viewer is closed."""
    if viewer.closed.is_set():
        return None
    getter = asyncio.ensure_future(viewer.queue.get())
    closer = asyncio.ensure_future(viewer.closed.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, closer}, timeout=wait_s, return_when="FIRST_COMPLETED"
        )
    finally:
        closer.cancel()
        if not getter.done():
            getter.cancel()
    del done
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None
