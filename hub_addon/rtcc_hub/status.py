"""The names the protocol and the audit log use, as enums (never as bare strings in the code)."""

from __future__ import annotations

from enum import StrEnum


class UnlockStatus(StrEnum):
    """PROTOCOL.md section 3.2: `status` of an unlock."""

    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECLINED = "declined"
    ENDED = "ended"

    @property
    def terminal(self) -> bool:
        return self in (UnlockStatus.DECLINED, UnlockStatus.ENDED)


class EndReason(StrEnum):
    """`ended_reason` of an ended unlock (section 3.2)."""

    EXPIRED = "expired"
    REVOKED = "revoked"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    HUB_CLOSED = "hub_closed"


class DeclineReason(StrEnum):
    """Why an unlock was declined: audited for the owner, never told to the city."""

    CONSENT_OFF = "consent_off"
    PAUSED = "paused"
    RADIUS_TOO_LARGE = "radius_too_large"
    OUTSIDE_AREA = "outside_area"
    DURATION_TOO_LONG = "duration_too_long"
    EXCLUDED_OFFENSE = "excluded_offense"
    CASE_NUMBER_REQUIRED = "case_number_required"
    STREAM_NOT_ALLOWED = "stream_not_allowed"
    CLIP_NOT_ALLOWED = "clip_not_allowed"
    FOOTAGE_TOO_LONG = "footage_too_long"
    FOOTAGE_TOO_OLD = "footage_too_old"
    NO_CAMERA_SHARED = "no_camera_shared"
    OWNER_DECLINED = "owner_declined"
    ASK_TIMEOUT = "ask_timeout"


class SuspendReason(StrEnum):
    """`reason` of the transitions between active and suspended."""

    PAUSED = "paused"
    RESUMED = "resumed"


class Scope(StrEnum):
    """What an unlock asks for and is granted (section 3.1), in the protocol's order."""

    SNAPSHOT = "snapshot"
    STREAM = "stream"
    CLIP = "clip"


# The order scopes and capabilities are listed in.
SCOPE_ORDER: tuple[Scope, ...] = (Scope.SNAPSHOT, Scope.STREAM, Scope.CLIP)


class AuditEvent(StrEnum):
    """`event` of an audit entry (section 5; DESIGN.md lists the details)."""

    SERVICE_STARTED = "service_started"
    STORAGE_FOUND_EMPTY = "storage_found_empty"
    UNLOCK_REFUSED = "unlock_refused"
    UNLOCK_RECEIVED = "unlock_received"
    UNLOCK_STATUS = "unlock_status"
    CAMERA_REMOVED = "camera_removed"
    SNAPSHOT_SERVED = "snapshot_served"
    STREAM_OPENED = "stream_opened"
    STREAM_CLOSED = "stream_closed"
    CLIP_REQUESTED = "clip_requested"
    CLIP_PREPARED = "clip_prepared"
    CLIP_SERVED = "clip_served"
    CLIP_DELETED = "clip_deleted"
    RELAY_CONNECTED = "relay_connected"
    RELAY_LOST = "relay_lost"
    RELAY_FAILED = "relay_failed"
    RELAY_REQUEST_DROPPED = "relay_request_dropped"
    POLICY_CHANGED = "policy_changed"


class RefusalReason(StrEnum):
    """`unlock_refused.detail.reason`: why a request never became an unlock."""

    INVALID_REQUEST = "invalid_request"
    MALFORMED = "malformed"
    BAD_ALGORITHM = "bad_algorithm"
    UNKNOWN_ISSUER = "unknown_issuer"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED_CLAIMS = "malformed_claims"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_RELAY = "wrong_relay"
    IAT_OUT_OF_RANGE = "iat_out_of_range"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WINDOW_TOO_LONG = "window_too_long"
    REPLAYED_JTI = "replayed_jti"
    QUOTA_EXCEEDED = "quota_exceeded"
    RATE_LIMITED = "rate_limited"
