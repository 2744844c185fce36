"""An unlock: one incident's access to this home, as stored and as each side sees it.

`Unlock` is immutable: a change makes a new one (state.py) and memory takes it only once it is
stored. What it served so far (`Traffic`) grows with every frame and is persisted at checkpoints,
so it is kept beside the unlock rather than in it.

Access tokens are random and kept only as SHA-256 hashes, compared with hmac.compare_digest.
Camera ids are random per unlock and never derived from the entity id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from .status import SCOPE_ORDER, Scope, UnlockStatus
from .timefmt import rfc3339
from .tokens import Area, Footage, Incident


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


def capabilities_for(scope: tuple[Scope, ...], *, has_recorder: bool) -> tuple[Scope, ...]:
    """`snapshot`, then as granted `stream`, then `clip` for a camera with a recorder.

    Every grant includes single frames: a snapshot reveals nothing a stream or a clip does not.
    """
    granted = {Scope.SNAPSHOT, *scope}
    if not has_recorder:
        granted.discard(Scope.CLIP)
    return tuple(s for s in SCOPE_ORDER if s in granted)


@dataclass(frozen=True, slots=True)
class UnlockCamera:
    id: str
    entity_id: str
    label: str
    capabilities: tuple[Scope, ...]


@dataclass(slots=True)
class Traffic:
    """What an unlock served; changed only through these methods."""

    snapshots: int = 0
    frames: int = 0
    bytes: int = 0
    clips: int = 0

    def add_snapshot(self, size: int) -> None:
        self.snapshots += 1
        self.bytes += size

    def add_frame(self, size: int) -> None:
        self.frames += 1
        self.bytes += size

    def add_clip(self, size: int) -> None:
        self.clips += 1
        self.bytes += size

    def copy(self) -> Traffic:
        return Traffic(self.snapshots, self.frames, self.bytes, self.clips)


@dataclass(frozen=True, slots=True)
class Unlock:
    unlock_id: str
    hub: str
    hub_name: str
    jti: str
    incident: Incident
    area: Area
    scope: tuple[Scope, ...]  # as asked
    granted_scope: tuple[Scope, ...]
    status: UnlockStatus
    created_at: float
    not_before: float
    expires_at: float
    cameras: tuple[UnlockCamera, ...]
    token_hash: str | None = None
    decides_by: float | None = None
    ended_reason: str | None = None
    footage: Footage | None = None

    @property
    def open(self) -> bool:
        return not self.status.terminal

    def camera(self, camera_id: str) -> UnlockCamera | None:
        return next((cam for cam in self.cameras if cam.id == camera_id), None)

    def to_storage(self, traffic: Traffic) -> str:
        data = asdict(self)
        data["incident"] = self.incident.as_json()
        data["footage"] = None if self.footage is None else self.footage.as_json()
        data.update(snapshots=traffic.snapshots, frames=traffic.frames, bytes=traffic.bytes)
        data["clips"] = traffic.clips
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_storage(cls, text: str) -> tuple[Unlock, Traffic]:
        data = json.loads(text)
        traffic = Traffic(
            snapshots=int(data.pop("snapshots", 0)),
            frames=int(data.pop("frames", 0)),
            bytes=int(data.pop("bytes", 0)),
            clips=int(data.pop("clips", 0)),
        )
        data["incident"] = Incident(**data["incident"])
        data["area"] = Area(**data["area"])
        data["scope"] = tuple(Scope(s) for s in data["scope"])
        data["granted_scope"] = tuple(Scope(s) for s in data["granted_scope"])
        data["status"] = UnlockStatus(data["status"])
        data["cameras"] = tuple(
            UnlockCamera(
                id=cam["id"],
                entity_id=cam["entity_id"],
                label=cam["label"],
                capabilities=tuple(Scope(c) for c in cam["capabilities"]),
            )
            for cam in data["cameras"]
        )
        footage = data.get("footage")
        data["footage"] = None if footage is None else Footage(**footage)
        return cls(**data), traffic


def city_view(unlock: Unlock, status: UnlockStatus, ended_reason: str | None) -> dict[str, Any]:
    """What the city may see (section 3.2) given the unlock's current status: no entity ids,
    nothing about the home, cameras only once it was granted."""
    view: dict[str, Any] = {
        "unlock_id": unlock.unlock_id,
        "status": status.value,
        "expires_at": rfc3339(unlock.expires_at),
        "cameras": [
            {"id": cam.id, "label": cam.label, "capabilities": [c.value for c in cam.capabilities]}
            for cam in unlock.cameras
        ]
        if status not in (UnlockStatus.DECLINED, UnlockStatus.PENDING)
        else [],
    }
    if status is UnlockStatus.ENDED:
        view["ended_reason"] = ended_reason
    return view


def control_view(unlock: Unlock, traffic: Traffic, viewers: int) -> dict[str, Any]:
    """The owner's view (control API state): entity ids and the incident in full."""
    return {
        "unlock_id": unlock.unlock_id,
        "hub": unlock.hub,
        "hub_name": unlock.hub_name,
        "incident": unlock.incident.as_json(),
        "scope": [s.value for s in unlock.granted_scope],
        "footage": None if unlock.footage is None else unlock.footage.as_json(),
        "status": unlock.status.value,
        "ended_reason": unlock.ended_reason,
        "created_at": rfc3339(unlock.created_at),
        "not_before": rfc3339(unlock.not_before),
        "expires_at": rfc3339(unlock.expires_at),
        "decides_by": None if unlock.decides_by is None else rfc3339(unlock.decides_by),
        "cameras": [
            {
                "id": cam.id,
                "entity_id": cam.entity_id,
                "label": cam.label,
                "capabilities": [c.value for c in cam.capabilities],
            }
            for cam in unlock.cameras
        ],
        "viewers": viewers,
        "snapshots": traffic.snapshots,
        "frames": traffic.frames,
        "clips": traffic.clips,
        "bytes": traffic.bytes,
    }
