"""Unlock token verification (PROTOCOL.md section 3.1): Ed25519 JWS, key pinned per hub.

PyJWT verifies the signature; it knows Ed25519 as `EdDSA` only, so `Ed25519` (the fully
specified name from RFC 9864) is registered as an alias on a private PyJWS instance. Claims are
checked here rather than by PyJWT's claim validation because the protocol's time rules differ
(`iat` within 60 s on both sides, `exp - nbf` at most 24 h) and every claim is validated strictly
by shape. The jti replay check needs storage and is done by the caller.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import voluptuous as vol
from jwt.algorithms import OKPAlgorithm

from .options import HubConfig
from .status import SCOPE_ORDER, RefusalReason, Scope

ALLOWED_ALGORITHMS = ("EdDSA", "Ed25519")
CLOCK_SKEW_S = 60
MAX_WINDOW_S = 24 * 3600
# The body is at most 16 KiB (PROTOCOL.md 3.1); that, not per-claim limits, bounds the sizes.
MAX_TOKEN_CHARS = 16 * 1024
MAX_FOOTAGE_S = 2 * 3600

_JWS = jwt.PyJWS(algorithms=["EdDSA"])
_JWS.register_algorithm("Ed25519", OKPAlgorithm())


class TokenError(Exception):
    """The token is refused (401 invalid_token). `reason` goes to the audit log only."""

    def __init__(self, reason: RefusalReason, hub: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hub = hub


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    offense: str
    case_number: str | None = None
    summary: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "offense": self.offense}
        if self.case_number is not None:
            data["case_number"] = self.case_number
        if self.summary is not None:
            data["summary"] = self.summary
        return data


@dataclass(frozen=True, slots=True)
class Area:
    lat: float
    lon: float
    radius_m: float

    def as_json(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "radius_m": self.radius_m}


@dataclass(frozen=True, slots=True)
class Footage:
    """The recorded window a clip unlock asks for (Unix seconds)."""

    start: int
    end: int

    def as_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class UnlockClaims:
    iss: str
    jti: str
    iat: float
    nbf: float
    exp: float
    incident: Incident
    area: Area
    scope: tuple[Scope, ...]
    footage: Footage | None = None


# Larger integers cannot be compared with floats exactly (10**400 overflows float()); no time,
# coordinate or radius needs them.
MAX_INTEGER = 2**53


def _number(value: Any) -> float:
    # bool is an int subclass; a claim of `true` is not a time or a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid("must be a number")
    if isinstance(value, int) and abs(value) > MAX_INTEGER:
        raise vol.Invalid("integer out of range")
    if not math.isfinite(value):
        raise vol.Invalid("must be finite")
    return float(value)


def _utf8(value: Any) -> str:
    """A string that UTF-8 can encode: JSON's \\ud800 escapes give lone surrogates otherwise."""
    if not isinstance(value, str):
        raise vol.Invalid("must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise vol.Invalid("must be valid Unicode text") from err
    return value


def _text(value: Any) -> str:
    text = _utf8(value)
    if not text:
        raise vol.Invalid("must not be empty")
    return text


def _optional_text(value: Any) -> str | None:
    """An optional string claim: null and "" mean absent."""
    if value is None or value == "":
        return None
    return _utf8(value)


def _scope(value: Any) -> tuple[Scope, ...]:
    if not isinstance(value, list) or not value:
        raise vol.Invalid("must be a non-empty list")
    names = [scope.value for scope in SCOPE_ORDER]
    if any(item not in names for item in value) or len(set(value)) != len(value):
        raise vol.Invalid("must be a subset of snapshot, stream, clip")
    return tuple(scope for scope in SCOPE_ORDER if scope.value in value)


def _unix_seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INTEGER:
        raise vol.Invalid("must be an integer number of seconds")
    return value


_CLAIMS = vol.Schema(
    {
        vol.Required("iss"): _text,
        vol.Required("aud"): vol.Any(_text, [_text]),
        vol.Required("jti"): _text,
        vol.Required("iat"): _number,
        vol.Required("nbf"): _number,
        vol.Required("exp"): _number,
        # Unknown keys inside `incident` and `area` are allowed and dropped: nothing reads or
        # stores them.
        vol.Required("incident"): vol.Schema(
            {
                vol.Required("id"): _text,
                vol.Required("offense"): _text,
                vol.Optional("case_number"): _optional_text,
                vol.Optional("summary"): _optional_text,
            },
            extra=vol.REMOVE_EXTRA,
        ),
        vol.Required("area"): vol.Schema(
            {
                vol.Required("lat"): vol.All(_number, vol.Range(min=-90, max=90)),
                vol.Required("lon"): vol.All(_number, vol.Range(min=-180, max=180)),
                vol.Required("radius_m"): vol.All(_number, vol.Range(min=0, min_included=False)),
            },
            extra=vol.REMOVE_EXTRA,
        ),
        vol.Required("scope"): _scope,
        # Required with `clip` in the scope, absent otherwise (checked below).
        vol.Optional("footage"): vol.Schema(
            {vol.Required("start"): _unix_seconds, vol.Required("end"): _unix_seconds}
        ),
    },
    extra=vol.ALLOW_EXTRA,  # other registered claims may appear; nothing reads them
)


def verify_unlock_token(
    token: Any, hubs: Sequence[HubConfig], home_id: str, now: float
) -> UnlockClaims:
    """Verify signature, issuer, audience, time rules and claim shapes; raise TokenError."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError(RefusalReason.MALFORMED)
    try:
        header = _JWS.get_unverified_header(token)
        # Only to pick the pinned key; nothing else is read before the signature checks out.
        unverified = json.loads(
            _JWS.decode_complete(token, options={"verify_signature": False})["payload"]
        )
    except (jwt.PyJWTError, ValueError, TypeError) as err:
        raise TokenError(RefusalReason.MALFORMED) from err
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise TokenError(RefusalReason.BAD_ALGORITHM)
    issuer = unverified.get("iss") if isinstance(unverified, dict) else None
    hub = next((h for h in hubs if isinstance(issuer, str) and h.id == issuer), None)
    if hub is None:
        raise TokenError(RefusalReason.UNKNOWN_ISSUER)
    if hub.kid is not None and header.get("kid") != hub.kid:
        raise TokenError(RefusalReason.UNKNOWN_KID, hub.id)
    try:
        payload = _JWS.decode_complete(token, hub.public_key, algorithms=[header["alg"]])["payload"]
        raw = json.loads(payload)
    except jwt.InvalidSignatureError as err:
        raise TokenError(RefusalReason.BAD_SIGNATURE, hub.id) from err
    except (jwt.PyJWTError, ValueError, TypeError) as err:
        raise TokenError(RefusalReason.MALFORMED, hub.id) from err
    try:
        claims = _CLAIMS(raw)
    except vol.Invalid as err:
        raise TokenError(RefusalReason.MALFORMED_CLAIMS, hub.id) from err
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if audience != [home_id]:
        raise TokenError(RefusalReason.WRONG_AUDIENCE, hub.id)
    _check_times(claims["iat"], claims["nbf"], claims["exp"], now, hub.id)
    footage = _footage(claims, hub.id)
    incident = claims["incident"]
    area = claims["area"]
    return UnlockClaims(
        iss=hub.id,
        jti=claims["jti"],
        iat=claims["iat"],
        nbf=claims["nbf"],
        exp=claims["exp"],
        incident=Incident(
            id=incident["id"],
            offense=incident["offense"],
            case_number=incident.get("case_number"),
            summary=incident.get("summary"),
        ),
        area=Area(lat=area["lat"], lon=area["lon"], radius_m=area["radius_m"]),
        scope=claims["scope"],
        footage=footage,
    )


def _footage(claims: dict[str, Any], hub: str) -> Footage | None:
    """`footage` exactly when the scope has `clip`: start < end <= exp, at most 2 h."""
    raw = claims.get("footage")
    if Scope.CLIP not in claims["scope"]:
        if raw is not None:
            raise TokenError(RefusalReason.MALFORMED_CLAIMS, hub)
        return None
    if raw is None:
        raise TokenError(RefusalReason.MALFORMED_CLAIMS, hub)
    start, end = raw["start"], raw["end"]
    if not start < end <= claims["exp"] or end - start > MAX_FOOTAGE_S:
        raise TokenError(RefusalReason.MALFORMED_CLAIMS, hub)
    return Footage(start=start, end=end)


def _check_times(iat: float, nbf: float, exp: float, now: float, hub: str) -> None:
    # JWT times are whole seconds: compare them with the current whole second, boundaries
    # included, so that `iat = int(time.time()) - 60` is within 60 s as the protocol says.
    now_s = math.floor(now)
    if abs(iat - now_s) > CLOCK_SKEW_S:
        raise TokenError(RefusalReason.IAT_OUT_OF_RANGE, hub)
    if nbf > now_s + CLOCK_SKEW_S:
        raise TokenError(RefusalReason.NOT_YET_VALID, hub)
    if exp <= now:
        raise TokenError(RefusalReason.EXPIRED, hub)
    if exp <= nbf or exp - nbf > MAX_WINDOW_S:
        raise TokenError(RefusalReason.WINDOW_TOO_LONG, hub)
