"""A test city hub: Ed25519 keys and unlock JWTs with every claim and header overridable.

    hub = CityHub.generate("jackson-rtcc", kid="k1")
    options["hubs"] = [hub.hub_config()]
    token = hub.token(aud=home_id)                                   # a valid unlock
    token = hub.token(aud=home_id, exp=DROP)                         # claim removed
    token = hub.token(aud=home_id, scope=["snapshot", "stream"], area=area_at(..., 500))
    token = hub.token(aud=home_id, headers={"kid": "other"})
    token = sign_none(hub.claims(aud=home_id))                       # alg none
    token = sign_hs256(hub.claims(aud=home_id), hub.public_pem)      # HS256 keyed with the PEM
    token = sign_rs256(hub.claims(aud=home_id))                      # RS256, some RSA key
    token = tamper_signature(token)                                  # flip a signature bit

Defaults: `iat = nbf = now`, `exp = now + 300`, a fresh `jti`, a burglary incident with a case
number, an area centred on `DEFAULT_HOME` with radius 500 m, scope `["snapshot"]`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

DEFAULT_HOME = {"lat": 32.2988, "lon": -90.1848}


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()
"""Pass as a claim or header value to remove that key."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def offset_point(
    lat: float, lon: float, north_m: float, east_m: float = 0.0
) -> tuple[float, float]:
    """A point `north_m` metres north and `east_m` metres east of (lat, lon)."""
    r = 6371008.8
    dlat = math.degrees(north_m / r)
    dlon = math.degrees(east_m / (r * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def area_at(
    distance_m: float = 0.0, radius_m: float = 500.0, home: dict[str, float] | None = None
) -> dict[str, float]:
    """An area whose centre is `distance_m` north of the home."""
    h = home or DEFAULT_HOME
    lat, lon = offset_point(h["lat"], h["lon"], distance_m)
    return {"lat": lat, "lon": lon, "radius_m": radius_m}


def default_incident(**overrides: Any) -> dict[str, Any]:
    inc: dict[str, Any] = {
        "id": f"I-{uuid.uuid4().hex[:8]}",
        "case_number": "C-2026-0001",
        "offense": "burglary",
        "summary": "Forced entry reported on the block",
    }
    for k, v in overrides.items():
        if v is DROP:
            inc.pop(k, None)
        else:
            inc[k] = v
    return inc


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in overrides.items():
        if v is DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


@dataclass
class CityHub:
    hub_id: str
    name: str
    private_key: ed25519.Ed25519PrivateKey = field(repr=False)
    kid: str | None = None

    @classmethod
    def generate(
        cls, hub_id: str = "jackson-rtcc", name: str = "Jackson RTCC", kid: str | None = None
    ) -> CityHub:
        return cls(hub_id, name, ed25519.Ed25519PrivateKey.generate(), kid)

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def hub_config(self, *, include_kid: bool = True, **overrides: Any) -> dict[str, Any]:
        """The `hubs` entry for the add-on options."""
        cfg: dict[str, Any] = {"id": self.hub_id, "name": self.name, "public_key": self.public_pem}
        if include_kid and self.kid is not None:
            cfg["kid"] = self.kid
        return _apply(cfg, overrides)

    def claims(
        self, aud: Any, *, now: float | None = None, duration_s: float = 300, **overrides: Any
    ) -> dict[str, Any]:
        t = int(time.time() if now is None else now)
        base: dict[str, Any] = {
            "iss": self.hub_id,
            "aud": aud,
            "jti": uuid.uuid4().hex,
            "iat": t,
            "nbf": t,
            "exp": t + int(duration_s),
            "incident": default_incident(),
            "area": area_at(),
            "scope": ["snapshot"],
        }
        if aud is DROP:
            del base["aud"]
        return _apply(base, overrides)

    def sign(
        self,
        claims: dict[str, Any],
        *,
        alg: str = "EdDSA",
        headers: dict[str, Any] | None = None,
        key: ed25519.Ed25519PrivateKey | None = None,
    ) -> str:
        """Sign with Ed25519 (this hub's key unless `key`), header `alg` as given."""
        hdr: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if self.kid is not None:
            hdr["kid"] = self.kid
        hdr = _apply(hdr, headers or {})
        signing_input = f"{b64url_json(hdr)}.{b64url_json(claims)}".encode("ascii")
        sig = (key or self.private_key).sign(signing_input)
        return f"{signing_input.decode('ascii')}.{b64url(sig)}"

    def sign_pyjwt(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """The reference path: PyJWT with algorithm EdDSA."""
        hdr = {"kid": self.kid} if self.kid else {}
        hdr.update(headers or {})
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers=hdr or None)

    def token(
        self,
        aud: str,
        *,
        alg: str = "EdDSA",
        headers: dict[str, Any] | None = None,
        now: float | None = None,
        duration_s: float = 300,
        **claim_overrides: Any,
    ) -> str:
        return self.sign(
            self.claims(aud, now=now, duration_s=duration_s, **claim_overrides),
            alg=alg,
            headers=headers,
        )


def forge(header: dict[str, Any], claims: dict[str, Any] | bytes, signature: bytes = b"") -> str:
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    return f"{b64url_json(header)}.{b64url(payload)}.{b64url(signature)}"


def sign_none(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """An unsecured JWS (`alg: none`, empty signature)."""
    return forge(_apply({"alg": "none", "typ": "JWT"}, headers or {}), claims)


def sign_hs256(
    claims: dict[str, Any], secret: str | bytes, headers: dict[str, Any] | None = None
) -> str:
    """HS256 keyed with `secret` (e.g. the hub's public PEM: the key-confusion attack)."""
    key = secret.encode() if isinstance(secret, str) else secret
    hdr = _apply({"alg": "HS256", "typ": "JWT"}, headers or {})
    signing_input = f"{b64url_json(hdr)}.{b64url_json(claims)}".encode("ascii")
    sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode('ascii')}.{b64url(sig)}"


def sign_rs256(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def tamper_signature(token: str) -> str:
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def tamper_payload(token: str, **changes: Any) -> str:
    """Change claims but keep the original signature (must fail verification)."""
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims = _apply(claims, changes)
    return f"{head}.{b64url_json(claims)}.{sig}"
