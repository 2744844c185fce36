"""The unlock state machine and the access rules, as pure functions (no I/O, no clock).

    pending ─► active ⇄ suspended ─► ended
       │                  ▲
       ├─► declined       │ (pending, active and suspended may all end)
       └──────────────────┘

Policy decisions the protocol leaves open (DESIGN.md):
- consent withdrawn ends every unlock not yet ended, pending ones included, with
  `consent_withdrawn` (a pending request has no standing consent to wait on);
- a camera set to `share: false` (or dropped from the policy) is removed from every existing
  unlock for good: sharing it again later does not bring it back into those unlocks;
- a pending unlock stays pending during a pause (the owner may still decide); an approved one
  then starts suspended.

Time-driven changes (expiry, the ask timeout, the end of a pause) are written by the scheduler,
a little after they are due. Nothing waits for that: `current_status` says what the status is
at `now` whatever has been written, and `check_access` re-checks consent, pause, window and
share directly, so a late write can delay an audit entry, never leak a frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from .errors import DomainError, ErrorCode
from .policy import Policy
from .status import DeclineReason, EndReason, Scope, SuspendReason, UnlockStatus
from .unlock import Unlock, UnlockCamera

type Reason = EndReason | DeclineReason | SuspendReason | None

_TRANSITIONS: dict[UnlockStatus, frozenset[UnlockStatus]] = {
    UnlockStatus.PENDING: frozenset(
        {UnlockStatus.ACTIVE, UnlockStatus.DECLINED, UnlockStatus.ENDED}
    ),
    UnlockStatus.ACTIVE: frozenset({UnlockStatus.SUSPENDED, UnlockStatus.ENDED}),
    UnlockStatus.SUSPENDED: frozenset({UnlockStatus.ACTIVE, UnlockStatus.ENDED}),
    UnlockStatus.DECLINED: frozenset(),
    UnlockStatus.ENDED: frozenset(),
}


class InvalidTransition(Exception):
    """The unlock's status does not allow this change (control API 409)."""


def transitioned(unlock: Unlock, status: UnlockStatus, reason: Reason) -> Unlock:
    if status not in _TRANSITIONS[unlock.status]:
        raise InvalidTransition(f"cannot go from {unlock.status} to {status}")
    return replace(
        unlock,
        status=status,
        ended_reason=reason.value if status is UnlockStatus.ENDED and reason else None,
        decides_by=unlock.decides_by if status is UnlockStatus.PENDING else None,
    )


@dataclass(frozen=True, slots=True)
class Transition:
    """A status change that is due (or that the owner or the city asked for)."""

    status: UnlockStatus
    reason: Reason


@dataclass(frozen=True, slots=True)
class RemoveCamera:
    camera: UnlockCamera


type Effect = Transition | RemoveCamera


def due_by_time(unlock: Unlock, policy: Policy, now: float) -> Transition | None:
    """The change `now` brings on its own: expiry, ask timeout, the end of a pause."""
    if not unlock.open:
        return None
    if now >= unlock.expires_at:
        return Transition(UnlockStatus.ENDED, EndReason.EXPIRED)
    if (
        unlock.status is UnlockStatus.PENDING
        and unlock.decides_by is not None
        and now >= unlock.decides_by
    ):
        return Transition(UnlockStatus.DECLINED, DeclineReason.ASK_TIMEOUT)
    if unlock.status is UnlockStatus.SUSPENDED and policy.consent and not policy.paused(now):
        return Transition(UnlockStatus.ACTIVE, SuspendReason.RESUMED)
    return None


def policy_effects(unlock: Unlock, policy: Policy, now: float) -> Iterator[Effect]:
    """What `policy` does to an open unlock at `now`, in order: its end, cameras leaving it,
    suspension or resumption."""
    if not unlock.open:
        return
    due = due_by_time(unlock, policy, now)
    if due is not None and due.status is not UnlockStatus.ACTIVE:
        yield due
        return
    if not policy.consent:
        yield Transition(UnlockStatus.ENDED, EndReason.CONSENT_WITHDRAWN)
        return
    # Pending unlocks too: a camera unshared before approval stays out for good.
    for camera in unlock.cameras:
        if not policy.shared(camera.entity_id):
            yield RemoveCamera(camera)
    if unlock.status is UnlockStatus.ACTIVE and policy.paused(now):
        yield Transition(UnlockStatus.SUSPENDED, SuspendReason.PAUSED)
    elif due is not None:
        yield due


def current_status(unlock: Unlock, policy: Policy, now: float) -> tuple[UnlockStatus, str | None]:
    """The status and end reason at `now`, before the scheduler has written what is due."""
    for effect in policy_effects(unlock, policy, now):
        if isinstance(effect, Transition):
            reason = effect.reason.value if effect.reason is not None else None
            ended = reason if effect.status is UnlockStatus.ENDED else None
            return effect.status, ended
    return unlock.status, unlock.ended_reason


def check_access(
    unlock: Unlock, camera_id: str, capability: Scope, policy: Policy, now: float
) -> UnlockCamera:
    """Everything that must hold for one snapshot, stream frame or clip, checked afresh.

    Works on the status at `now` (what the scheduler may not have written yet) and re-checks
    consent, pause, window and share directly besides. Order: ended (410), unknown camera
    (404), not active now or not in the granted scope (403), camera no longer shared (404).
    """
    status, _ = current_status(unlock, policy, now)
    if status.terminal or now >= unlock.expires_at or not policy.consent:
        raise DomainError(ErrorCode.GONE)
    camera = unlock.camera(camera_id)
    if camera is None:
        raise DomainError(ErrorCode.NOT_FOUND)
    require_active(unlock, capability, policy, now)
    if capability not in camera.capabilities or not policy.shared(camera.entity_id):
        raise DomainError(ErrorCode.NOT_FOUND)
    return camera


def require_active(unlock: Unlock, capability: Scope, policy: Policy, now: float) -> None:
    """403 unless the unlock is active now and its granted scope has `capability`."""
    status, _ = current_status(unlock, policy, now)
    if (
        status is not UnlockStatus.ACTIVE
        or policy.paused(now)
        or now < unlock.not_before
        or (capability is not Scope.SNAPSHOT and capability not in unlock.granted_scope)
    ):
        raise DomainError(ErrorCode.NOT_ACTIVE)
