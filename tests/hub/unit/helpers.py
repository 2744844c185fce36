"""Builders shared by the unit tests."""

from __future__ import annotations

from typing import Any

from rtcc_hub.policy import Policy, parse_policy
from rtcc_hub.tokens import Area, Footage, Incident, UnlockClaims

HOME = {"lat": 32.2988, "lon": -90.1848}


def policy_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "consent": True,
        "paused_until": None,
        "mode": "auto",
        "ask_timeout_s": 600,
        "home": dict(HOME),
        "max_radius_m": 800,
        "max_duration_s": 3600,
        "max_unlocks_per_week": 10,
        "allow_live": True,
        "require_case_number": True,
        "excluded_offenses": ["protest", "immigration", "reproductive_health"],
        "allow_clips": False,
        "max_clip_s": 1800,
        "max_clip_age_s": 604800,
        "cameras": [
            {
                "entity_id": "camera.front_door",
                "label": "Front door",
                "share": True,
                "masks": [[[0.0, 0.0], [0.35, 0.0], [0.35, 0.6], [0.0, 0.6]]],
                "max_width": 1280,
                "max_fps": 5,
            },
            {"entity_id": "camera.garden", "label": "Garden", "share": True},
        ],
    }
    doc.update(overrides)
    return doc


def make_policy(**overrides: Any) -> Policy:
    return parse_policy(policy_doc(**overrides))


def make_claims(
    now: float = 1_800_000_000.0,
    *,
    duration: float = 1800,
    scope: tuple[str, ...] = ("snapshot",),
    offense: str = "burglary",
    case_number: str | None = "C-9",
    lat: float = HOME["lat"],
    lon: float = HOME["lon"],
    radius_m: float = 500,
    footage: tuple[int, int] | None = None,
) -> UnlockClaims:
    return UnlockClaims(
        iss="jackson-rtcc",
        jti="j-1",
        iat=now,
        nbf=now,
        exp=now + duration,
        incident=Incident(id="I-1", offense=offense, case_number=case_number),
        area=Area(lat=lat, lon=lon, radius_m=radius_m),
        scope=scope,
        footage=None if footage is None else Footage(start=footage[0], end=footage[1]),
    )
