"""Wiring: state, decisions, both APIs, the scheduler, start and stop.

The scheduler makes expiry, the end of a pause and ask timeouts happen (and get audited) on
their own. It is a convenience, not a safeguard: every access re-checks status, window,
consent, pause and share at request time and again before every stream frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from . import __version__
from .audit import AuditLog
from .city_api import build_city_app
from .control_api import build_control_app
from .descriptors import DescriptorBudget
from .errors import ApiError
from .ha_client import CameraUnavailable, HomeAssistantClient
from .http_listener import CITY_LIMITS, CONTROL_LIMITS, Listener
from .imaging import ImageError, ImageProcessor, OutputSpec
from .ledger import (
    ACTIVE,
    DECLINED,
    ENDED,
    PENDING,
    AccessDenied,
    Ledger,
    Unlock,
    UnlockCamera,
    capabilities_for,
    new_access_token,
    new_camera_id,
    new_unlock_id,
)
from .options import SUPERVISOR_CORE_URL, Options
from .policy import (
    Accept,
    Decline,
    Pending,
    Policy,
    PreviewRequest,
    changed_fields,
    decide,
    load_stored_policy,
)
from .policy import parse_policy as parse_policy_document
from .ratelimit import RefusalLimiter
from .storage import OpenStream, Storage
from .streaming import (
    FIRST_FRAME_TIMEOUT_S,
    RECHECK_INTERVAL_S,
    STALL_TIMEOUT_S,
    Frame,
    StreamHub,
    Unavailable,
    Viewer,
    next_frame,
)
from .timefmt import rfc3339
from .tokens import TokenError, UnlockClaims, verify_unlock_token

_LOGGER = logging.getLogger(__name__)

QUOTA_WINDOW_S = 7 * 24 * 3600
SCHEDULER_INTERVAL_S = 0.25
LATEST_STILL_KEEP_S = 30.0  # the last still per camera, reused by snapshots within 1/max_fps
CONTROL_TOKEN_FILE = "control_token"  # noqa: S105 - a file name, not a secret
# Open streams' frame and byte counters (and their unlocks' and the totals) are written to
# storage this often, so that a crash loses at most this much of them; never once per frame.
STREAM_CHECKPOINT_S = 5.0

type Clock = Callable[[], float]
type Fetch = Callable[[str], Awaitable[bytes]]

_STREAM_END_REASONS = {
    "gone": "unlock_ended",
    "not_active": "not_active",
    "not_found": "camera_removed",
}


class StreamSession:
    """One city viewer of one camera: its access re-check, pacing and counters."""

    def __init__(self, hub: Hub, unlock: Unlock, camera: UnlockCamera, viewer: Viewer) -> None:
        self.hub = hub
        self.unlock = unlock
        self.camera = camera
        self.viewer = viewer
        self.frames = 0
        self.bytes = 0
        self.denied: AccessDenied | None = None
        self.denied_reason: str | None = None
        self._last_sent: float | None = None
        self._opened = asyncio.get_running_loop().time()
        # (frames, bytes, dropped) as last written to the open_streams row.
        self.checkpointed: tuple[int, int, int] = (0, 0, 0)

    def stalled(self) -> bool:
        """True when no frame has been sent for the hub's stall limit (the camera stopped
        giving images): `Hub.stream_stall_s`, or two frame intervals for cameras slower."""
        since = self._last_sent if self._last_sent is not None else self._opened
        limit = max(self.hub.stream_stall_s, 2.0 / self.hub.camera_fps(self.camera.entity_id))
        return asyncio.get_running_loop().time() - since >= limit

    @property
    def progress(self) -> tuple[int, int, int]:
        return (self.frames, self.bytes, self.viewer.dropped)

    def allowed(self) -> bool:
        if self.viewer.closed.is_set():
            self.denied_reason = self.denied_reason or "shutdown"
            return False
        try:
            self.hub.check_access(self.unlock, self.camera.id, "stream")
        except AccessDenied as err:
            self.denied = err
            self.denied_reason = _STREAM_END_REASONS.get(err.code, err.code)
            return False
        return True

    def current(self, frame: Frame) -> bool:
        """True when `frame` was made with the camera's current masks and width.

        A frame made before a policy change is never sent: it is dropped (and counted), and
        the next one is made with the new spec.
        """
        if frame.spec == self.hub.output_spec(self.camera.entity_id):
            return True
        self.viewer.dropped += 1
        return False

    async def first_frame(self) -> Frame | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FIRST_FRAME_TIMEOUT_S
        while loop.time() < deadline and self.allowed():
            item = await next_frame(self.viewer, RECHECK_INTERVAL_S)
            if isinstance(item, Unavailable):
                self.denied_reason = "camera_unavailable"
                return None
            if item is not None and self.current(item):
                return item
        return None

    async def pace(self) -> bool:
        """Wait until the camera's current max_fps allows the next frame.

        Sleeps in slices of at most RECHECK_INTERVAL_S, re-reading max_fps and re-checking
        access each time, so that a revoke, pause, unshare or expiry ends the stream within
        the protocol's 2 s at any frame rate. False when access ended meanwhile.
        """
        loop = asyncio.get_running_loop()
        while self.allowed():
            if self._last_sent is None:
                return True
            wait = self._last_sent + 1.0 / self.hub.camera_fps(self.camera.entity_id) - loop.time()
            if wait <= 0:
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.viewer.closed.wait(), min(wait, RECHECK_INTERVAL_S))
        return False

    def mark_sent(self) -> None:
        self._last_sent = asyncio.get_running_loop().time()

    def record_frame(self, size: int) -> None:
        self.frames += 1
        self.bytes += size
        self.hub.record_frame(self.unlock, size)


class Hub:
    """The add-on: one per data dir."""

    def __init__(
        self,
        options: Options,
        *,
        data_dir: Path,
        storage: Storage,
        clock: Clock,
        processor: ImageProcessor,
        fetch: Fetch | None,
    ) -> None:
        self.options = options
        self.data_dir = data_dir
        self.storage = storage
        self.clock = clock
        self.processor = processor
        self.audit = AuditLog(storage, clock)
        self.ledger = Ledger(storage, self.audit)
        self.home_id = self._load_home_id()
        self.policy = self._load_policy()
        self.control_token = self._load_control_token()
        self._fetch_override = fetch
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self._latest: dict[str, tuple[float, bytes]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ha: HomeAssistantClient | None = None
        self.streams = StreamHub(self._fetch_still, processor.process_async, self.camera_fps)
        self._sessions: set[StreamSession] = set()
        self.stream_checkpoint_s = STREAM_CHECKPOINT_S
        self.stream_stall_s = STALL_TIMEOUT_S
        self.refusals = RefusalLimiter()
        self.stopping = asyncio.Event()
        self.city_app = build_city_app(self)
        self.control_app = build_control_app(self)
        self.city_port = 0
        self.control_port = 0
        self._listeners: list[Listener] = []
        self._scheduler: asyncio.Task[None] | None = None
        self._stopped = False

    @classmethod
    async def create(
        cls,
        options: Options,
        data_dir: str | Path,
        *,
        clock: Clock = time.time,
        image_processor: ImageProcessor | None = None,
        fetch_still: Fetch | None = None,
    ) -> Hub:
        """Open (or initialise) the state under `data_dir`.

        `image_processor` and `fetch_still` exist for tests; by default images come from Home
        Assistant and are processed by PyTurboJPEG (library from RTCC_TURBOJPEG_LIB if set).
        """
        path = Path(data_dir)
        storage = Storage.open(path)
        processor = image_processor or ImageProcessor(
            lib_path=os.environ.get("RTCC_TURBOJPEG_LIB") or None
        )
        hub = cls(
            options,
            data_dir=path,
            storage=storage,
            clock=clock,
            processor=processor,
            fetch=fetch_still,
        )
        hub.audit.append("service_started", {"version": __version__})
        hub.close_interrupted_streams()
        hub.end_unlocks_of_removed_hubs()
        hub.ledger.reconcile(hub.policy, clock())
        return hub

    def end_unlocks_of_removed_hubs(self) -> None:
        """A hub the owner took out of `hubs` (say its key leaked) keeps no access.

        Unlocks survive restarts in SQLite; without this, a removed hub's access tokens would
        keep working until their windows end. They end as `revoked`: the owner withdrew them.
        """
        now = self.clock()
        for unlock in self.ledger.open_unlocks():
            if self.options.hub(unlock.hub) is None:
                self.ledger.transition(unlock, ENDED, "revoked", now)

    # persistent identity ---------------------------------------------------------------------

    def _load_home_id(self) -> str:
        home_id = self.storage.get_meta("home_id")
        if home_id is None:
            home_id = str(uuid.uuid4())
            self.storage.set_meta("home_id", home_id)
        return home_id

    def _load_policy(self) -> Policy:
        stored = self.storage.get_meta("policy")
        if stored is None:
            return Policy()  # first start: consent false, nothing shared
        return load_stored_policy(json.loads(stored))

    def _load_control_token(self) -> str:
        if self.options.control_token:
            return self.options.control_token
        # Under the Supervisor: a random token, kept across restarts so the integration's
        # stored copy stays valid, readable by the add-on only.
        path = self.data_dir / CONTROL_TOKEN_FILE
        if path.exists():
            token = path.read_text(encoding="utf-8").strip()
            if len(token) >= 32:
                return token
        token = secrets.token_urlsafe(32)
        # Written to a fresh file created 0600 (never readable by others, not even briefly),
        # then moved into place atomically: a crash leaves the old file or the new one.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return token

    # images ---------------------------------------------------------------------------------

    async def _fetch_upstream(self, entity_id: str) -> bytes:
        if self._fetch_override is not None:
            return await self._fetch_override(entity_id)
        if self._ha is None:
            raise CameraUnavailable("Home Assistant client not started")
        return await self._ha.fetch_still(entity_id)

    async def _fetch_still(self, entity_id: str) -> bytes:
        """One upstream request per camera at a time: callers arriving while one is under way
        share its answer (snapshots and the stream poller alike, PROTOCOL.md section 1)."""
        task = self._inflight.get(entity_id)
        if task is None:
            task = asyncio.create_task(
                self._fetch_upstream(entity_id), name=f"rtcc fetch {entity_id}"
            )
            self._inflight[entity_id] = task
            task.add_done_callback(lambda done: self._fetched(entity_id, done))
        # shield: a caller that goes away (client gone, poller stopped) does not cancel the
        # request the others are waiting for.
        return await asyncio.shield(task)

    def _fetched(self, entity_id: str, task: asyncio.Task[bytes]) -> None:
        if self._inflight.get(entity_id) is task:
            del self._inflight[entity_id]
        if task.cancelled() or task.exception() is not None:  # also marks it retrieved
            return
        now = asyncio.get_running_loop().time()
        self._latest[entity_id] = (now, task.result())
        for other, (at, _) in list(self._latest.items()):
            if now - at > LATEST_STILL_KEEP_S:
                del self._latest[other]

    async def _snapshot_still(self, entity_id: str) -> bytes:
        """While a stream polls this camera, its latest still when fresher than 1/max_fps;
        else the shared upstream request (never a still older than one poll interval)."""
        latest = self._latest.get(entity_id)
        now = asyncio.get_running_loop().time()
        if (
            latest is not None
            and entity_id in self.streams.pollers
            and now - latest[0] < 1.0 / self.camera_fps(entity_id)
        ):
            return latest[1]
        return await self._fetch_still(entity_id)

    def camera_fps(self, entity_id: str) -> float:
        camera = self.policy.camera(entity_id)
        return camera.max_fps if camera is not None else 1.0

    def output_spec(self, entity_id: str) -> OutputSpec:
        camera = self.policy.camera(entity_id)
        if camera is None:  # never served: access checks refuse unshared cameras first
            return OutputSpec(masks=(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),))
        return OutputSpec(masks=camera.masks, max_width=camera.max_width)

    async def preview(self, request: PreviewRequest) -> bytes:
        """The camera's current still through exactly the pipeline a city snapshot takes, with
        the given masks and width. Nothing is shared and nothing is audited as served."""
        camera = self.policy.camera(request.entity_id)
        masks = request.masks if request.masks is not None else (camera.masks if camera else ())
        if request.max_width_given:
            max_width = request.max_width
        else:
            max_width = camera.max_width if camera else None
        try:
            raw = await self._snapshot_still(request.entity_id)
            return await self.processor.process_async(
                raw, OutputSpec(masks=masks, max_width=max_width)
            )
        except (CameraUnavailable, ImageError) as err:
            _LOGGER.warning("preview unavailable: %s", err)
            raise ApiError(503, "camera_unavailable") from err

    # city: unlock intake ---------------------------------------------------------------------

    def submit_unlock(self, token: str, remote: str | None = None) -> dict[str, Any]:
        """Verify, rate-limit, decide and record one unlock; the 201 body or ApiError.

        `remote` (the peer address) only keys the audit flood control of refusals that name
        no configured hub.
        """
        now = self.clock()
        try:
            claims = verify_unlock_token(token, self.options.hubs, self.home_id, now)
        except TokenError as err:
            if err.hub is None:
                self.refuse_unidentified(err.reason, 401, remote)
            else:
                self._refuse(err.reason, 401, err.hub)
            raise ApiError(401, "invalid_token") from err
        except Exception as err:
            # Backstop: whatever a validly shaped body makes the verifier trip over is a refused,
            # audited token, never a 500 without a trace in the audit log.
            _LOGGER.exception("unlock token verification failed unexpectedly")
            self.refuse_unidentified("malformed", 401, remote)
            raise ApiError(401, "invalid_token") from err
        hub_id = claims.iss
        # Refusals are audited outside any transaction: they must be kept, not rolled back.
        try:
            seen = self.storage.jti_seen(hub_id, claims.jti)
            recent = self.storage.unlock_times(hub_id, now - QUOTA_WINDOW_S)
        except Exception as err:
            _LOGGER.exception("unlock lookup failed unexpectedly")
            self._refuse("malformed", 401, hub_id)
            raise ApiError(401, "invalid_token") from err
        if seen:
            self._refuse("replayed_jti", 401, hub_id)
            raise ApiError(401, "invalid_token")
        retry_after = self._quota_retry_after(recent, now)
        if retry_after is not None:
            self._refuse("quota_exceeded", 429, hub_id)
            raise ApiError(429, "quota_exceeded", headers={"Retry-After": str(retry_after)})
        with self.storage.transaction():
            # Single-threaded loop: nothing ran between the check above and this claim.
            self.storage.claim_jti(hub_id, claims.jti, claims.exp, now)
            self.storage.record_unlock_time(hub_id, now)
            self.ledger.reconcile(self.policy, now)
            decision = decide(self.policy, claims, now)
            unlock, token_out = self._new_unlock(claims, decision, now)
            detail: dict[str, Any] = {
                "jti": claims.jti,
                "incident": claims.incident.as_json(),
                "area": claims.area.as_json(),
                "scope": list(claims.scope),
                "not_before": rfc3339(claims.nbf),
                "expires_at": rfc3339(claims.exp),
            }
            if unlock.granted_scope != claims.scope and not isinstance(decision, Decline):
                detail["granted_scope"] = list(unlock.granted_scope)
            self.audit.append("unlock_received", detail, unlock_id=unlock.unlock_id, hub=hub_id)
            self.ledger.counters.values["unlocks_received"] += 1
            reason = decision.reason if isinstance(decision, Decline) else None
            self.ledger.add(unlock, now, reason)
        body: dict[str, Any] = {
            "unlock_id": unlock.unlock_id,
            "status": unlock.status,
            "expires_at": rfc3339(unlock.expires_at),
        }
        if token_out is not None:
            body["access_token"] = token_out
        if unlock.status == ACTIVE:
            body["cameras"] = self.city_view(unlock)["cameras"]
        return body

    def _quota_retry_after(self, recent: list[float], now: float) -> int | None:
        """None within the quota, else the Retry-After seconds.

        The next unlock is possible once all but quota - 1 of the recent ones have left the
        window (the quota may have been lowered below the current count). A quota of 0 never
        allows one: the whole window is answered.
        """
        quota = self.policy.max_unlocks_per_week
        if len(recent) < quota:
            return None
        if quota == 0:
            return QUOTA_WINDOW_S
        return max(1, math.ceil(recent[len(recent) - quota] + QUOTA_WINDOW_S - now))

    def _refuse(self, reason: str, status: int, hub: str | None) -> None:
        self.audit.append("unlock_refused", {"reason": reason, "status": status}, hub=hub)

    def refuse_unidentified(self, reason: str, status: int, remote: str | None) -> None:
        """Audit a refusal that names no configured hub, aggregated beyond the rate limit."""
        if self.refusals.allow(remote):
            self._refuse(reason, status, None)
        else:
            self.refusals.suppressed(status)
            self.flush_refusals()

    def flush_refusals(self, *, force: bool = False) -> None:
        """Write the aggregated entries for refusals counted but not audited one by one."""
        for status, count in self.refusals.due(force=force):
            self.audit.append(
                "unlock_refused", {"reason": "rate_limited", "status": status, "count": count}
            )

    def _new_unlock(
        self, claims: UnlockClaims, decision: Accept | Pending | Decline, now: float
    ) -> tuple[Unlock, str | None]:
        hub_config = self.options.hub(claims.iss)
        unlock = Unlock(
            unlock_id=new_unlock_id(),
            hub=claims.iss,
            hub_name=hub_config.name if hub_config else claims.iss,
            jti=claims.jti,
            incident=claims.incident,
            area=claims.area,
            scope=claims.scope,
            granted_scope=claims.scope,
            status=DECLINED,
            created_at=now,
            not_before=claims.nbf,
            expires_at=claims.exp,
            cameras=[],
        )
        if isinstance(decision, Decline):
            return unlock, None
        token, token_hash = new_access_token()
        unlock.token_hash = token_hash
        unlock.granted_scope = decision.granted_scope
        unlock.cameras = [
            UnlockCamera(
                id=new_camera_id(),
                entity_id=camera.entity_id,
                label=self.policy.public_label(camera),
                capabilities=capabilities_for(decision.granted_scope),
            )
            for camera in decision.cameras
        ]
        if isinstance(decision, Pending):
            unlock.status = PENDING
            unlock.decides_by = decision.decides_by
        else:
            unlock.status = ACTIVE
        return unlock, token

    # city: access -----------------------------------------------------------------------------

    def authenticate(self, unlock_id: str, token: str | None) -> Unlock:
        unlock = self.ledger.authenticate(unlock_id, token)
        if unlock is None:
            raise ApiError(401, "invalid_token")
        return unlock

    def city_view(self, unlock: Unlock) -> dict[str, Any]:
        self.ledger.reconcile(self.policy, self.clock())
        return unlock.city_view()

    def close_by_city(self, unlock: Unlock) -> None:
        now = self.clock()
        self.ledger.reconcile(self.policy, now)
        if unlock.open:
            self.ledger.transition(unlock, ENDED, "hub_closed", now)

    def check_access(self, unlock: Unlock, camera_id: str, capability: str) -> UnlockCamera:
        camera, _ = self.ledger.check_access(
            unlock, camera_id, capability, self.policy, self.clock()
        )
        return camera

    async def snapshot(self, unlock: Unlock, camera_id: str) -> bytes:
        camera = self.check_access(unlock, camera_id, "snapshot")
        try:
            raw = await self._snapshot_still(camera.entity_id)
            while True:
                spec = self.output_spec(camera.entity_id)
                image = await self.processor.process_async(raw, spec)
                # The policy or the unlock may have changed during the awaits: check again,
                # and redo the image if the masks or width changed meanwhile.
                self.check_access(unlock, camera_id, "snapshot")
                if self.output_spec(camera.entity_id) == spec:
                    break
        except (CameraUnavailable, ImageError) as err:
            _LOGGER.warning("snapshot unavailable: %s", err)
            raise ApiError(503, "camera_unavailable") from err
        now = self.clock()
        with self.storage.transaction():
            unlock.snapshots += 1
            unlock.bytes += len(image)
            self.ledger.save(unlock)
            counters = self.ledger.counters
            counters.values["snapshots_served"] += 1
            counters.values["bytes_sent"] += len(image)
            counters.last_access = now
            self.ledger.save_counters()
            self.audit.append(
                "snapshot_served",
                {"camera_id": camera.id, "entity_id": camera.entity_id, "bytes": len(image)},
                unlock_id=unlock.unlock_id,
                hub=unlock.hub,
            )
        return image

    def open_stream(self, unlock: Unlock, camera_id: str) -> StreamSession:
        camera = self.check_access(unlock, camera_id, "stream")
        entity_id = camera.entity_id
        viewer = self.streams.open(entity_id, lambda: self.output_spec(entity_id))
        session = StreamSession(self, unlock, camera, viewer)
        try:
            with self.storage.transaction():
                self.ledger.counters.values["streams_opened"] += 1
                self.ledger.save_counters()
                self.audit.append(
                    "stream_opened",
                    {"camera_id": camera.id, "entity_id": entity_id, "viewer": viewer.id},
                    unlock_id=unlock.unlock_id,
                    hub=unlock.hub,
                )
                # Kept until the stream_closed entry is written: a crash leaves it behind, and
                # the next start closes it in the audit log (close_interrupted_streams).
                self.storage.add_open_stream(
                    OpenStream(
                        viewer=viewer.id,
                        unlock_id=unlock.unlock_id,
                        hub=unlock.hub,
                        camera_id=camera.id,
                        entity_id=entity_id,
                        opened_at=self.clock(),
                    )
                )
        except BaseException:
            self.streams.discard(viewer)
            raise
        self._sessions.add(session)
        return session

    def record_frame(self, unlock: Unlock, size: int) -> None:
        # In memory per frame; persisted by checkpoint_streams every few seconds and when the
        # stream closes (no write per frame).
        unlock.frames += 1
        unlock.bytes += size
        counters = self.ledger.counters
        counters.values["frames_sent"] += 1
        counters.values["bytes_sent"] += size
        counters.last_access = self.clock()

    async def close_stream(self, session: StreamSession, reason: str) -> None:
        if session not in self._sessions:
            return
        self._sessions.discard(session)
        await self.streams.close(session.viewer)
        with self.storage.transaction():
            self.ledger.save(session.unlock)
            self.ledger.save_counters()
            self.audit.append(
                "stream_closed",
                {
                    "camera_id": session.camera.id,
                    "entity_id": session.camera.entity_id,
                    "viewer": session.viewer.id,
                    "frames": session.frames,
                    "bytes": session.bytes,
                    "dropped": session.viewer.dropped,
                    "reason": reason,
                },
                unlock_id=session.unlock.unlock_id,
                hub=session.unlock.hub,
            )
            self.storage.delete_open_stream(session.viewer.id)

    def checkpoint_streams(self) -> None:
        """Persist the counters of every open stream that sent or dropped something since its
        last checkpoint, with its unlock's counters and the totals: one transaction, one UPDATE
        per such stream."""
        dirty = [s for s in self._sessions if s.progress != s.checkpointed]
        if not dirty:
            return
        marks = [(session, session.progress) for session in dirty]
        with self.storage.transaction():
            unlocks: dict[str, Unlock] = {}
            for session, (frames, size, dropped) in marks:
                self.storage.checkpoint_open_stream(session.viewer.id, frames, size, dropped)
                unlocks[session.unlock.unlock_id] = session.unlock
            for unlock in unlocks.values():
                self.ledger.save(unlock)
            self.ledger.save_counters()
        for session, progress in marks:
            session.checkpointed = progress

    def close_interrupted_streams(self) -> None:
        """At start-up: audit the close of every stream the last run left open (killed, power
        lost) with the counters of its last checkpoint, and forget it, in one transaction."""
        leftovers = self.storage.open_streams()
        if not leftovers:
            return
        with self.storage.transaction():
            for row in leftovers:
                self.audit.append(
                    "stream_closed",
                    {
                        "camera_id": row.camera_id,
                        "entity_id": row.entity_id,
                        "viewer": row.viewer,
                        "frames": row.frames,
                        "bytes": row.bytes,
                        "dropped": row.dropped,
                        "reason": "interrupted",
                    },
                    unlock_id=row.unlock_id,
                    hub=row.hub,
                )
                self.storage.delete_open_stream(row.viewer)

    def viewers_of(self, unlock_id: str) -> int:
        return sum(1 for s in self._sessions if s.unlock.unlock_id == unlock_id)

    # control -----------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        self.ledger.reconcile(self.policy, self.clock())
        return {
            "home_id": self.home_id,
            "policy": self.policy.as_json(),
            "unlocks": [
                unlock.control_view(self.viewers_of(unlock.unlock_id))
                for unlock in self.ledger.open_unlocks()
            ],
            "counters": self.ledger.counters.as_json(open_streams=len(self._sessions)),
        }

    def put_policy(self, raw: Any) -> Policy:
        """Validate and store a policy; it takes effect on live access at once."""
        new = parse_policy_document(raw)  # PolicyError: nothing changes
        if new == self.policy:
            return self.policy
        now = self.clock()
        new = replace(new, revision=self.policy.revision + 1)
        with self.storage.transaction():
            changed = changed_fields(self.policy, new)
            self.storage.set_meta("policy", json.dumps(new.as_json()))
            self.policy = new
            self.audit.append("policy_changed", {"revision": new.revision, "changed": changed})
            self.ledger.reconcile(new, now)
        return new

    def _control_unlock(self, unlock_id: str) -> Unlock:
        self.ledger.reconcile(self.policy, self.clock())
        unlock = self.ledger.get(unlock_id)
        if unlock is None:
            raise ApiError(404, "not_found", "No such unlock.")
        return unlock

    def _require(self, unlock: Unlock, allowed: set[str]) -> None:
        if unlock.status not in allowed:
            raise ApiError(409, "conflict", f"The unlock is {unlock.status}.")

    def approve(self, unlock_id: str) -> dict[str, Any]:
        unlock = self._control_unlock(unlock_id)
        self._require(unlock, {PENDING})
        now = self.clock()
        self.ledger.transition(unlock, ACTIVE, None, now)
        self.ledger.reconcile(self.policy, now)  # a pause or an unshared camera applies at once
        return unlock.control_view(self.viewers_of(unlock_id))

    def decline(self, unlock_id: str) -> dict[str, Any]:
        unlock = self._control_unlock(unlock_id)
        self._require(unlock, {PENDING})
        self.ledger.transition(unlock, DECLINED, "owner_declined", self.clock())
        return unlock.control_view(self.viewers_of(unlock_id))

    def revoke(self, unlock_id: str) -> dict[str, Any]:
        unlock = self._control_unlock(unlock_id)
        self._require(unlock, {PENDING, ACTIVE, "suspended"})
        self.ledger.transition(unlock, ENDED, "revoked", self.clock())
        return unlock.control_view(self.viewers_of(unlock_id))

    def revoke_all(self) -> dict[str, Any]:
        now = self.clock()
        self.ledger.reconcile(self.policy, now)
        unlocks = self.ledger.open_unlocks()
        for unlock in unlocks:
            self.ledger.transition(unlock, ENDED, "revoked", now)
        return {"revoked": [unlock.unlock_id for unlock in unlocks]}

    # lifecycle -----------------------------------------------------------------------------------

    async def _run_scheduler(self) -> None:
        loop = asyncio.get_running_loop()
        last_checkpoint = loop.time()
        while not self.stopping.is_set():
            try:
                self.ledger.reconcile(self.policy, self.clock())
                self.flush_refusals()
            except Exception:  # keep scheduling; access checks do not depend on it
                _LOGGER.exception("scheduler tick failed")
            if loop.time() - last_checkpoint >= self.stream_checkpoint_s:
                last_checkpoint = loop.time()
                try:
                    self.checkpoint_streams()
                except Exception:  # the next checkpoint or the close writes them
                    _LOGGER.exception("stream checkpoint failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), SCHEDULER_INTERVAL_S)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not (self.options.certfile and self.options.keyfile):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.options.certfile, self.options.keyfile)
        return context

    def _ha_client(self, session: aiohttp.ClientSession) -> HomeAssistantClient | None:
        if self.options.supervisor:
            token = os.environ.get("SUPERVISOR_TOKEN", "")
            return HomeAssistantClient(session, SUPERVISOR_CORE_URL, token)
        if self.options.ha_url:
            return HomeAssistantClient(session, self.options.ha_url, self.options.ha_token or "")
        return None

    async def start(self) -> None:
        """Bind both listeners (ports 0 pick free ones) and start the scheduler."""
        self._session = aiohttp.ClientSession()
        self._ha = self._ha_client(self._session)
        # The listeners protect themselves (PROTOCOL.md section 3): see http_listener.
        budget = DescriptorBudget.for_process()
        for app, name, host, port, limits, ssl_context in (
            (self.city_app, "city API", self.options.bind, self.options.city_port,
             CITY_LIMITS, self._ssl_context()),
            (self.control_app, "control API", self.options.control_bind,
             self.options.control_port, CONTROL_LIMITS, None),
        ):  # fmt: skip
            listener = Listener(
                app, name=name, host=host, port=port, limits=limits, budget=budget,
                ssl_context=ssl_context,
            )  # fmt: skip
            await listener.start()
            self._listeners.append(listener)
        self.city_port = self._listeners[0].port
        self.control_port = self._listeners[1].port
        self._scheduler = asyncio.create_task(self._run_scheduler(), name="rtcc scheduler")
        line = (
            f"rtcc_hub listening city={self.options.bind}:{self.city_port} "
            f"control={self.options.control_bind}:{self.control_port}"
        )
        _LOGGER.info(line)
        print(line, flush=True)

    async def stop(self) -> None:
        """Close streams (auditing them), stop listeners and the scheduler, close storage."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        self.streams.close_all()
        for listener in reversed(self._listeners):
            await listener.stop()
        self._listeners.clear()
        for session in list(self._sessions):
            await self.close_stream(session, "shutdown")
        await self.streams.stop()
        if self._scheduler is not None:
            await self._scheduler
            self._scheduler = None
        for task in list(self._inflight.values()):
            task.cancel()
        self._inflight.clear()
        self._latest.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        try:
            self.flush_refusals(force=True)
        except Exception:  # never keep the store from closing
            _LOGGER.exception("could not write the aggregated refusals")
        self.processor.close()
        self.storage.close()
