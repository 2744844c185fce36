"""The owner's control (PROTOCOL.md section 4), whatever carries it: state, policy, decisions."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .access import CityAccess
from .audit import Entry, Listener, VerifyResult, verify_rows
from .errors import DomainError, ErrorCode
from .imaging import OutputSpec
from .lifecycle import InvalidTransition, due_by_time
from .options import HubConfig
from .policy import Policy, PolicyError, PreviewRequest, changed_fields, parse_policy
from .state import Change, HomeState
from .status import AuditEvent, DeclineReason, EndReason, UnlockStatus
from .storage import audit_rows
from .transitions import run_due, stage_policy_effects, stage_transition
from .unlock import Unlock, control_view

_LOGGER = logging.getLogger(__name__)

type RelayStatus = Callable[[], list[dict[str, Any]]]
type ClipsOf = Callable[[str], list[dict[str, Any]]]

_OPEN = (UnlockStatus.PENDING, UnlockStatus.ACTIVE, UnlockStatus.SUSPENDED)


class OwnerControl:
    def __init__(
        self,
        state: HomeState,
        access: CityAccess,
        hubs: Sequence[HubConfig],
        *,
        relays: RelayStatus = lambda: [],
        clips: ClipsOf = lambda unlock_id: [],
    ) -> None:
        self._state = state
        self._access = access
        self._hubs = tuple(hubs)
        self._relays = relays
        self._clips = clips

    async def state_view(self) -> dict[str, Any]:
        state = self._state
        # Show what is due as done (cheap when nothing is); a busy database must not keep the
        # owner from seeing the state.
        with contextlib.suppress(DomainError):
            await run_due(state)
        return {
            "home_id": state.home_id,
            "policy": state.policy.as_json(),
            "unlocks": [self._view(unlock) for unlock in state.ledger.open_unlocks()],
            "counters": state.counters.as_json(open_streams=len(self._access.sessions)),
            # The configured hubs by name (no keys): the audit log names hubs by id only.
            "hubs": [{"id": hub.id, "name": hub.name} for hub in self._hubs],
            "relays": [
                {**relay, "hub_name": self._hub_name(str(relay["hub"]))} for relay in self._relays()
            ],
        }

    def _hub_name(self, hub_id: str) -> str:
        return next((hub.name for hub in self._hubs if hub.id == hub_id), hub_id)

    def _view(self, unlock: Unlock) -> dict[str, Any]:
        traffic = self._state.ledger.traffic(unlock.unlock_id)
        view = control_view(unlock, traffic, self._access.viewers_of(unlock.unlock_id))
        return {**view, "clips": self._clips(unlock.unlock_id)}

    async def put_policy(self, raw: Any) -> Policy:
        """Validate and store a policy; it takes effect on live access at once."""
        try:
            new = parse_policy(raw)
        except PolicyError as err:
            raise DomainError(ErrorCode.INVALID_POLICY, str(err)) from err
        async with self._state.change() as change:
            old = change.policy
            if new == old:
                return old
            new = replace(new, revision=old.revision + 1)
            change.set_policy(new)
            change.audit(
                AuditEvent.POLICY_CHANGED,
                {"revision": new.revision, "changed": changed_fields(old, new)},
            )
            for unlock in change.open_unlocks():
                stage_policy_effects(change, unlock, new)
        return new

    async def approve(self, unlock_id: str) -> dict[str, Any]:
        return await self._decide(unlock_id, _approve)

    async def decline(self, unlock_id: str) -> dict[str, Any]:
        return await self._decide(
            unlock_id,
            lambda change, unlock: stage_transition(
                change,
                _only(unlock, UnlockStatus.PENDING),
                UnlockStatus.DECLINED,
                DeclineReason.OWNER_DECLINED,
            ),
        )

    async def revoke(self, unlock_id: str) -> dict[str, Any]:
        return await self._decide(
            unlock_id,
            lambda change, unlock: stage_transition(
                change, _only(unlock, *_OPEN), UnlockStatus.ENDED, EndReason.REVOKED
            ),
        )

    async def revoke_all(self) -> dict[str, Any]:
        revoked: list[str] = []
        async with self._state.change() as change:
            for unlock in change.open_unlocks():
                current = _with_due(change, unlock)
                if current.open:
                    stage_transition(change, current, UnlockStatus.ENDED, EndReason.REVOKED)
                    revoked.append(unlock.unlock_id)
        return {"revoked": revoked}

    async def _decide(
        self, unlock_id: str, act: Callable[[Change, Unlock], Unlock]
    ) -> dict[str, Any]:
        async with self._state.change() as change:
            unlock = change.unlock(unlock_id)
            if unlock is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such unlock.")
            try:
                result = act(change, _with_due(change, unlock))
            except InvalidTransition as err:
                raise DomainError(ErrorCode.CONFLICT, str(err)) from err
        return self._view(self._state.ledger.get(result.unlock_id) or result)

    async def preview(self, request: PreviewRequest) -> bytes:
        """The camera's current still through exactly the pipeline a city snapshot takes, with
        the given masks and width. Nothing is shared and nothing is audited as served."""
        camera = self._state.policy.camera(request.entity_id)
        masks = request.masks if request.masks is not None else (camera.masks if camera else ())
        if request.max_width_given:
            max_width = request.max_width
        else:
            max_width = camera.max_width if camera else None
        return await self._access.image(
            request.entity_id, OutputSpec(masks=masks, max_width=max_width)
        )

    async def history(self, after: int, limit: int) -> list[Entry]:
        rows = await self._state.store.read(lambda conn: audit_rows(conn, after, limit))
        return [json.loads(text) for _, text in rows]

    async def verify(self) -> VerifyResult:
        return await self._state.store.read(lambda conn: verify_rows(audit_rows(conn)))

    @property
    def head_seq(self) -> int:
        return self._state.audit.head.seq

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._state.audit.subscribe(listener)


def _with_due(change: Change, unlock: Unlock) -> Unlock:
    """`unlock` after what time has brought (expiry, ask timeout), staged on `change`."""
    due = due_by_time(unlock, change.policy, change.now)
    if due is not None and due.status.terminal:
        return stage_transition(change, unlock, due.status, due.reason)
    return unlock


def _only(unlock: Unlock, *allowed: UnlockStatus) -> Unlock:
    if unlock.status not in allowed:
        raise DomainError(ErrorCode.CONFLICT, f"The unlock is {unlock.status.value}.")
    return unlock


def _approve(change: Change, unlock: Unlock) -> Unlock:
    approved = stage_transition(
        change, _only(unlock, UnlockStatus.PENDING), UnlockStatus.ACTIVE, None
    )
    # A pause or an unshared camera applies at once.
    return stage_policy_effects(change, approved, change.policy)
