"""Recorded clips (PROTOCOL.md section 7): requested by the city, made at home, kept only while
their unlock lasts.

A clip is asked for a part of the unlock's signed `footage` window on one camera with a
recorder. It is made once (the same camera and window asked again is the same clip), at most
two at a time per home, in a worker process (clipmaker/), from the recorder's footage of exactly
that window, masked and scaled as snapshots are. Its one receipt is signed when it is recorded
as prepared and is the same in its status and on every download, each of which is audited. When
the unlock ends its clips are deleted (audited), also when that happened while the add-on was
down; a clip whose making a crash interrupted is failed at the next start and nothing half-made
is ever served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from .access import CityAccess, Served
from .clipmaker import (
    ClipMaker,
    ClipOutcome,
    ClipResult,
    ClipSpec,
    ClipStatus,
    prepare_clip,
    remove_partials,
)
from .errors import DomainError, ErrorCode
from .lifecycle import current_status, require_active
from .receipts import (
    REPR_DIGEST,
    RTCC_RECEIPT,
    ClipWindow,
    ReceiptKind,
    ReceiptSigner,
    repr_digest_of,
)
from .recorders import Recorders
from .state import Change, HomeState
from .status import AuditEvent, Scope, UnlockStatus
from .storage import Statement
from .timefmt import parse_rfc3339, rfc3339
from .unlock import Unlock, UnlockCamera

_LOGGER = logging.getLogger(__name__)

MAX_PREPARING = 2  # per home
CLIPS_DIR = "clips"
FINISH_RETRY_S = 1.0  # a clip made while the disk is full waits to be recorded
FINISH_ATTEMPTS = 60

type RecordersFactory = Callable[[], Recorders]


class ClipState(StrEnum):
    """`status` of a clip for the city (section 7), and `deleted` once its unlock ended."""

    PREPARING = "preparing"
    READY = "ready"
    NO_FOOTAGE = "no_footage"
    FAILED = "failed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Clip:
    clip_id: str
    unlock_id: str
    hub: str
    camera_id: str
    entity_id: str
    start: float  # the window asked for (Unix seconds)
    end: float
    status: ClipState
    bytes: int = 0
    sha256: str | None = None
    source_sha256: str | None = None
    frames: int = 0
    receipt: str | None = None
    reason: str | None = None  # owner only

    def to_storage(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_storage(cls, text: str) -> Clip:
        data = json.loads(text)
        data["status"] = ClipState(data["status"])
        return cls(**data)

    def city_view(self, progress: float) -> dict[str, Any]:
        view: dict[str, Any] = {
            "clip_id": self.clip_id,
            "camera_id": self.camera_id,
            "status": self.status.value,
            "progress": 1.0 if self.status is not ClipState.PREPARING else round(progress, 3),
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
        }
        if self.status is ClipState.READY:
            view.update(bytes=self.bytes, sha256=self.sha256, receipt=self.receipt)
        return view


def _save(clip: Clip) -> Statement:
    return (
        "INSERT INTO clips (clip_id, unlock_id, data) VALUES (?, ?, ?) "
        "ON CONFLICT(clip_id) DO UPDATE SET data = excluded.data",
        (clip.clip_id, clip.unlock_id, clip.to_storage()),
    )


def load_clip_rows(conn: Any) -> list[str]:
    return [str(row[0]) for row in conn.execute("SELECT data FROM clips ORDER BY rowid")]


def parse_window(body: bytes, footage_start: float, footage_end: float) -> tuple[float, float]:
    """The window a clip request asks for: empty body = the whole footage window; else
    `{"start": time, "end": time}` (either may be left out) inside it. 400 otherwise."""
    if not body.strip():
        return footage_start, footage_end
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise DomainError(ErrorCode.INVALID_REQUEST) from err
    if not isinstance(document, dict) or set(document) - {"start", "end"}:
        raise DomainError(ErrorCode.INVALID_REQUEST)
    bounds = []
    for key, default in (("start", footage_start), ("end", footage_end)):
        value = document.get(key)
        if value is None:
            bounds.append(default)
            continue
        if not isinstance(value, str):
            raise DomainError(ErrorCode.INVALID_REQUEST)
        try:
            bounds.append(parse_rfc3339(value))
        except ValueError as err:
            raise DomainError(ErrorCode.INVALID_REQUEST) from err
    start, end = bounds
    if not footage_start <= start < end <= footage_end:
        raise DomainError(ErrorCode.INVALID_REQUEST)
    return start, end


class ClipService:
    def __init__(
        self,
        state: HomeState,
        access: CityAccess,
        signer: ReceiptSigner,
        data_dir: Path,
        maker: ClipMaker | None = None,
    ) -> None:
        self._state = state
        self._access = access
        self._signer = signer
        self.directory = data_dir / CLIPS_DIR
        self._maker = maker or ClipMaker()
        self._recorders: RecordersFactory | None = None
        self._clips: dict[str, Clip] = {}
        self._progress: dict[str, float] = {}
        self._jobs: dict[str, asyncio.Task[None]] = {}

    def use_recorders(self, recorders: RecordersFactory) -> None:
        """Set once the add-on's HTTP session exists (at start)."""
        self._recorders = recorders

    # start-up --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the clips; fail those a crash interrupted and remove what it left half-made."""
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = await self._state.store.read(load_clip_rows)
        self._clips = {clip.clip_id: clip for clip in map(Clip.from_storage, rows)}
        await asyncio.to_thread(remove_partials, self.directory)
        interrupted = [c for c in self._clips.values() if c.status is ClipState.PREPARING]
        if interrupted:
            async with self._state.change() as change:
                for clip in interrupted:
                    failed = replace(clip, status=ClipState.FAILED, reason="interrupted")
                    self._stage_prepared(change, failed)
                    await asyncio.to_thread(self._path(clip).unlink, missing_ok=True)
        await self.sweep()

    # the city's requests ---------------------------------------------------------------------

    async def request(self, unlock: Unlock, camera_id: str, body: bytes) -> dict[str, Any]:
        await self._access.settle()
        unlock = self._access.current(unlock)
        camera = self._check(unlock, camera_id)
        footage = unlock.footage
        if footage is None:  # a clip grant always has its footage window (tokens.py)
            raise DomainError(ErrorCode.NOT_ACTIVE)
        start, end = parse_window(body, footage.start, footage.end)
        same = next(
            (
                clip
                for clip in self._clips.values()
                if (clip.unlock_id, clip.camera_id, clip.start, clip.end)
                == (unlock.unlock_id, camera_id, start, end)
                and clip.status is not ClipState.FAILED
            ),
            None,
        )
        if same is not None:  # made once
            return same.city_view(self._progress.get(same.clip_id, 0.0))
        if sum(1 for c in self._clips.values() if c.status is ClipState.PREPARING) >= MAX_PREPARING:
            raise DomainError(ErrorCode.BUSY)
        clip = Clip(
            clip_id="k_" + secrets.token_urlsafe(12),
            unlock_id=unlock.unlock_id,
            hub=unlock.hub,
            camera_id=camera_id,
            entity_id=camera.entity_id,
            start=start,
            end=end,
            status=ClipState.PREPARING,
        )
        async with self._state.change() as change:
            self._check(self._access.current(unlock), camera_id)
            change.sql(_save(clip))
            change.audit(
                AuditEvent.CLIP_REQUESTED,
                {**self._where(clip), "start": rfc3339(start), "end": rfc3339(end)},
                unlock_id=unlock.unlock_id,
                hub=unlock.hub,
            )
            change.after_commit(lambda: self._started(clip))
        return clip.city_view(0.0)

    async def status(self, unlock: Unlock, clip_id: str) -> dict[str, Any]:
        clip = await self._own(unlock, clip_id)
        return clip.city_view(self._progress.get(clip_id, 0.0))

    async def video(self, unlock: Unlock, clip_id: str) -> Served:
        clip = await self._own(unlock, clip_id)
        if clip.status is ClipState.PREPARING:
            raise DomainError(ErrorCode.NOT_READY)
        if clip.status is not ClipState.READY or clip.sha256 is None or clip.receipt is None:
            raise DomainError(ErrorCode.NOT_FOUND)
        size = clip.bytes
        async with self._state.change() as change:
            await self._own(unlock, clip_id, settle=False)
            now = change.now
            change.traffic(unlock.unlock_id, lambda traffic: traffic.add_clip(size))
            change.counters(lambda counters: counters.clip_served(size, now))
            change.audit(
                AuditEvent.CLIP_SERVED,
                {**self._where(clip), "bytes": size},
                unlock_id=unlock.unlock_id,
                hub=unlock.hub,
            )
        headers = {REPR_DIGEST: repr_digest_of(clip.sha256), RTCC_RECEIPT: clip.receipt}
        return Served(b"", "video/mp4", headers, file=self._path(clip), length=size)

    def still_served(self, unlock_id: str, clip_id: str) -> bool:
        """While a download runs: is the clip still the city's to have (unlock live, active)?"""
        state = self._state
        unlock = state.ledger.get(unlock_id)
        clip = self._clips.get(clip_id)
        if unlock is None or clip is None or clip.status is not ClipState.READY:
            return False
        status, _ = current_status(unlock, state.policy, state.clock())
        return status is UnlockStatus.ACTIVE and state.policy.allow_clips

    # checks ----------------------------------------------------------------------------------

    def _check(self, unlock: Unlock, camera_id: str) -> UnlockCamera:
        """Section 7's order: ended (410), not active or no clip in the granted scope or clips
        no longer allowed (403, first), a camera without `clip` (404)."""
        state = self._state
        now = state.clock()
        status, _ = current_status(unlock, state.policy, now)
        if status.terminal or now >= unlock.expires_at or not state.policy.consent:
            raise DomainError(ErrorCode.GONE)
        require_active(unlock, Scope.CLIP, state.policy, now)
        if not state.policy.allow_clips:
            raise DomainError(ErrorCode.NOT_ACTIVE)
        camera = unlock.camera(camera_id)
        policy_camera = state.policy.camera(camera.entity_id) if camera else None
        if (
            camera is None
            or Scope.CLIP not in camera.capabilities
            or policy_camera is None
            or not policy_camera.share
            or policy_camera.recorder is None
        ):
            raise DomainError(ErrorCode.NOT_FOUND)
        return camera

    async def _own(self, unlock: Unlock, clip_id: str, *, settle: bool = True) -> Clip:
        """The clip when it is this unlock's, under section 3.2's rules for the unlock."""
        if settle:
            await self._access.settle()
        state = self._state
        unlock = self._access.current(unlock)
        now = state.clock()
        status, _ = current_status(unlock, state.policy, now)
        if status.terminal or now >= unlock.expires_at or not state.policy.consent:
            raise DomainError(ErrorCode.GONE)
        clip = self._clips.get(clip_id)
        if clip is None or clip.unlock_id != unlock.unlock_id or clip.status is ClipState.DELETED:
            raise DomainError(ErrorCode.NOT_FOUND)
        require_active(unlock, Scope.CLIP, state.policy, now)
        if not state.policy.allow_clips:
            raise DomainError(ErrorCode.NOT_ACTIVE)
        return clip

    # making ----------------------------------------------------------------------------------

    def _started(self, clip: Clip) -> None:
        self._clips[clip.clip_id] = clip
        self._progress[clip.clip_id] = 0.0
        task = asyncio.create_task(self._make(clip), name=f"rtcc clip {clip.clip_id}")
        self._jobs[clip.clip_id] = task
        task.add_done_callback(lambda _: self._jobs.pop(clip.clip_id, None))

    async def _make(self, clip: Clip) -> None:
        camera = self._state.policy.camera(clip.entity_id)
        if camera is None or camera.recorder is None or self._recorders is None:
            outcome = ClipOutcome(ClipStatus.FAILED, reason="no recorder")
        else:
            spec = ClipSpec(clip.start, clip.end, masks=camera.masks, max_width=camera.max_width)
            outcome = await prepare_clip(
                self._recorders(),
                self._maker,
                recorder=camera.recorder,
                entity_id=clip.entity_id,
                spec=spec,
                workdir=self.directory,
                output=self._path(clip),
                progress=lambda fraction: self._progress.__setitem__(clip.clip_id, fraction),
            )
        result = outcome.result
        done = replace(
            clip,
            status=ClipState(outcome.status.value),
            reason=outcome.reason or None,
            bytes=result.bytes if result else 0,
            sha256=result.sha256 if result else None,
            source_sha256=result.source_sha256 if result else None,
            frames=result.frames if result else 0,
        )
        for _ in range(FINISH_ATTEMPTS):
            try:
                async with self._state.change() as change:
                    self._stage_prepared(change, done, result_window=result)
            except DomainError:
                await asyncio.sleep(FINISH_RETRY_S)
            else:
                return
        # Never recorded as prepared: never served. The next start fails it.
        _LOGGER.warning("a finished clip could not be recorded; it is not served")
        await asyncio.to_thread(self._path(clip).unlink, missing_ok=True)

    def _stage_prepared(
        self, change: Change, clip: Clip, result_window: ClipResult | None = None
    ) -> None:
        detail: dict[str, Any] = {
            **self._where(clip),
            "status": clip.status.value,
            "start": rfc3339(clip.start),
            "end": rfc3339(clip.end),
        }
        if clip.status is ClipState.READY:
            detail.update(
                bytes=clip.bytes,
                sha256=clip.sha256,
                source_sha256=clip.source_sha256,
                frames=clip.frames,
            )
            if result_window is not None:
                detail["covered"] = {
                    "start": rfc3339(result_window.start, millis=True),
                    "end": rfc3339(result_window.end, millis=True),
                }
        else:
            detail["reason"] = clip.reason
        entry = change.audit(
            AuditEvent.CLIP_PREPARED, detail, unlock_id=clip.unlock_id, hub=clip.hub
        )
        if clip.status is ClipState.READY:
            unlock = self._state.ledger.get(clip.unlock_id)
            clip = replace(
                clip,
                receipt=self._signer.sign(
                    hub=clip.hub,
                    now=change.now,
                    unlock_id=clip.unlock_id,
                    incident_id=unlock.incident.id if unlock else "",
                    camera_id=clip.camera_id,
                    kind=ReceiptKind.CLIP,
                    body_sha256=clip.sha256 or "",
                    size=clip.bytes,
                    entry=entry,
                    clip=ClipWindow(int(clip.start), int(clip.end), clip.source_sha256 or ""),
                ),
            )
        change.sql(_save(clip))
        stored = clip
        change.after_commit(lambda: self._clips.__setitem__(stored.clip_id, stored))

    # deletion --------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Delete the clips of unlocks that ended (audited), stopping any still being made."""
        state = self._state
        gone: list[tuple[Clip, str]] = []
        now = state.clock()
        for clip in self._clips.values():
            if clip.status is ClipState.DELETED:
                continue
            unlock = state.ledger.get(clip.unlock_id)
            if unlock is None:
                gone.append((clip, "unknown"))
                continue
            status, ended_reason = current_status(unlock, state.policy, now)
            if status.terminal:
                gone.append((clip, ended_reason or status.value))
        if not gone:
            return
        for clip, _ in gone:
            job = self._jobs.get(clip.clip_id)
            if job is not None:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await job
            await asyncio.to_thread(self._path(clip).unlink, missing_ok=True)
        async with state.change() as change:
            for clip, reason in gone:
                deleted = replace(clip, status=ClipState.DELETED)
                change.sql(_save(deleted))
                change.audit(
                    AuditEvent.CLIP_DELETED,
                    {"clip_id": clip.clip_id, "camera_id": clip.camera_id, "reason": reason},
                    unlock_id=clip.unlock_id,
                    hub=clip.hub,
                )
                change.after_commit(
                    lambda d=deleted: self._clips.__setitem__(d.clip_id, d)  # type: ignore[misc]
                )

    async def stop(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel()
        if self._jobs:
            await asyncio.gather(*self._jobs.values(), return_exceptions=True)

    # helpers ---------------------------------------------------------------------------------

    def _path(self, clip: Clip) -> Path:
        return self.directory / f"{clip.clip_id}.mp4"

    @staticmethod
    def _where(clip: Clip) -> dict[str, Any]:
        return {"clip_id": clip.clip_id, "camera_id": clip.camera_id, "entity_id": clip.entity_id}
