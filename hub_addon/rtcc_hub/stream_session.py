"""One city viewer of one camera: access re-checked before every frame, pacing, counters.

A session is the `carriage.FrameStream` both transports carry: HTTP writes each frame as a part
of a multipart/x-mixed-replace response, a relay publishes it as a message. The frame loop is
here, once: frames leave only after pacing (sliced, re-checking access) and only when they were
made with the camera's current masks and width; when no frame could be sent for the stall limit
(the camera fails or hangs) the stream ends with `camera_unavailable` instead of staying open
with nothing to send.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from .carriage import SendFrame, SinkGone, SinkSlow, StreamEnd
from .imaging import OutputSpec
from .streaming import (
    FIRST_FRAME_TIMEOUT_S,
    RECHECK_INTERVAL_S,
    WRITE_TIMEOUT_S,
    Frame,
    Unavailable,
    Viewer,
    next_frame,
)
from .unlock import UnlockCamera

CLOSE_AUDIT_WAIT_S = 0.75


class StreamGate(Protocol):
    """What a session asks of the city access service."""

    def stream_end(self, unlock_id: str, camera_id: str) -> StreamEnd | None:
        """Why this stream must end now, or None while it may go on."""
        ...

    def spec(self, entity_id: str) -> OutputSpec: ...

    def fps(self, entity_id: str) -> float: ...

    def frame_sent(self, unlock_id: str, size: int) -> None: ...

    def stream_closed(self, session: StreamSession, reason: StreamEnd) -> asyncio.Task[None]:
        """The stream has ended: free its place now and audit its close in a task (a busy
        database must not keep the response from ending)."""
        ...


class StreamSession:
    content_type = "image/jpeg"

    def __init__(
        self,
        gate: StreamGate,
        unlock_id: str,
        hub: str,
        camera: UnlockCamera,
        viewer: Viewer,
        *,
        stall_s: float,
    ) -> None:
        self._gate = gate
        self.unlock_id = unlock_id
        self.hub = hub
        self.camera = camera
        self.viewer = viewer
        self.frames = 0
        self.bytes = 0
        self._stall_s = stall_s
        self._reason: StreamEnd | None = None
        self._first: Frame | None = None
        self._last_sent: float | None = None
        self._opened = asyncio.get_running_loop().time()
        self._closed = False
        # (frames, bytes, dropped) as last written to the open_streams row.
        self.checkpointed: tuple[int, int, int] = (0, 0, 0)

    @property
    def progress(self) -> tuple[int, int, int]:
        return (self.frames, self.bytes, self.viewer.dropped)

    @property
    def end_reason(self) -> StreamEnd | None:
        return self._reason

    def stop(self, reason: StreamEnd) -> None:
        if self._reason is None:
            self._reason = reason
        self.viewer.closed.set()

    def _allowed(self) -> bool:
        if self._reason is not None:
            return False
        if self.viewer.closed.is_set():
            self._reason = StreamEnd.SHUTDOWN
            return False
        end = self._gate.stream_end(self.unlock_id, self.camera.id)
        if end is not None:
            self._reason = end
            return False
        return True

    def _current(self, frame: Frame) -> bool:
        """True when `frame` was made with the camera's current masks and width; an outdated
        frame is dropped (and counted), the next one is made with the new spec."""
        if frame.spec == self._gate.spec(self.camera.entity_id):
            return True
        self.viewer.dropped += 1
        return False

    def _stalled(self) -> bool:
        """No frame sent for the stall limit, or two frame intervals for slower cameras."""
        since = self._last_sent if self._last_sent is not None else self._opened
        limit = max(self._stall_s, 2.0 / self._gate.fps(self.camera.entity_id))
        return asyncio.get_running_loop().time() - since >= limit

    async def first_frame(self) -> StreamEnd | None:
        """Wait for the first frame; None when it is there, else why the stream cannot start
        (the session is then closed and audited)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FIRST_FRAME_TIMEOUT_S
        while loop.time() < deadline and self._allowed():
            item = await next_frame(self.viewer, RECHECK_INTERVAL_S)
            if isinstance(item, Unavailable):
                break
            if item is not None and self._current(item):
                self._first = item
                return None
        if self._reason is None:
            self._reason = StreamEnd.CAMERA_UNAVAILABLE
        self._close()
        return self._reason

    async def run(self, send: SendFrame) -> StreamEnd:
        """Send frames until access ends, the transport stops the stream or the camera stalls."""
        try:
            await self._pump(send)
        finally:
            recorded = self._close()
        if recorded is not None:
            # Usually a few milliseconds: the close is in the owner's log before the city sees
            # the end. Bounded, so a locked database cannot break the 2 s rule.
            await asyncio.wait({recorded}, timeout=CLOSE_AUDIT_WAIT_S)
        return self._reason or StreamEnd.CLIENT_GONE

    async def _pump(self, send: SendFrame) -> None:
        frame, self._first = self._first, None
        while True:
            if frame is not None:
                if not await self._pace():
                    return
                if self._current(frame):
                    self._last_sent = asyncio.get_running_loop().time()
                    try:
                        async with asyncio.timeout(WRITE_TIMEOUT_S):
                            await send(frame.data)
                    except (TimeoutError, SinkSlow):
                        # A client that does not read loses its own stream, so that revocation
                        # is never held up behind a full socket buffer.
                        self.stop(StreamEnd.SLOW_CLIENT)
                        return
                    except SinkGone:
                        self.stop(StreamEnd.CLIENT_GONE)
                        return
                    self.frames += 1
                    self.bytes += len(frame.data)
                    self._gate.frame_sent(self.unlock_id, len(frame.data))
            if not self._allowed():
                return
            if self._stalled():
                self.stop(StreamEnd.CAMERA_UNAVAILABLE)
                return
            item = await next_frame(self.viewer, RECHECK_INTERVAL_S)
            frame = item if isinstance(item, Frame) else None

    async def _pace(self) -> bool:
        """Wait until the camera's current max_fps allows the next frame.

        Sleeps in slices of at most RECHECK_INTERVAL_S, re-reading max_fps and re-checking
        access each time, so that a revoke, pause, unshare or expiry ends the stream within
        the protocol's 2 s at any frame rate. False when access ended meanwhile.
        """
        loop = asyncio.get_running_loop()
        while self._allowed():
            if self._last_sent is None:
                return True
            wait = self._last_sent + 1.0 / self._gate.fps(self.camera.entity_id) - loop.time()
            if wait <= 0:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.viewer.closed.wait(), min(wait, RECHECK_INTERVAL_S))
        return False

    def _close(self) -> asyncio.Task[None] | None:
        if self._closed:
            return None
        self._closed = True
        return self._gate.stream_closed(self, self._reason or StreamEnd.CLIENT_GONE)
