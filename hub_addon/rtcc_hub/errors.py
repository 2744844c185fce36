"""Domain errors and the one table that turns them into statuses.

Services raise `DomainError(ErrorCode.X)`; the transports never decide a status themselves:
the HTTP APIs answer `STATUS[code]` and a relay sends the same number as its `status` user
property (PROTOCOL.md section 6: "the HTTP status code in decimal"). Nothing here knows of
aiohttp or MQTT.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    QUOTA_EXCEEDED = "quota_exceeded"
    NOT_ACTIVE = "not_active"
    NOT_FOUND = "not_found"
    GONE = "gone"
    CAMERA_UNAVAILABLE = "camera_unavailable"
    BUSY = "busy"
    NOT_READY = "not_ready"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"  # a write failed (disk full, database locked, I/O error)
    INTERNAL_ERROR = "internal_error"
    # control API only
    UNAUTHORIZED = "unauthorized"
    INVALID_POLICY = "invalid_policy"
    CONFLICT = "conflict"


STATUS: Mapping[ErrorCode, int] = MappingProxyType(
    {
        ErrorCode.INVALID_REQUEST: 400,
        ErrorCode.INVALID_POLICY: 400,
        ErrorCode.INVALID_TOKEN: 401,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.NOT_ACTIVE: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.METHOD_NOT_ALLOWED: 405,
        ErrorCode.CONFLICT: 409,
        ErrorCode.NOT_READY: 409,
        ErrorCode.GONE: 410,
        ErrorCode.QUOTA_EXCEEDED: 429,
        ErrorCode.BUSY: 429,
        ErrorCode.INTERNAL_ERROR: 500,
        ErrorCode.CAMERA_UNAVAILABLE: 503,
        ErrorCode.UNAVAILABLE: 503,
    }
)

# Fixed texts: a message to the city must never carry a decline reason, the home's location,
# entity ids or anything of Home Assistant, so none is ever built from internal data.
MESSAGES: Mapping[ErrorCode, str] = MappingProxyType(
    {
        ErrorCode.INVALID_REQUEST: "The request is not of the form the protocol describes.",
        ErrorCode.INVALID_TOKEN: "The token or credentials were not accepted.",
        ErrorCode.QUOTA_EXCEEDED: "Too many unlocks from this hub in the last 7 days; retry later.",
        ErrorCode.NOT_ACTIVE: "This unlock does not allow this access now.",
        ErrorCode.NOT_FOUND: "Not found.",
        ErrorCode.GONE: "This unlock has ended.",
        ErrorCode.CAMERA_UNAVAILABLE: "The camera cannot give an image right now.",
        ErrorCode.BUSY: "Too many requests at once; retry later.",
        ErrorCode.NOT_READY: "Not ready yet.",
        ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed.",
        ErrorCode.UNAVAILABLE: "Temporarily unavailable; retry later.",
        ErrorCode.INTERNAL_ERROR: "Internal error.",
        ErrorCode.UNAUTHORIZED: "A valid control token is required.",
        ErrorCode.INVALID_POLICY: "The policy is invalid.",
        ErrorCode.CONFLICT: "The unlock's status does not allow this.",
    }
)


class DomainError(Exception):
    """A request is refused. `message` is a fixed text for the city; the control API may give
    a specific one (it names the field of an invalid policy, the status of an unlock)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code.value)
        self.code = code
        self.message = message if message is not None else MESSAGES[code]
        self.headers: Mapping[str, str] = dict(headers or {})

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, str]:
        return {"error": self.code.value, "message": self.message}


def status_code(code: ErrorCode) -> int:
    return STATUS[code]


def code_for_status(status: int) -> ErrorCode:
    """The error code for a status the web framework raised on its own (404, 405, 413 ...)."""
    if status == 401:
        return ErrorCode.UNAUTHORIZED
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status == 405:
        return ErrorCode.METHOD_NOT_ALLOWED
    if status >= 500:
        return ErrorCode.INTERNAL_ERROR
    return ErrorCode.INVALID_REQUEST
