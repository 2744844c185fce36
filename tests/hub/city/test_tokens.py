"""Unlock tokens: EdDSA JWS that verifies against the public key and carries every claim."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import jwt
import pytest

from rtcc_hub.city.keys import generate_private_key
from rtcc_hub.city.tokens import (
    Area,
    Incident,
    TokenInputError,
    build_claims,
    parse_rfc3339,
    sign_unlock_token,
)

INCIDENT = Incident(id="I-1", offense="burglary", case_number="C-9", summary="rear window")
AREA = Area(lat=32.2988, lon=-90.1848, radius_m=500)


def _header(token: str) -> dict[str, object]:
    segment = token.split(".", maxsplit=1)[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=" * 4))
    return decoded


def test_signed_token_verifies_and_carries_every_claim() -> None:
    key = generate_private_key()
    before = int(time.time())
    token = sign_unlock_token(
        key,
        issuer="jackson-rtcc",
        audience="home-123",
        incident=INCIDENT,
        area=AREA,
        scope=["stream", "snapshot"],
        duration_s=900,
        kid="k1",
    )
    claims = jwt.decode(
        token, key.public_key(), algorithms=["EdDSA"], audience="home-123", issuer="jackson-rtcc"
    )
    after = int(time.time())
    assert set(claims) == {"iss", "aud", "jti", "iat", "nbf", "exp", "incident", "area", "scope"}
    assert before <= claims["iat"] <= after
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] == claims["nbf"] + 900
    assert claims["incident"] == {
        "id": "I-1",
        "offense": "burglary",
        "case_number": "C-9",
        "summary": "rear window",
    }
    assert claims["area"] == {"lat": 32.2988, "lon": -90.1848, "radius_m": 500}
    assert claims["scope"] == ["snapshot", "stream"]
    assert len(claims["jti"]) >= 16
    assert _header(token) == {"alg": "EdDSA", "typ": "JWT", "kid": "k1"}


def test_token_does_not_verify_with_another_key() -> None:
    token = sign_unlock_token(
        generate_private_key(),
        issuer="h",
        audience="a",
        incident=INCIDENT,
        area=AREA,
        scope=["snapshot"],
        duration_s=60,
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, generate_private_key().public_key(), algorithms=["EdDSA"], audience="a")


def test_optional_fields_absent_and_jti_random() -> None:
    common = {
        "issuer": "h",
        "audience": "a",
        "incident": Incident(id="I", offense="theft"),
        "area": AREA,
        "scope": ["snapshot"],
        "duration_s": 60,
    }
    first, second = build_claims(**common), build_claims(**common)  # type: ignore[arg-type]
    assert first["incident"] == {"id": "I", "offense": "theft"}
    assert first["jti"] != second["jti"]
    assert "kid" not in _header(sign_unlock_token(generate_private_key(), **common))  # type: ignore[arg-type]


def test_explicit_not_before_jti_and_now() -> None:
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    claims = build_claims(
        issuer="h",
        audience="a",
        incident=INCIDENT,
        area=AREA,
        scope=["snapshot"],
        duration_s=3600,
        not_before=start,
        jti="fixed",
        now=1_000,
    )
    assert claims["iat"] == 1_000
    assert claims["nbf"] == int(start.timestamp())
    assert claims["exp"] == int(start.timestamp()) + 3600
    assert claims["jti"] == "fixed"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"scope": []}, "scope"),
        ({"scope": ["snapshot", "audio"]}, "unknown scope audio"),
        ({"duration_s": 0}, "duration"),
        ({"duration_s": 86_401}, "duration"),
        ({"issuer": ""}, "iss"),
        ({"audience": " "}, "aud"),
        ({"area": Area(lat=91, lon=0, radius_m=10)}, "lat"),
        ({"area": Area(lat=0, lon=0, radius_m=0)}, "radius"),
        ({"area": Area(lat=0, lon=float("nan"), radius_m=10)}, "lon"),
        ({"incident": Incident(id="", offense="x")}, "incident id"),
        ({"incident": Incident(id="I", offense="x", case_number="")}, "case number"),
        ({"not_before": datetime(2026, 1, 1)}, "time zone"),
    ],
)
def test_bad_input_is_refused(changes: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {
        "issuer": "h",
        "audience": "a",
        "incident": INCIDENT,
        "area": AREA,
        "scope": ["snapshot"],
        "duration_s": 60,
    }
    arguments.update(changes)
    with pytest.raises(TokenInputError, match=match):
        build_claims(**arguments)  # type: ignore[arg-type]


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("2026-11-23T12:00:00Z") == datetime(2026, 11, 23, 12, tzinfo=UTC)
    with pytest.raises(TokenInputError, match="zone"):
        parse_rfc3339("2026-11-23T12:00:00")
    with pytest.raises(TokenInputError, match="RFC 3339"):
        parse_rfc3339("tomorrow")
