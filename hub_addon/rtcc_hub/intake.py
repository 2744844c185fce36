"""Unlock intake (PROTOCOL.md section 3.1): verify, rate-limit, decide and record one unlock.

The cost of an unlock does not grow with the unlocks held: the token is checked without
touching storage, the replay and quota look-ups are two indexed queries, the decision is pure,
and recording it is one transaction.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import DomainError, ErrorCode
from .options import HubConfig
from .policy import Accept, Decision, Decline, Pending, Policy, decide
from .refusals import RefusalAudit
from .state import Change, HomeState
from .status import AuditEvent, RefusalReason, UnlockStatus
from .storage import StorageError, jti_seen, quota_count, quota_nth_oldest
from .timefmt import rfc3339
from .tokens import TokenError, UnlockClaims, verify_unlock_token
from .transitions import stage_status_entry
from .unlock import (
    Unlock,
    UnlockCamera,
    capabilities_for,
    city_view,
    new_access_token,
    new_camera_id,
    new_unlock_id,
)

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
QUOTA_WINDOW_S = 7 * 24 * 3600


def read_token(body: bytes) -> str | None:
    """The body's `token`, or None when it is too large, not JSON or has none."""
    if len(body) > MAX_BODY_BYTES:
        return None
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    token = document.get("token") if isinstance(document, dict) else None
    return token if isinstance(token, str) else None


def quota_retry_after(quota: int, nth_oldest: float | None, now: float) -> int:
    """Retry-After of a `429 quota_exceeded`: when enough of the window has freed up.

    The next unlock is possible once all but quota - 1 of the recent ones have left the window
    (the quota may have been lowered below the count): that is the (count - quota)-th oldest
    plus the window. A quota of 0 never allows one: the whole window is answered.
    """
    if quota == 0 or nth_oldest is None:
        return QUOTA_WINDOW_S
    return max(1, math.ceil(nth_oldest + QUOTA_WINDOW_S - now))


@dataclass(frozen=True, slots=True)
class _Lookup:
    seen: bool
    count: int


def new_unlock(
    claims: UnlockClaims, decision: Decision, policy: Policy, hub_name: str, now: float
) -> tuple[Unlock, str | None]:
    """The unlock a decision makes, and its access token (none when declined)."""
    base = Unlock(
        unlock_id=new_unlock_id(),
        hub=claims.iss,
        hub_name=hub_name,
        jti=claims.jti,
        incident=claims.incident,
        area=claims.area,
        scope=claims.scope,
        granted_scope=claims.scope,
        status=UnlockStatus.DECLINED,
        created_at=now,
        not_before=claims.nbf,
        expires_at=claims.exp,
        cameras=(),
        footage=claims.footage,
    )
    if isinstance(decision, Decline):
        return base, None
    token, token_hash = new_access_token()
    cameras = tuple(
        UnlockCamera(
            id=new_camera_id(),
            entity_id=camera.entity_id,
            label=policy.public_label(camera),
            capabilities=capabilities_for(
                decision.granted_scope, has_recorder=camera.recorder is not None
            ),
        )
        for camera in decision.cameras
    )
    pending = isinstance(decision, Pending)
    granted = replace(
        base,
        token_hash=token_hash,
        granted_scope=decision.granted_scope,
        cameras=cameras,
        status=UnlockStatus.PENDING if pending else UnlockStatus.ACTIVE,
        decides_by=decision.decides_by if isinstance(decision, Pending) else None,
    )
    return granted, token


def unlock_answer(unlock: Unlock, access_token: str | None) -> dict[str, Any]:
    """The body of `201` to `POST /api/v1/unlocks` (section 3.1): cameras only when active,
    and nothing that tells a decline's reason."""
    body: dict[str, Any] = {
        "unlock_id": unlock.unlock_id,
        "status": unlock.status.value,
        "expires_at": rfc3339(unlock.expires_at),
    }
    if access_token is not None:
        body["access_token"] = access_token
    if unlock.status is UnlockStatus.ACTIVE:
        body["cameras"] = city_view(unlock, unlock.status, None)["cameras"]
    return body


class UnlockIntake:
    def __init__(self, state: HomeState, hubs: Sequence[HubConfig], refusals: RefusalAudit) -> None:
        self._state = state
        self._hubs = tuple(hubs)
        self._refusals = refusals

    async def submit(self, body: bytes, client: str, only_hub: str | None = None) -> dict[str, Any]:
        """The 201 body for one `POST /api/v1/unlocks`, or DomainError (400/401/429/503).

        `client` keys the flood control; `only_hub` (a relay) accepts only that hub's tokens.
        """
        token = read_token(body)
        if token is None:
            # Every unlock received is audited, an unreadable one too (PROTOCOL.md section 5).
            await self._refusals.unsigned(RefusalReason.INVALID_REQUEST, 400, client)
            raise DomainError(ErrorCode.INVALID_REQUEST)
        claims = await self._verify(token, client)
        if only_hub is not None and claims.iss != only_hub:
            await self._refusals.signed(RefusalReason.WRONG_RELAY, 401, claims.iss)
            raise DomainError(ErrorCode.INVALID_TOKEN)
        return await self._record(claims)

    async def _verify(self, token: str, client: str) -> UnlockClaims:
        state = self._state
        try:
            return verify_unlock_token(token, self._hubs, state.home_id, state.clock())
        except TokenError as err:
            await self._refusals.unsigned(err.reason, 401, client, err.hub)
        except Exception:
            # Backstop: whatever a validly shaped body makes the verifier trip over is a
            # refused, audited token, never a 500 without a trace in the audit log.
            _LOGGER.exception("unlock token verification failed unexpectedly")
            await self._refusals.unsigned(RefusalReason.MALFORMED, 401, client)
        raise DomainError(ErrorCode.INVALID_TOKEN)

    async def _record(self, claims: UnlockClaims) -> dict[str, Any]:
        state = self._state
        hub = claims.iss
        refusal: tuple[RefusalReason, DomainError] | None = None
        async with state.change() as change:
            # Under the change's lock nothing else is recorded between these reads and the
            # commit: a jti cannot be claimed twice, the quota cannot be overrun.
            quota = change.policy.max_unlocks_per_week
            since = change.now - QUOTA_WINDOW_S

            def lookup(conn: Any) -> _Lookup:
                count = quota_count(conn, hub, since)
                return _Lookup(jti_seen(conn, hub, claims.jti), count)

            try:
                found = await state.store.read(lookup)
            except StorageError as err:
                raise DomainError(ErrorCode.UNAVAILABLE) from err
            # Unlocks staged before this one and not yet stored count too (group commit): they
            # are the newest, after every stored one.
            pending = change.quota_pending(hub, since)
            count = found.count + len(pending)
            if found.seen or change.jti_pending(hub, claims.jti):
                refusal = (RefusalReason.REPLAYED_JTI, DomainError(ErrorCode.INVALID_TOKEN))
            elif count >= quota:
                nth = count - quota  # from the oldest: it must leave the window first
                oldest: float | None = None
                if quota > 0 and nth < found.count:
                    try:
                        oldest = await state.store.read(
                            lambda conn: quota_nth_oldest(conn, hub, since, nth)
                        )
                    except StorageError as err:
                        raise DomainError(ErrorCode.UNAVAILABLE) from err
                elif quota > 0:
                    oldest = pending[nth - found.count]
                retry = quota_retry_after(quota, oldest, change.now)
                refusal = (
                    RefusalReason.QUOTA_EXCEEDED,
                    DomainError(ErrorCode.QUOTA_EXCEEDED, headers={"Retry-After": str(retry)}),
                )
            if refusal is not None:
                reason, error = refusal
                change.audit(
                    AuditEvent.UNLOCK_REFUSED,
                    {"reason": reason.value, "status": error.status},
                    hub=hub,
                )
            else:
                unlock, token = self._stage_new(change, claims)
        if refusal is not None:
            raise refusal[1]
        return unlock_answer(unlock, token)

    def _stage_new(self, change: Change, claims: UnlockClaims) -> tuple[Unlock, str | None]:
        now, policy = change.now, change.policy
        change.claim_jti(claims.iss, claims.jti, claims.exp)
        change.record_unlock_time(claims.iss, now)
        decision = decide(policy, claims, now)
        hub_config = next((h for h in self._hubs if h.id == claims.iss), None)
        unlock, token = new_unlock(
            claims, decision, policy, hub_config.name if hub_config else claims.iss, now
        )
        detail: dict[str, Any] = {
            "jti": claims.jti,
            "incident": claims.incident.as_json(),
            "area": claims.area.as_json(),
            "scope": [s.value for s in claims.scope],
            "not_before": rfc3339(claims.nbf),
            "expires_at": rfc3339(claims.exp),
        }
        if claims.footage is not None:
            detail["footage"] = claims.footage.as_json()
        if isinstance(decision, Accept | Pending) and unlock.granted_scope != claims.scope:
            detail["granted_scope"] = [s.value for s in unlock.granted_scope]
        change.audit(AuditEvent.UNLOCK_RECEIVED, detail, unlock_id=unlock.unlock_id, hub=claims.iss)
        change.put_unlock(unlock)
        status = unlock.status
        change.counters(lambda counters: counters.unlock_received())
        change.counters(lambda counters: counters.status_changed(status, None, now))
        reason = decision.reason if isinstance(decision, Decline) else None
        stage_status_entry(change, unlock, None, reason)
        return unlock, token
