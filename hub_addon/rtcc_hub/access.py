"""City access with an unlock's token (PROTOCOL.md section 3.2): view, close, snapshot, stream.

Every access checks the unlock afresh against the policy and the clock (lifecycle.py) and is
recorded in one change with its audit entry before anything leaves. Streams are counted and
capped here (at most 4 of one camera in one unlock, 32 in all); their frames are sent by
`StreamSession`, which asks this service before each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .carriage import StreamEnd
from .errors import DomainError, ErrorCode
from .ha_client import CameraUnavailable
from .imaging import ImageError, OutputSpec
from .lifecycle import check_access, current_status, due_by_time
from .receipts import REPR_DIGEST, RTCC_RECEIPT, ReceiptKind, ReceiptSigner, repr_digest
from .state import Change, HomeState
from .status import AuditEvent, EndReason, Scope, UnlockStatus
from .stills import StillSource
from .storage import (
    OpenStream,
    add_open_stream,
    checkpoint_open_stream,
    delete_open_stream,
    open_stream_rows,
)
from .stream_session import StreamSession
from .streaming import STALL_TIMEOUT_S, StreamHub
from .transitions import run_due, stage_transition
from .unlock import Unlock, UnlockCamera, city_view

_LOGGER = logging.getLogger(__name__)

MAX_STREAMS_PER_CAMERA = 4  # of one camera in one unlock
MAX_STREAMS = 32
# Covers every pixel: what a camera no longer in the policy would be made with (never served:
# access checks refuse unshared cameras first).
_ALL_BLACK = OutputSpec(masks=(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),))

type Process = Callable[[bytes, OutputSpec], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Served:
    """A body that leaves, with the headers that prove what it is (section 7); a large one
    (a clip) as a file the transport reads as it sends."""

    body: bytes
    content_type: str
    headers: dict[str, str]
    file: Path | None = None
    length: int = 0


class CityAccess:
    def __init__(
        self,
        state: HomeState,
        stills: StillSource,
        process: Process,
        signer: ReceiptSigner,
        receipt_key: str,
        *,
        stall_s: float = STALL_TIMEOUT_S,
    ) -> None:
        self._state = state
        self._signer = signer
        self._receipt_key = receipt_key
        self._stills = stills
        self._process = process
        self.streams = StreamHub(stills.fetch, process, self.fps)
        self.sessions: set[StreamSession] = set()
        self.stall_s = stall_s
        self._unrecorded: list[_ClosedStream] = []
        self._closing: set[asyncio.Task[None]] = set()

    # policy lookups -------------------------------------------------------------------------

    def fps(self, entity_id: str) -> float:
        camera = self._state.policy.camera(entity_id)
        return camera.max_fps if camera is not None else 1.0

    def spec(self, entity_id: str) -> OutputSpec:
        camera = self._state.policy.camera(entity_id)
        if camera is None:
            return _ALL_BLACK
        return OutputSpec(masks=camera.masks, max_width=camera.max_width)

    # the unlock -----------------------------------------------------------------------------

    def authenticate(self, unlock_id: str, token: str | None) -> Unlock:
        unlock = self._state.ledger.authenticate(unlock_id, token)
        if unlock is None:
            raise DomainError(ErrorCode.INVALID_TOKEN)
        return unlock

    def current(self, unlock: Unlock) -> Unlock:
        """The unlock as it stands in memory now (it may have changed since authentication)."""
        return self._state.ledger.get(unlock.unlock_id) or unlock

    async def settle(self) -> None:
        """Write what time has made due (an expiry, an ask timeout, the end of a pause) before
        answering, so that what the city is told is already in the owner's log. Cheap when
        nothing is due; a busy database delays only the entry (answers use `current_status`)."""
        with contextlib.suppress(DomainError):
            await run_due(self._state)

    async def view(self, unlock: Unlock) -> dict[str, Any]:
        await self.settle()
        state = self._state
        unlock = self.current(unlock)
        status, ended_reason = current_status(unlock, state.policy, state.clock())
        return {**city_view(unlock, status, ended_reason), "receipt_key": self._receipt_key}

    async def close(self, unlock: Unlock) -> None:
        """`DELETE`: the unlock ends with `hub_closed` (nothing to do once it has ended)."""
        await self.settle()
        async with self._state.change() as change:
            current = change.unlock(unlock.unlock_id) or unlock
            due = due_by_time(current, change.policy, change.now)
            if due is not None and due.status.terminal:
                stage_transition(change, current, due.status, due.reason)
            elif current.open:
                stage_transition(change, current, UnlockStatus.ENDED, EndReason.HUB_CLOSED)

    def check(self, unlock: Unlock, camera_id: str, capability: Scope) -> UnlockCamera:
        state = self._state
        return check_access(
            self.current(unlock), camera_id, capability, state.policy, state.clock()
        )

    # snapshots ------------------------------------------------------------------------------

    async def image(self, entity_id: str, spec: OutputSpec | None = None) -> bytes:
        """The camera's still through the city's pipeline (snapshots and the owner's preview).

        While a stream polls the camera, its latest still is reused when fresher than one poll
        interval; otherwise the shared upstream request."""
        fresh_s = 1.0 / self.fps(entity_id) if entity_id in self.streams.pollers else 0.0
        try:
            raw = await self._stills.recent(entity_id, fresh_s)
            return await self._process(raw, spec or self.spec(entity_id))
        except (CameraUnavailable, ImageError) as err:
            _LOGGER.warning("image unavailable: %s", err)
            raise DomainError(ErrorCode.CAMERA_UNAVAILABLE) from err

    async def snapshot(self, unlock: Unlock, camera_id: str) -> Served:
        await self.settle()
        camera = self.check(unlock, camera_id, Scope.SNAPSHOT)
        while True:
            spec = self.spec(camera.entity_id)
            image = await self.image(camera.entity_id, spec)
            # The policy or the unlock may have changed during the awaits: check again, and
            # redo the image if the masks or width changed meanwhile.
            camera = self.check(unlock, camera_id, Scope.SNAPSHOT)
            if self.spec(camera.entity_id) == spec:
                break
        size, digest = len(image), hashlib.sha256(image).hexdigest()
        async with self._state.change() as change:
            camera = self.check(unlock, camera_id, Scope.SNAPSHOT)
            now = change.now
            change.traffic(unlock.unlock_id, lambda traffic: traffic.add_snapshot(size))
            change.counters(lambda counters: counters.snapshot_served(size, now))
            entry = change.audit(
                AuditEvent.SNAPSHOT_SERVED,
                {
                    "camera_id": camera.id,
                    "entity_id": camera.entity_id,
                    "bytes": size,
                    "sha256": digest,
                },
                unlock_id=unlock.unlock_id,
                hub=unlock.hub,
            )
        receipt = self._signer.sign(
            hub=unlock.hub,
            now=now,
            unlock_id=unlock.unlock_id,
            incident_id=unlock.incident.id,
            camera_id=camera.id,
            kind=ReceiptKind.SNAPSHOT,
            body_sha256=digest,
            size=size,
            entry=entry,
        )
        headers = {REPR_DIGEST: repr_digest(image), RTCC_RECEIPT: receipt}
        return Served(image, "image/jpeg", headers)

    # streams --------------------------------------------------------------------------------

    async def open_stream(self, unlock: Unlock, camera_id: str) -> StreamSession:
        """A session whose first frame is ready, or DomainError (403/404/410/429/503)."""
        await self.settle()
        camera = self.check(unlock, camera_id, Scope.STREAM)
        same = sum(
            1 for s in self.sessions if s.unlock_id == unlock.unlock_id and s.camera.id == camera_id
        )
        if same >= MAX_STREAMS_PER_CAMERA or len(self.sessions) >= MAX_STREAMS:
            raise DomainError(ErrorCode.BUSY)
        entity_id = camera.entity_id
        viewer = self.streams.open(entity_id, lambda: self.spec(entity_id))
        session = StreamSession(
            self, unlock.unlock_id, unlock.hub, camera, viewer, stall_s=self.stall_s
        )
        try:
            async with self._state.change() as change:
                change.counters(lambda counters: counters.stream_opened())
                change.audit(
                    AuditEvent.STREAM_OPENED,
                    {"camera_id": camera.id, "entity_id": entity_id, "viewer": viewer.id},
                    unlock_id=unlock.unlock_id,
                    hub=unlock.hub,
                )
                # Kept until the stream_closed entry is written: a crash leaves it behind, and
                # the next start closes it in the audit log (close_interrupted).
                change.sql(
                    add_open_stream(
                        OpenStream(
                            viewer=viewer.id,
                            unlock_id=unlock.unlock_id,
                            hub=unlock.hub,
                            camera_id=camera.id,
                            entity_id=entity_id,
                            opened_at=change.now,
                        )
                    )
                )
        except BaseException:
            self.streams.discard(viewer)
            raise
        self.sessions.add(session)
        self._state.schedule_changed()  # its counters are now checkpointed (scheduler)
        end = await session.first_frame()
        if end is not None:
            raise DomainError(_FIRST_FRAME_ERRORS.get(end, ErrorCode.CAMERA_UNAVAILABLE))
        return session

    def stream_end(self, unlock_id: str, camera_id: str) -> StreamEnd | None:
        state = self._state
        unlock = state.ledger.get(unlock_id)
        now = state.clock()
        if unlock is None:
            return StreamEnd.ENDED
        try:
            check_access(unlock, camera_id, Scope.STREAM, state.policy, now)
        except DomainError as err:
            if err.code is ErrorCode.GONE:
                return StreamEnd.EXPIRED if now >= unlock.expires_at else StreamEnd.ENDED
            if err.code is ErrorCode.NOT_ACTIVE:
                return StreamEnd.SUSPENDED
            return StreamEnd.CAMERA_REMOVED
        return None

    def frame_sent(self, unlock_id: str, size: int) -> None:
        # In memory per frame; stored by `checkpoint` every few seconds and when the stream
        # closes (no write per frame).
        state = self._state
        state.ledger.traffic(unlock_id).add_frame(size)
        state.counters.frame_sent(size, state.clock())

    def stream_closed(self, session: StreamSession, reason: StreamEnd) -> asyncio.Task[None]:
        self.sessions.discard(session)
        self.streams.discard(session.viewer)
        closed = _ClosedStream(
            unlock_id=session.unlock_id,
            hub=session.hub,
            viewer=session.viewer.id,
            detail=_stream_closed_detail(
                camera_id=session.camera.id,
                entity_id=session.camera.entity_id,
                viewer=session.viewer.id,
                progress=(session.frames, session.bytes, session.viewer.dropped),
                reason=reason,
            ),
        )
        self._unrecorded.append(closed)
        task = asyncio.create_task(self.record_closes(), name="rtcc stream close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    async def record_closes(self) -> None:
        """Audit the closes not yet recorded, in one change. When the database cannot take it
        now they wait for the next try (every checkpoint); their open_streams rows stay until
        then, so even a crash meanwhile loses nothing (closed as interrupted at next start)."""
        pending, self._unrecorded = self._unrecorded, []
        if not pending:
            return
        try:
            async with self._state.change() as change:
                for closed in pending:
                    self._stage_traffic(change, closed.unlock_id)
                    change.audit(
                        AuditEvent.STREAM_CLOSED,
                        closed.detail,
                        unlock_id=closed.unlock_id,
                        hub=closed.hub,
                    )
                    change.sql(delete_open_stream(closed.viewer))
        except DomainError:
            self._unrecorded = pending + self._unrecorded
            _LOGGER.debug("stream closes wait for the database")

    @staticmethod
    def _stage_traffic(change: Change, unlock_id: str) -> None:
        # Writes the unlock's row (with its in-memory traffic) and the totals, unchanged.
        change.traffic(unlock_id, lambda traffic: None)
        change.counters(lambda counters: None)

    async def checkpoint(self) -> None:
        """Store the counters of every open stream that sent or dropped something since its
        last checkpoint, with its unlock's traffic and the totals: one transaction."""
        await self.record_closes()
        marks = [(s, s.progress) for s in self.sessions if s.progress != s.checkpointed]
        if not marks:
            return
        async with self._state.change() as change:
            for session, (frames, size, dropped) in marks:
                change.sql(checkpoint_open_stream(session.viewer.id, frames, size, dropped))
                self._stage_traffic(change, session.unlock_id)
        for session, progress in marks:
            session.checkpointed = progress

    async def close_interrupted(self) -> None:
        """At start-up: audit the close of every stream the last run left open (killed, power
        lost) with the counters of its last checkpoint, and forget it, in one transaction."""
        leftovers = await self._state.store.read(open_stream_rows)
        if not leftovers:
            return
        async with self._state.change() as change:
            for row in leftovers:
                change.audit(
                    AuditEvent.STREAM_CLOSED,
                    _stream_closed_detail(
                        camera_id=row.camera_id,
                        entity_id=row.entity_id,
                        viewer=row.viewer,
                        progress=(row.frames, row.bytes, row.dropped),
                        reason=StreamEnd.INTERRUPTED,
                    ),
                    unlock_id=row.unlock_id,
                    hub=row.hub,
                )
                change.sql(delete_open_stream(row.viewer))

    def checkpoint_due(self) -> bool:
        """Whether `checkpoint` has work at its next interval: open streams, or closes that
        wait for the database."""
        return bool(self.sessions or self._unrecorded)

    def viewers_of(self, unlock_id: str) -> int:
        return sum(1 for s in self.sessions if s.unlock_id == unlock_id)

    async def stop(self) -> None:
        """Shutdown: every stream ends (`shutdown`) and is audited by its own loop."""
        for session in list(self.sessions):
            session.stop(StreamEnd.SHUTDOWN)
        for _ in range(40):  # the loops notice within one recheck interval
            if not self.sessions:
                break
            await asyncio.sleep(0.05)
        for session in list(self.sessions):  # a loop that never ran (no transport took it)
            self.stream_closed(session, StreamEnd.SHUTDOWN)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.record_closes()
        await self.streams.stop()


@dataclass(frozen=True, slots=True)
class _ClosedStream:
    """A stream's close waiting to be audited."""

    unlock_id: str
    hub: str
    viewer: str
    detail: dict[str, Any]


_FIRST_FRAME_ERRORS = {
    StreamEnd.EXPIRED: ErrorCode.GONE,
    StreamEnd.ENDED: ErrorCode.GONE,
    StreamEnd.SUSPENDED: ErrorCode.NOT_ACTIVE,
    StreamEnd.CAMERA_REMOVED: ErrorCode.NOT_FOUND,
}


def _stream_closed_detail(
    *,
    camera_id: str,
    entity_id: str,
    viewer: str,
    progress: tuple[int, int, int],
    reason: StreamEnd,
) -> dict[str, Any]:
    """The `stream_closed` audit detail, the same for a stream closed now and one a crash left
    open (closed as `interrupted` at the next start). `progress` is (frames, bytes, dropped)."""
    frames, size, dropped = progress
    return {
        "camera_id": camera_id,
        "entity_id": entity_id,
        "viewer": viewer,
        "frames": frames,
        "bytes": size,
        "dropped": dropped,
        "reason": reason.value,
    }
