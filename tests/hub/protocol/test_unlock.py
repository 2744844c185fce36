"""PROTOCOL 3 / 3.1: POST /api/v1/unlocks — request body, token rules, outcomes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.hub.protocol.conftest import Env
from tests.hub.protocol.helpers import assert_error, assert_no_store, find, parse_time, rfc3339
from tests.support.city import (
    DEFAULT_HOME,
    DROP,
    CityHub,
    area_at,
    default_incident,
    offset_point,
    sign_hs256,
    sign_none,
    sign_rs256,
    tamper_payload,
    tamper_signature,
)

UNLOCK_KEYS_ACTIVE = {"unlock_id", "status", "expires_at", "access_token", "cameras"}


async def test_valid_unlock_is_active_with_cameras(env: Env) -> None:
    r, claims = await env.unlock(duration_s=600)
    assert r.status == 201, r
    assert_no_store(r)
    body = r.json
    assert set(body) >= UNLOCK_KEYS_ACTIVE, body
    assert body["status"] == "active"
    assert isinstance(body["unlock_id"], str) and body["unlock_id"]
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 16
    assert abs(parse_time(body["expires_at"]) - claims["exp"]) <= 1
    labels = sorted(c["label"] for c in body["cameras"])
    assert labels == ["Back yard", "Driveway", "Front door"]  # Garage is not shared
    for cam in body["cameras"]:
        assert set(cam) >= {"id", "label", "capabilities"}
        assert cam["capabilities"] == ["snapshot"]
        assert isinstance(cam["id"], str) and cam["id"]


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
async def test_both_ed25519_alg_names_accepted(env: Env, alg: str) -> None:
    r = await env.city.unlock(env.key.sign(env.key.claims(env.home_id), alg=alg))
    assert r.status == 201, r
    assert r.json["status"] == "active"


async def test_pyjwt_signed_token_accepted(env: Env) -> None:
    r = await env.city.unlock(env.key.sign_pyjwt(env.key.claims(env.home_id)))
    assert r.status == 201, r
    assert r.json["status"] == "active"


async def test_body_up_to_16_kib_accepted(env: Env) -> None:
    # JSON whitespace pads the body (claims themselves may have sane length caps).
    jws = env.token(incident=default_incident(summary="x" * 1000))
    head = json.dumps({"token": jws})[:-1].encode()
    body = head + b" " * (16 * 1024 - len(head) - 1) + b"}"
    assert len(body) == 16 * 1024
    r = await env.city.request(
        "POST", "/api/v1/unlocks", data=body, headers={"Content-Type": "application/json"}
    )
    assert r.status == 201, r


# -- 400 ---------------------------------------------------------------------------------------

BAD_BODIES: dict[str, bytes] = {
    "not_json": b"this is not json",
    "truncated_json": b'{"token": "abc',
    "json_array": b'["token"]',
    "json_string": b'"token"',
    "empty_object": b"{}",
    "no_token_key": b'{"jwt": "a.b.c"}',
    "empty_body": b"",
    "invalid_utf8": b'{"token": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_bad_body_is_400_invalid_request(env: Env, case: str) -> None:
    before = len((await env.control.state())["unlocks"])
    r = await env.city.request(
        "POST",
        "/api/v1/unlocks",
        data=BAD_BODIES[case],
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_request")
    assert_no_store(r)
    assert len((await env.control.state())["unlocks"]) == before


@pytest.mark.parametrize("token", [5, None, ["a.b.c"], {"jws": "a.b.c"}])
async def test_token_not_a_string_is_refused(env: Env, token: Any) -> None:
    r = await env.city.request("POST", "/api/v1/unlocks", json={"token": token})
    assert r.status in (400, 401), r
    assert_error(r, r.status, "invalid_request" if r.status == 400 else "invalid_token")


async def test_body_over_16_kib_is_refused(env: Env) -> None:
    incident = default_incident(summary="x" * 17000)
    body = json.dumps({"token": env.token(incident=incident)}).encode()
    assert len(body) > 16 * 1024
    r = await env.city.request(
        "POST", "/api/v1/unlocks", data=body, headers={"Content-Type": "application/json"}
    )
    assert r.status in (400, 413), r
    assert_error(r, r.status, "invalid_request" if r.status == 400 else None)
    assert_no_store(r)


async def test_huge_body_is_refused(env: Env) -> None:
    body = b'{"token": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    r = await env.city.request(
        "POST", "/api/v1/unlocks", data=body, headers={"Content-Type": "application/json"}
    )
    assert r.status in (400, 413), r


# -- 401 ---------------------------------------------------------------------------------------

TokenCase = Callable[[Env], str]


def _claims(env: Env, **kw: Any) -> dict[str, Any]:
    return env.key.claims(env.home_id, **kw)


def _now() -> int:
    return int(time.time())


INVALID_TOKENS: dict[str, TokenCase] = {
    # signature and algorithm
    "bad_signature": lambda e: tamper_signature(e.token()),
    "payload_changed_after_signing": lambda e: tamper_payload(
        e.token(), area=area_at(0, 100), scope=["snapshot", "stream"]
    ),
    "signed_by_unconfigured_key": lambda e: e.key.sign(
        _claims(e), key=ed25519.Ed25519PrivateKey.generate()
    ),
    "alg_none": lambda e: sign_none(_claims(e), {"kid": "k1"}),
    "alg_none_with_real_signature": lambda e: e.key.sign(_claims(e), alg="none"),
    "alg_hs256_keyed_with_public_pem": lambda e: sign_hs256(
        _claims(e), e.key.public_pem, {"kid": "k1"}
    ),
    "alg_rs256": lambda e: sign_rs256(_claims(e), {"kid": "k1"}),
    "alg_es256_header_on_ed25519_signature": lambda e: e.key.sign(_claims(e), alg="ES256"),
    "alg_missing": lambda e: e.key.sign(_claims(e), headers={"alg": DROP}),
    "not_a_jws": lambda e: "not-a-jws",
    "two_segments": lambda e: ".".join(e.token().split(".")[:2]),
    "empty_string": lambda e: "",
    # issuer and key id
    "unknown_iss": lambda e: e.token(iss="springfield-rtcc"),
    "iss_of_other_hub_signed_with_this_key": lambda e: e.token(iss="biloxi-rtcc"),
    "iss_missing": lambda e: e.token(iss=DROP),
    "kid_mismatch": lambda e: e.key.sign(_claims(e), headers={"kid": "k2"}),
    "kid_missing_while_configured": lambda e: e.key.sign(_claims(e), headers={"kid": DROP}),
    # audience
    "wrong_aud": lambda e: e.token(aud=str(uuid.uuid4())),
    "aud_missing": lambda e: e.token(aud=DROP),
    # times
    "iat_61s_in_past": lambda e: e.token(iat=_now() - 75),
    "iat_in_future": lambda e: e.token(iat=_now() + 75),
    "nbf_more_than_60s_ahead": lambda e: e.token(nbf=_now() + 90, exp=_now() + 600),
    "expired": lambda e: e.token(iat=_now() - 20, nbf=_now() - 20, exp=_now() - 5),
    "exp_equals_now_minus_1": lambda e: e.token(iat=_now() - 1, nbf=_now() - 30, exp=_now() - 1),
    "exp_minus_nbf_over_24h": lambda e: e.token(nbf=_now(), exp=_now() + 86400 + 60),
    "iat_missing": lambda e: e.token(iat=DROP),
    "nbf_missing": lambda e: e.token(nbf=DROP),
    "exp_missing": lambda e: e.token(exp=DROP),
    "iat_string": lambda e: e.token(iat=str(_now())),
    "exp_string": lambda e: e.token(exp=str(_now() + 300)),
    # jti
    "jti_missing": lambda e: e.token(jti=DROP),
    "jti_not_string": lambda e: e.token(jti=12345),
    # incident
    "incident_missing": lambda e: e.token(incident=DROP),
    "incident_string": lambda e: e.token(incident="burglary"),
    "incident_id_missing": lambda e: e.token(incident=default_incident(id=DROP)),
    "incident_id_int": lambda e: e.token(incident=default_incident(id=7)),
    "incident_offense_missing": lambda e: e.token(incident=default_incident(offense=DROP)),
    "incident_offense_int": lambda e: e.token(incident=default_incident(offense=3)),
    "incident_case_number_int": lambda e: e.token(incident=default_incident(case_number=42)),
    "incident_summary_list": lambda e: e.token(incident=default_incident(summary=["a"])),
    # area
    "area_missing": lambda e: e.token(area=DROP),
    "area_list": lambda e: e.token(area=[32.3, -90.2, 500]),
    "area_lat_string": lambda e: e.token(area={"lat": "32.2988", "lon": -90.1848, "radius_m": 500}),
    "area_lon_missing": lambda e: e.token(area={"lat": 32.2988, "radius_m": 500}),
    "area_radius_missing": lambda e: e.token(area={"lat": 32.2988, "lon": -90.1848}),
    "area_radius_string": lambda e: e.token(
        area={"lat": 32.2988, "lon": -90.1848, "radius_m": "500"}
    ),
    # scope
    "scope_missing": lambda e: e.token(scope=DROP),
    "scope_empty": lambda e: e.token(scope=[]),
    "scope_unknown_value": lambda e: e.token(scope=["snapshot", "admin"]),
    "scope_string": lambda e: e.token(scope="snapshot"),
}


@pytest.mark.parametrize("case", sorted(INVALID_TOKENS))
async def test_invalid_token_is_401(env: Env, case: str) -> None:
    seq = await env.control.head_seq()
    before = len((await env.control.state())["unlocks"])
    r = await env.city.unlock(INVALID_TOKENS[case](env))
    body = assert_error(r, 401, "invalid_token")
    assert_no_store(r)
    assert "access_token" not in body and "cameras" not in body
    assert len((await env.control.state())["unlocks"]) == before
    refused = find(await env.control.entries_since(seq), "unlock_refused")
    assert refused, "no unlock_refused audit entry"
    assert refused[-1]["detail"].get("status") == 401
    assert isinstance(refused[-1]["detail"].get("reason"), str)


async def test_replayed_jti_is_401(env: Env) -> None:
    claims = _claims(env)
    jws = env.key.sign(claims)
    assert (await env.city.unlock(jws)).status == 201
    seq = await env.control.head_seq()
    r = await env.city.unlock(jws)
    assert_error(r, 401, "invalid_token")
    # Same jti, otherwise a different (validly signed) token: still a replay.
    r = await env.city.unlock(env.key.sign({**claims, "exp": claims["exp"] + 10}))
    assert_error(r, 401, "invalid_token")
    # Both refusals are in the audit log (PROTOCOL 5: every unlock received, valid or not).
    refused = find(await env.control.entries_since(seq), "unlock_refused")
    assert len(refused) == 2, refused
    assert all(e["detail"]["status"] == 401 for e in refused)


async def test_replayed_jti_of_declined_unlock_is_401(env: Env) -> None:
    claims = _claims(env, incident=default_incident(offense="protest"))
    jws = env.key.sign(claims)
    r = await env.city.unlock(jws)
    assert r.status == 201 and r.json["status"] == "declined", r
    assert_error(await env.city.unlock(jws), 401, "invalid_token")


async def test_time_rules_accept_small_skew(env: Env) -> None:
    now = _now()
    r = await env.city.unlock(env.token(iat=now - 30, nbf=now + 30, exp=now + 600))
    assert r.status == 201, r
    assert r.json["status"] in ("active", "pending"), r


# -- 201 declined --------------------------------------------------------------------------------


def _future(seconds: int) -> str:
    return rfc3339(time.time() + seconds)


DECLINES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # reason: (policy overrides, claim overrides)
    "consent_off": ({"consent": False}, {}),
    "paused": ({"paused_until": "FUTURE"}, {}),
    "outside_area": ({}, {"area": area_at(distance_m=700, radius_m=500)}),
    "radius_too_large": ({}, {"area": area_at(distance_m=0, radius_m=801)}),
    "duration_too_long": ({"max_duration_s": 60}, {"duration_s": 61}),
    "excluded_offense": ({}, {"incident": default_incident(offense="Protest")}),
    "case_number_required": ({}, {"incident": default_incident(case_number=DROP)}),
    "stream_not_allowed": ({"allow_live": False}, {"scope": ["stream"]}),
    "no_camera_shared": ("NO_CAMERAS", {}),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("reason", sorted(DECLINES))
async def test_decline_reasons(env: Env, reason: str) -> None:
    policy_over, claim_over = DECLINES[reason]
    if policy_over == "NO_CAMERAS":
        policy = await env.set_policy()
        cams = [{**c, "share": False} for c in policy["cameras"]]
        await env.update_policy(cameras=cams)
    else:
        over = {k: (_future(600) if v == "FUTURE" else v) for k, v in policy_over.items()}
        await env.set_policy(**over)
    seq = await env.control.head_seq()
    r, _ = await env.unlock(**claim_over)
    assert r.status == 201, r
    assert_no_store(r)
    body = r.json
    assert body["status"] == "declined", body
    assert "access_token" not in body
    assert "cameras" not in body
    assert set(body) <= {"unlock_id", "status", "expires_at"}, body
    parse_time(body["expires_at"])
    # The reason is in the audit log (DESIGN: unlock_status.detail.reason).
    statuses = find(await env.control.entries_since(seq), "unlock_status", status="declined")
    assert statuses, "no unlock_status declined entry"
    assert statuses[-1]["detail"]["reason"] == reason
    assert statuses[-1]["unlock_id"] == body["unlock_id"]


@pytest.mark.parametrize("offense", ["IMMIGRATION", "protest", "Reproductive_Health"])
async def test_excluded_offense_is_case_insensitive(env: Env, offense: str) -> None:
    r, _ = await env.unlock(incident=default_incident(offense=offense))
    assert r.status == 201 and r.json["status"] == "declined", r


@pytest.mark.parametrize(
    ("claims", "policy"),
    [
        ({"area": area_at(distance_m=450, radius_m=500)}, {}),
        ({"area": area_at(distance_m=0, radius_m=800)}, {}),
        ({"duration_s": 60}, {"max_duration_s": 60}),
        ({"incident": default_incident(case_number=DROP)}, {"require_case_number": False}),
        ({"incident": default_incident(offense="robbery")}, {}),
    ],
    ids=["inside_area", "radius_at_max", "duration_at_max", "no_case_needed", "other_offense"],
)
async def test_accept_counterparts(env: Env, claims: dict[str, Any], policy: dict) -> None:
    await env.set_policy(**policy)
    r, _ = await env.unlock(**claims)
    assert r.status == 201 and r.json["status"] == "active", r


def _area_east(east_m: float, radius_m: float) -> dict[str, float]:
    lat, lon = offset_point(DEFAULT_HOME["lat"], DEFAULT_HOME["lon"], 0.0, east_m)
    return {"lat": lat, "lon": lon, "radius_m": radius_m}


@pytest.mark.parametrize(
    ("area", "status"),
    [
        (_area_east(550, 500), "declined"),  # 550 m east: a flat lat/lon metric sees ~465 m
        (_area_east(470, 500), "active"),
        (area_at(distance_m=-530, radius_m=500), "declined"),  # south
        (area_at(distance_m=-470, radius_m=500), "active"),
    ],
    ids=["east_outside", "east_inside", "south_outside", "south_inside"],
)
async def test_geofence_is_great_circle(env: Env, area: dict[str, float], status: str) -> None:
    r, _ = await env.unlock(area=area)
    assert r.status == 201, r
    assert r.json["status"] == status, r


async def test_stream_request_downgraded_to_snapshot_only(env: Env) -> None:
    await env.set_policy(allow_live=False)
    seq = await env.control.head_seq()
    u = await env.active_unlock(scope=["snapshot", "stream"])
    for cam in u.cameras:
        assert cam["capabilities"] == ["snapshot"], cam
    cam = u.cam("Front door")
    assert (await env.city.snapshot(u.id, cam, u.token)).status == 200
    r = await env.city.request("GET", f"/api/v1/unlocks/{u.id}/cameras/{cam}/stream", token=u.token)
    assert_error(r, 403, "not_active")
    received = find(await env.control.entries_since(seq), "unlock_received")
    assert received and received[-1]["detail"].get("granted_scope") == ["snapshot"], received


async def test_stream_scope_granted_when_live_allowed(env: Env) -> None:
    u = await env.active_unlock(scope=["snapshot", "stream"])
    for cam in u.cameras:
        assert cam["capabilities"] == ["snapshot", "stream"], cam


async def test_camera_ids_random_per_unlock(env: Env) -> None:
    a = await env.active_unlock()
    b = await env.active_unlock()
    ids_a = {c["label"]: c["id"] for c in a.cameras}
    ids_b = {c["label"]: c["id"] for c in b.cameras}
    assert ids_a.keys() == ids_b.keys()
    for label, cid in ids_a.items():
        assert cid != ids_b[label]
    for cid in [*ids_a.values(), *ids_b.values()]:
        for needle in ("camera.", "front_door", "back_yard", "driveway", "garage"):
            assert needle not in cid
    assert len(set(ids_a.values())) == len(ids_a)
    assert a.token != b.token and a.id != b.id


async def test_unlock_ids_and_tokens_unique(env: Env) -> None:
    seen_ids, seen_tokens = set(), set()
    for _ in range(5):
        u = await env.active_unlock()
        assert u.id not in seen_ids and u.token not in seen_tokens
        seen_ids.add(u.id)
        seen_tokens.add(u.token)


# -- 429 -----------------------------------------------------------------------------------------


async def test_quota_counts_declined_unlocks_and_sets_retry_after(
    env: Env, quota_key: CityHub, other_key: CityHub
) -> None:
    await env.set_policy(max_unlocks_per_week=3)
    # Two declined (offense excluded) and one active use up the quota of 3.
    for _ in range(2):
        r, _ = await env.unlock(key=quota_key, incident=default_incident(offense="protest"))
        assert r.status == 201 and r.json["status"] == "declined", r
    # An invalid token does not use it up (not validly signed).
    bad = await env.city.unlock(tamper_signature(quota_key.token(env.home_id)))
    assert bad.status == 401
    r, _ = await env.unlock(key=quota_key)
    assert r.status == 201 and r.json["status"] == "active", r
    seq = await env.control.head_seq()
    r, _ = await env.unlock(key=quota_key)
    body = assert_error(r, 429, "quota_exceeded")
    assert_no_store(r)
    assert "access_token" not in body
    retry = r.headers.get("Retry-After")
    assert retry is not None, r.headers
    assert retry.strip().isdigit() and int(retry) > 0, retry
    assert int(retry) <= 7 * 86400
    # The oldest counted unlock is seconds old: the next slot opens in about 7 days.
    assert int(retry) >= 7 * 86400 - 600, retry
    refused = find(await env.control.entries_since(seq), "unlock_refused")
    assert refused and refused[-1]["detail"]["status"] == 429, refused
    assert refused[-1]["detail"]["reason"] == "quota_exceeded"
    # Another hub is not affected (biloxi-rtcc makes at most one other valid unlock here).
    r, _ = await env.unlock(key=other_key)
    assert r.status == 201, r


async def test_hub_without_kid_accepts_token_without_kid(env: Env, other_key: CityHub) -> None:
    r, _ = await env.unlock(key=other_key)
    assert r.status == 201, r
    assert r.json["status"] == "active"


NAN, INF = float("nan"), float("inf")
HOME_LAT, HOME_LON = DEFAULT_HOME["lat"], DEFAULT_HOME["lon"]


@pytest.mark.parametrize(
    "area",
    [
        {"lat": NAN, "lon": HOME_LON, "radius_m": 500},
        {"lat": HOME_LAT, "lon": INF, "radius_m": 500},
        {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": NAN},
        {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": INF},
        {"lat": HOME_LAT, "lon": HOME_LON, "radius_m": -500},
        {"lat": HOME_LAT + 180, "lon": HOME_LON, "radius_m": 500},
        {"lat": HOME_LAT, "lon": HOME_LON + 360, "radius_m": 500},
        {"lat": True, "lon": HOME_LON, "radius_m": 500},
    ],
    ids=[
        "lat_nan",
        "lon_inf",
        "radius_nan",
        "radius_inf",
        "radius_negative",
        "lat_over_90",
        "lon_over_180",
        "lat_bool",
    ],
)
async def test_malformed_area_never_unlocks(env: Env, area: dict[str, Any]) -> None:
    """Fail closed: non-finite, negative or out-of-range numbers are refused or declined."""
    r = await env.city.unlock(env.token(area=area))
    assert r.status in (201, 401), r
    if r.status == 201:
        assert r.json["status"] == "declined", r
        assert "access_token" not in r.json
    else:
        assert_error(r, 401, "invalid_token")
