"""Status changes of unlocks, staged on a change with their audit entries and counts."""

from __future__ import annotations

from dataclasses import replace

from .lifecycle import Reason, RemoveCamera, Transition, due_by_time, policy_effects, transitioned
from .policy import Policy
from .state import Change, HomeState
from .status import AuditEvent, UnlockStatus
from .timefmt import rfc3339
from .unlock import Unlock, UnlockCamera


def stage_transition(
    change: Change, unlock: Unlock, status: UnlockStatus, reason: Reason
) -> Unlock:
    """Stage `unlock` going to `status` (InvalidTransition when it cannot); the new version."""
    new = transitioned(unlock, status, reason)
    change.put_unlock(new)
    previous, now = unlock.status, change.now
    change.counters(lambda counters: counters.status_changed(status, previous, now))
    stage_status_entry(change, new, previous, reason)
    return new


def stage_status_entry(
    change: Change, unlock: Unlock, previous: UnlockStatus | None, reason: Reason
) -> None:
    change.audit(
        AuditEvent.UNLOCK_STATUS,
        {
            "status": unlock.status.value,
            "previous": None if previous is None else previous.value,
            "reason": None if reason is None else reason.value,
            "incident_id": unlock.incident.id,
            "offense": unlock.incident.offense,
            "cameras": [cam.entity_id for cam in unlock.cameras],
            "expires_at": rfc3339(unlock.expires_at),
        },
        unlock_id=unlock.unlock_id,
        hub=unlock.hub,
    )


def stage_camera_removed(change: Change, unlock: Unlock, camera: UnlockCamera) -> Unlock:
    new = replace(unlock, cameras=tuple(cam for cam in unlock.cameras if cam.id != camera.id))
    change.put_unlock(new)
    change.audit(
        AuditEvent.CAMERA_REMOVED,
        {"camera_id": camera.id, "entity_id": camera.entity_id},
        unlock_id=unlock.unlock_id,
        hub=unlock.hub,
    )
    return new


def stage_policy_effects(change: Change, unlock: Unlock, policy: Policy) -> Unlock:
    """Stage everything `policy` (and the time) does to `unlock` now."""
    for effect in list(policy_effects(unlock, policy, change.now)):
        if isinstance(effect, RemoveCamera):
            unlock = stage_camera_removed(change, unlock, effect.camera)
        elif isinstance(effect, Transition):
            unlock = stage_transition(change, unlock, effect.status, effect.reason)
    return unlock


async def run_due(state: HomeState) -> int:
    """Write the time-driven changes that are due: expiries, ask timeouts, ends of pauses.

    Costs nothing when nothing is due (the ledger's deadline heap, and the suspended set only
    while a pause has ended). Returns the number of unlocks changed.
    """
    now = state.clock()
    popped = state.ledger.due(now)
    due = {unlock.unlock_id: unlock for unlock in popped}
    if not state.policy.paused(now):
        due.update((u.unlock_id, u) for u in state.ledger.in_status(UnlockStatus.SUSPENDED))
    if not due:
        return 0
    changed = 0
    try:
        async with state.change() as change:
            for unlock in due.values():
                current = change.unlock(unlock.unlock_id) or unlock
                transition = due_by_time(current, change.policy, change.now)
                if transition is not None:
                    stage_transition(change, current, transition.status, transition.reason)
                    changed += 1
    except BaseException:
        # Not written (the disk is full, say): keep their deadlines for the next tick.
        state.ledger.requeue(popped)
        raise
    return changed
