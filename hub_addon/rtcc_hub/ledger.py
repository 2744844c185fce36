"""Unlocks: the state machine, access tokens, per-unlock camera ids and access checks.

    pending ─► active ⇄ suspended ─► ended
       │                  ▲
       ├─► declined       │ (pending, active and suspended may all end)
       └──────────────────┘

Access tokens are random and kept only as SHA-256 hashes, compared with hmac.compare_digest.
Camera ids are random per unlock and never derived from the entity id.

Policy decisions (documented here because the protocol leaves them open):
- consent withdrawn ends every unlock not yet ended, pending ones included, with
  `consent_withdrawn` (a pending request has no standing consent to wait on);
- a camera set to `share: false` (or dropped from the policy) is removed from every existing
  unlock for good: sharing it again later does not bring it back into those unlocks;
- a pending unlock stays pending during a pause (the owner may still decide); an approved one
  then starts suspended.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .audit import AuditLog
from .policy import CameraPolicy, Policy
from .storage import Storage
from .timefmt import rfc3339
from .tokens import Area, Incident

PENDING, ACTIVE, SUSPENDED, DECLINED, ENDED = "pending", "active", "suspended", "declined", "ended"
TERMINAL = frozenset({DECLINED, ENDED})
_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({ACTIVE, DECLINED, ENDED}),
    ACTIVE: frozenset({SUSPENDED, ENDED}),
    SUSPENDED: frozenset({ACTIVE, ENDED}),
    DECLINED: frozenset(),
    ENDED: frozenset(),
}

# Hash compared against when the unlock id is unknown, so that path costs the same.
_DUMMY_HASH = hashlib.sha256(b"rtcc-no-such-unlock").hexdigest()


class InvalidTransition(Exception):
    """The unlock's status does not allow this change (control API 409)."""


class AccessDenied(Exception):
    """A city request is refused: HTTP status and error code for the city API."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_access_token() -> tuple[str, str]:
    """A fresh bearer token for the city and the hash we keep of it.

    The prefix keeps tokens from starting with "-" (command lines read that as an option) and
    lets secret scanners recognise a leaked one.
    """
    token = "at_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def new_unlock_id() -> str:
    return "u_" + secrets.token_urlsafe(16)


def new_camera_id() -> str:
    return "c_" + secrets.token_urlsafe(12)


def capabilities_for(scope: tuple[str, ...]) -> list[str]:
    # A stream grant includes single frames: a snapshot reveals nothing a stream does not.
    return ["snapshot", "stream"] if "stream" in scope else ["snapshot"]


@dataclass(slots=True)
class UnlockCamera:
    id: str
    entity_id: str
    label: str
    capabilities: list[str]


@dataclass(slots=True)
class Unlock:
    unlock_id: str
    hub: str
    hub_name: str
    jti: str
    incident: Incident
    area: Area
    scope: tuple[str, ...]
    granted_scope: tuple[str, ...]
    status: str
    created_at: float
    not_before: float
    expires_at: float
    cameras: list[UnlockCamera]
    token_hash: str | None = None
    decides_by: float | None = None
    ended_reason: str | None = None
    snapshots: int = 0
    frames: int = 0
    bytes: int = 0

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    def camera(self, camera_id: str) -> UnlockCamera | None:
        return next((cam for cam in self.cameras if cam.id == camera_id), None)

    def city_view(self) -> dict[str, Any]:
        """What the city may see: no entity ids, nothing about the home."""
        view: dict[str, Any] = {
            "unlock_id": self.unlock_id,
            "status": self.status,
            "expires_at": rfc3339(self.expires_at),
            "cameras": [
                {"id": cam.id, "label": cam.label, "capabilities": list(cam.capabilities)}
                for cam in self.cameras
            ]
            if self.status not in (DECLINED, PENDING)
            else [],
        }
        if self.status == ENDED:
            view["ended_reason"] = self.ended_reason
        return view

    def control_view(self, viewers: int) -> dict[str, Any]:
        return {
            "unlock_id": self.unlock_id,
            "hub": self.hub,
            "hub_name": self.hub_name,
            "incident": self.incident.as_json(),
            "scope": list(self.granted_scope),
            "status": self.status,
            "ended_reason": self.ended_reason,
            "created_at": rfc3339(self.created_at),
            "not_before": rfc3339(self.not_before),
            "expires_at": rfc3339(self.expires_at),
            "decides_by": None if self.decides_by is None else rfc3339(self.decides_by),
            "cameras": [asdict(cam) for cam in self.cameras],
            "viewers": viewers,
            "snapshots": self.snapshots,
            "frames": self.frames,
            "bytes": self.bytes,
        }

    def to_storage(self) -> str:
        data = asdict(self)
        data["incident"] = self.incident.as_json()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_storage(cls, text: str) -> Unlock:
        data = json.loads(text)
        data["incident"] = Incident(**data["incident"])
        data["area"] = Area(**data["area"])
        data["scope"] = tuple(data["scope"])
        data["granted_scope"] = tuple(data["granted_scope"])
        data["cameras"] = [UnlockCamera(**cam) for cam in data["cameras"]]
        return cls(**data)


_COUNTER_KEYS = (
    "unlocks_received",
    "unlocks_activated",
    "unlocks_declined",
    "snapshots_served",
    "streams_opened",
    "frames_sent",
    "bytes_sent",
)


@dataclass(slots=True)
class Counters:
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTER_KEYS, 0))
    last_access: float | None = None
    last_shared: float | None = None

    def as_json(self, open_streams: int) -> dict[str, Any]:
        return {
            **self.values,
            "open_streams": open_streams,
            "last_access": None if self.last_access is None else rfc3339(self.last_access),
            "last_shared": None if self.last_shared is None else rfc3339(self.last_shared),
        }

    def to_storage(self) -> str:
        return json.dumps(
            {
                "values": self.values,
                "last_access": self.last_access,
                "last_shared": self.last_shared,
            }
        )

    @classmethod
    def from_storage(cls, text: str | None) -> Counters:
        counters = cls()
        if text:
            data = json.loads(text)
            counters.values.update({k: int(v) for k, v in data["values"].items()})
            counters.last_access = data["last_access"]
            counters.last_shared = data["last_shared"]
        return counters


class Ledger:
    """All unlocks of this home, persisted on every change and audited."""

    def __init__(self, storage: Storage, audit: AuditLog) -> None:
        self._storage = storage
        self._audit = audit
        self._unlocks: dict[str, Unlock] = {}
        for text in storage.load_unlocks():
            unlock = Unlock.from_storage(text)
            self._unlocks[unlock.unlock_id] = unlock
        self.counters = Counters.from_storage(storage.get_meta("counters"))
        self._on_change: list[Callable[[Unlock], None]] = []

    # queries ---------------------------------------------------------------------------------

    def get(self, unlock_id: str) -> Unlock | None:
        return self._unlocks.get(unlock_id)

    def all(self) -> list[Unlock]:
        return list(self._unlocks.values())

    def open_unlocks(self) -> list[Unlock]:
        return [unlock for unlock in self._unlocks.values() if unlock.open]

    def authenticate(self, unlock_id: str, token: str | None) -> Unlock | None:
        """The unlock when `token` is its own access token; constant time in the token."""
        unlock = self._unlocks.get(unlock_id)
        expected = unlock.token_hash if unlock and unlock.token_hash else _DUMMY_HASH
        presented = hash_token(token or "")
        if hmac.compare_digest(expected, presented) and unlock is not None and token:
            return unlock
        return None

    def on_change(self, callback: Callable[[Unlock], None]) -> None:
        self._on_change.append(callback)

    # changes ---------------------------------------------------------------------------------

    def save(self, unlock: Unlock) -> None:
        self._storage.save_unlock(unlock.unlock_id, unlock.to_storage())

    def save_counters(self) -> None:
        self._storage.set_meta("counters", self.counters.to_storage())

    def add(self, unlock: Unlock, now: float, reason: str | None) -> None:
        """Store a new unlock and audit its first status."""
        with self._storage.transaction():
            self._unlocks[unlock.unlock_id] = unlock
            self.save(unlock)
            self._count_status(unlock, None, now)
            self._audit_status(unlock, None, reason)

    def transition(self, unlock: Unlock, status: str, reason: str | None, now: float) -> None:
        if status not in _TRANSITIONS[unlock.status]:
            raise InvalidTransition(f"cannot go from {unlock.status} to {status}")
        previous = unlock.status
        with self._storage.transaction():
            unlock.status = status
            if status == ENDED:
                unlock.ended_reason = reason
            if status != PENDING:
                unlock.decides_by = None
            self.save(unlock)
            self._count_status(unlock, previous, now)
            self._audit_status(unlock, previous, reason)
        for callback in list(self._on_change):
            callback(unlock)

    def remove_camera(self, unlock: Unlock, camera: UnlockCamera) -> None:
        with self._storage.transaction():
            unlock.cameras.remove(camera)
            self.save(unlock)
            self._audit.append(
                "camera_removed",
                {"camera_id": camera.id, "entity_id": camera.entity_id},
                unlock_id=unlock.unlock_id,
                hub=unlock.hub,
            )
        for callback in list(self._on_change):
            callback(unlock)

    def _count_status(self, unlock: Unlock, previous: str | None, now: float) -> None:
        if unlock.status == ACTIVE and previous in (None, PENDING):
            self.counters.values["unlocks_activated"] += 1
            self.counters.last_shared = now
        elif unlock.status == DECLINED:
            self.counters.values["unlocks_declined"] += 1
        self.save_counters()

    def _audit_status(self, unlock: Unlock, previous: str | None, reason: str | None) -> None:
        self._audit.append(
            "unlock_status",
            {
                "status": unlock.status,
                "previous": previous,
                "reason": reason,
                "incident_id": unlock.incident.id,
                "offense": unlock.incident.offense,
                "cameras": [cam.entity_id for cam in unlock.cameras],
                "expires_at": rfc3339(unlock.expires_at),
            },
            unlock_id=unlock.unlock_id,
            hub=unlock.hub,
        )

    # time and policy -------------------------------------------------------------------------

    def reconcile(self, policy: Policy, now: float) -> None:
        """Apply everything due at `now`: expiry, consent, ask timeout, unshared cameras, pause.

        Idempotent; called by the scheduler and before every access, so no access ever depends
        on the scheduler having run.
        """
        for unlock in self.open_unlocks():
            if now >= unlock.expires_at:
                self.transition(unlock, ENDED, "expired", now)
                continue
            if not policy.consent:
                self.transition(unlock, ENDED, "consent_withdrawn", now)
                continue
            decides_by = unlock.decides_by
            if unlock.status == PENDING and decides_by is not None and now >= decides_by:
                self.transition(unlock, DECLINED, "ask_timeout", now)
                continue
            # Pending unlocks too: a camera unshared before approval stays out for good.
            for camera in list(unlock.cameras):
                if not _shared(policy, camera.entity_id):
                    self.remove_camera(unlock, camera)
            if unlock.status == PENDING:
                continue
            paused = policy.paused(now)
            if unlock.status == ACTIVE and paused:
                self.transition(unlock, SUSPENDED, "paused", now)
            elif unlock.status == SUSPENDED and not paused:
                self.transition(unlock, ACTIVE, "resumed", now)

    def check_access(
        self, unlock: Unlock, camera_id: str, capability: str, policy: Policy, now: float
    ) -> tuple[UnlockCamera, CameraPolicy]:
        """Everything that must hold for one snapshot or one stream frame, checked afresh.

        Deliberately re-checks consent, pause, window and share directly instead of trusting
        the status alone: a missed transition can delay an audit entry, never leak a frame.
        """
        self.reconcile(policy, now)
        if unlock.status in TERMINAL or now >= unlock.expires_at:
            raise AccessDenied(410, "gone")
        if not policy.consent:
            raise AccessDenied(410, "gone")
        camera = unlock.camera(camera_id)
        if camera is None:
            raise AccessDenied(404, "not_found")
        if unlock.status != ACTIVE or policy.paused(now) or now < unlock.not_before:
            raise AccessDenied(403, "not_active")
        if capability not in camera.capabilities or capability not in _granted(unlock):
            raise AccessDenied(403, "not_active")
        camera_policy = policy.camera(camera.entity_id)
        if camera_policy is None or not camera_policy.share:
            raise AccessDenied(404, "not_found")
        return camera, camera_policy


def _granted(unlock: Unlock) -> tuple[str, ...]:
    return tuple(capabilities_for(unlock.granted_scope))


def _shared(policy: Policy, entity_id: str) -> bool:
    camera = policy.camera(entity_id)
    return camera is not None and camera.share
