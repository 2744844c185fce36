"""Incident unlock tokens: JWS compact, Ed25519 (``alg: EdDSA``), claims of PROTOCOL.md 3.1.

The signer refuses input the add-on would refuse anyway (bad scope, a window over 24 h, a
non-finite coordinate) so that the city sees a clear local error instead of a bare ``401``.
Policy limits of a particular home (its radius, duration, offenses) are the home's business and
are deliberately not checked here.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"
SCOPES = ("snapshot", "stream", "clip")
MAX_FOOTAGE_S = 2 * 3600
MAX_WINDOW_S = 24 * 60 * 60


class TokenInputError(ValueError):
    """The claims asked for cannot form a valid unlock token."""


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    offense: str
    case_number: str | None = None
    summary: str | None = None

    def claim(self) -> dict[str, str]:
        if not self.id.strip():
            raise TokenInputError("incident id must not be empty")
        if not self.offense.strip():
            raise TokenInputError("offense must not be empty")
        claim = {"id": self.id, "offense": self.offense}
        if self.case_number is not None:
            if not self.case_number.strip():
                raise TokenInputError("case number must not be empty when given")
            claim["case_number"] = self.case_number
        if self.summary is not None:
            claim["summary"] = self.summary
        return claim


@dataclass(frozen=True, slots=True)
class Area:
    lat: float
    lon: float
    radius_m: float

    def claim(self) -> dict[str, float]:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise TokenInputError("lat must be between -90 and 90")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise TokenInputError("lon must be between -180 and 180")
        if not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise TokenInputError("radius_m must be a positive number")
        return {"lat": float(self.lat), "lon": float(self.lon), "radius_m": self.radius_m}


@dataclass(frozen=True, slots=True)
class Footage:
    """The recorded window a clip unlock asks for (Unix seconds; PROTOCOL.md 3.1 `footage`)."""

    start: int
    end: int

    def claim(self, exp: int) -> dict[str, int]:
        for value in (self.start, self.end):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TokenInputError("footage start and end must be whole Unix seconds")
        if not self.start < self.end:
            raise TokenInputError("footage must end after it starts")
        if self.end > exp:
            raise TokenInputError("footage must end no later than the unlock expires")
        if self.end - self.start > MAX_FOOTAGE_S:
            raise TokenInputError(f"footage may span at most {MAX_FOOTAGE_S} seconds")
        return {"start": self.start, "end": self.end}


def normalise_scope(scope: Sequence[str]) -> list[str]:
    """Validate a scope and return it without duplicates, in protocol order."""
    requested = {item.strip() for item in scope if item.strip()}
    if not requested:
        raise TokenInputError("scope must name at least one of: snapshot, stream, clip")
    unknown = sorted(requested - set(SCOPES))
    if unknown:
        raise TokenInputError(
            f"unknown scope {', '.join(unknown)} (allowed: snapshot, stream, clip)"
        )
    return [item for item in SCOPES if item in requested]


def build_claims(
    *,
    issuer: str,
    audience: str,
    incident: Incident,
    area: Area,
    scope: Sequence[str],
    duration_s: int,
    not_before: datetime | int | None = None,
    jti: str | None = None,
    now: int | None = None,
    footage: Footage | None = None,
) -> dict[str, Any]:
    """The claim set of PROTOCOL.md 3.1: ``iat`` = now, ``nbf`` = now unless given,
    ``exp`` = ``nbf`` + ``duration_s``, ``jti`` random unless given."""
    if not issuer.strip():
        raise TokenInputError("iss (hub id) must not be empty")
    if not audience.strip():
        raise TokenInputError("aud (the home's home_id) must not be empty")
    if isinstance(duration_s, bool) or not isinstance(duration_s, int):
        raise TokenInputError("duration must be a whole number of seconds")
    if not 1 <= duration_s <= MAX_WINDOW_S:
        raise TokenInputError(f"duration must be between 1 and {MAX_WINDOW_S} seconds")
    issued_at = int(time.time()) if now is None else now
    if not_before is None:
        nbf = issued_at
    elif isinstance(not_before, datetime):
        if not_before.tzinfo is None:
            raise TokenInputError("not-before needs a time zone (e.g. 2026-11-23T12:00:00Z)")
        nbf = math.floor(not_before.timestamp())
    else:
        nbf = not_before
    if jti is not None and not jti.strip():
        raise TokenInputError("jti must not be empty when given")
    scopes = normalise_scope(scope)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "jti": jti if jti is not None else secrets.token_urlsafe(16),
        "iat": issued_at,
        "nbf": nbf,
        "exp": nbf + duration_s,
        "incident": incident.claim(),
        "area": area.claim(),
        "scope": scopes,
    }
    # `footage` exactly when the scope has `clip` (the add-on refuses anything else).
    if ("clip" in scopes) != (footage is not None):
        raise TokenInputError("a clip scope needs its footage window, and only it has one")
    if footage is not None:
        claims["footage"] = footage.claim(claims["exp"])
    return claims


def sign_claims(
    private_key: Ed25519PrivateKey, claims: dict[str, Any], *, kid: str | None = None
) -> str:
    """Sign an arbitrary claim set; ``kid`` goes in the JWS header when given."""
    headers: dict[str, Any] = {"typ": "JWT"}
    if kid is not None:
        if not kid.strip():
            raise TokenInputError("kid must not be empty when given")
        headers["kid"] = kid
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers=headers)


def sign_unlock_token(
    private_key: Ed25519PrivateKey,
    *,
    issuer: str,
    audience: str,
    incident: Incident,
    area: Area,
    scope: Sequence[str],
    duration_s: int,
    not_before: datetime | int | None = None,
    kid: str | None = None,
    jti: str | None = None,
    now: int | None = None,
    footage: Footage | None = None,
) -> str:
    claims = build_claims(
        issuer=issuer,
        audience=audience,
        incident=incident,
        area=area,
        scope=scope,
        duration_s=duration_s,
        not_before=not_before,
        jti=jti,
        now=now,
        footage=footage,
    )
    return sign_claims(private_key, claims, kid=kid)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset (``Z`` or ``+hh:mm``)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TokenInputError(f"not an RFC 3339 time: {text!r}") from None
    if value.tzinfo is None:
        raise TokenInputError(f"time needs a zone offset such as Z: {text!r}")
    return value
