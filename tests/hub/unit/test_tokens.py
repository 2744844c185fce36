"""Unlock token verification (PROTOCOL.md section 3.1)."""

from __future__ import annotations

from typing import Any

import pytest

from rtcc_hub.options import HubConfig, parse_options
from rtcc_hub.tokens import TokenError, verify_unlock_token
from tests.support import city

HOME_ID = "3f0c0000-0000-4000-8000-000000000001"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def hub_key() -> city.CityHub:
    return city.CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")


@pytest.fixture(scope="module")
def hubs(hub_key: city.CityHub) -> tuple[HubConfig, ...]:
    other = city.CityHub.generate("other-hub", "Other")
    raw = {
        "hubs": [hub_key.hub_config(), other.hub_config()],
        "control_token": "c" * 32,
        "ha_url": "http://127.0.0.1:1",
        "ha_token": "t",
    }
    return parse_options(raw).hubs


def verify(token: Any, hubs: tuple[HubConfig, ...], now: float = NOW) -> Any:
    return verify_unlock_token(token, hubs, HOME_ID, now)


def reason(token: Any, hubs: tuple[HubConfig, ...], now: float = NOW) -> str:
    with pytest.raises(TokenError) as err:
        verify(token, hubs, now)
    return err.value.reason


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_valid_token(hub_key: city.CityHub, hubs: tuple[HubConfig, ...], alg: str) -> None:
    claims = verify(hub_key.token(HOME_ID, alg=alg, now=NOW, scope=["stream", "snapshot"]), hubs)
    assert claims.iss == "jackson-rtcc"
    assert claims.scope == ("snapshot", "stream")
    assert claims.exp == NOW + 300
    assert claims.incident.offense


def test_pyjwt_reference_token(hub_key: city.CityHub, hubs: tuple[HubConfig, ...]) -> None:
    assert verify(hub_key.sign_pyjwt(hub_key.claims(HOME_ID, now=NOW)), hubs).jti


def test_audience_list_with_only_this_home(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...]
) -> None:
    claims = hub_key.claims(HOME_ID, now=NOW)
    claims["aud"] = [HOME_ID]
    assert verify(hub_key.sign(claims), hubs)
    claims["aud"] = [HOME_ID, "x"]
    assert reason(hub_key.sign(claims), hubs) == "wrong_audience"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda k: k.token("someone-else", now=NOW), "wrong_audience"),
        (lambda k: k.token(HOME_ID, now=NOW, iss="unknown"), "unknown_issuer"),
        (lambda k: k.token(HOME_ID, now=NOW, headers={"kid": "k2"}), "unknown_kid"),
        (lambda k: k.token(HOME_ID, now=NOW, headers={"kid": city.DROP}), "unknown_kid"),
        (lambda k: city.tamper_signature(k.token(HOME_ID, now=NOW)), "bad_signature"),
        (
            lambda k: city.tamper_payload(k.token(HOME_ID, now=NOW), scope=["stream"]),
            "bad_signature",
        ),
        (lambda k: k.token(HOME_ID, now=NOW, alg="ES256"), "bad_algorithm"),
        (lambda k: city.sign_none(k.claims(HOME_ID, now=NOW)), "bad_algorithm"),
        (lambda k: city.sign_rs256(k.claims(HOME_ID, now=NOW)), "bad_algorithm"),
        (lambda k: k.token(HOME_ID, now=NOW - 61), "iat_out_of_range"),
        (lambda k: k.token(HOME_ID, now=NOW + 61), "iat_out_of_range"),
        (lambda k: k.token(HOME_ID, now=NOW, nbf=NOW + 61), "not_yet_valid"),
        (lambda k: k.token(HOME_ID, now=NOW, exp=NOW), "expired"),
        (
            lambda k: k.token(HOME_ID, now=NOW, nbf=NOW - 30, exp=NOW - 30 + 86401),
            "window_too_long",
        ),
        (lambda k: k.token(HOME_ID, now=NOW, nbf=NOW + 50, exp=NOW + 40), "window_too_long"),
        (lambda k: k.token(HOME_ID, now=NOW, jti=city.DROP), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, jti=""), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, iat="now"), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, exp=True), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, scope=[]), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, scope=["live"]), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, scope=["snapshot", "snapshot"]), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, scope="snapshot"), "malformed_claims"),
        (
            lambda k: k.token(HOME_ID, now=NOW, area={"lat": 91, "lon": 0, "radius_m": 100}),
            "malformed_claims",
        ),
        (
            lambda k: k.token(HOME_ID, now=NOW, area={"lat": 0, "lon": 0, "radius_m": 0}),
            "malformed_claims",
        ),
        (lambda k: k.token(HOME_ID, now=NOW, area={"lat": 0, "lon": 0}), "malformed_claims"),
        (lambda k: k.token(HOME_ID, now=NOW, incident={"id": "I"}), "malformed_claims"),
        (
            # (extra keys inside `incident` are allowed since review finding 6; a wrong type
            # for a known one is still refused)
            lambda k: k.token(HOME_ID, now=NOW, incident={"id": "I", "offense": "x", "summary": 1}),
            "malformed_claims",
        ),
        (
            lambda k: k.token(HOME_ID, now=NOW, incident={"id": 5, "offense": "x"}),
            "malformed_claims",
        ),
    ],
)
def test_refused(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...], make: Any, expected: str
) -> None:
    assert reason(make(hub_key), hubs) == expected


def test_hs256_with_public_key_as_secret(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...]
) -> None:
    token = city.sign_hs256(hub_key.claims(HOME_ID, now=NOW), hub_key.public_pem.encode())
    assert reason(token, hubs) == "bad_algorithm"


def test_key_is_never_taken_from_the_token(hubs: tuple[HubConfig, ...]) -> None:
    impostor = city.CityHub.generate("jackson-rtcc", kid="k1")
    assert reason(impostor.token(HOME_ID, now=NOW), hubs) == "bad_signature"


def test_other_hubs_key_does_not_verify(hub_key: city.CityHub, hubs: tuple[HubConfig, ...]) -> None:
    other = city.CityHub.generate("other-hub")
    token = other.sign(hub_key.claims(HOME_ID, now=NOW, iss="other-hub"), key=hub_key.private_key)
    assert reason(token, hubs) == "bad_signature"


def test_hub_without_kid_ignores_header_kid(hubs: tuple[HubConfig, ...]) -> None:
    # "other-hub" is configured without kid; a kid in the header is not required to match.
    other_key = city.CityHub.generate("other-hub")
    assert reason(other_key.token(HOME_ID, now=NOW, headers={"kid": "zz"}), hubs) == "bad_signature"


@pytest.mark.parametrize("token", [None, 5, "", "a.b", "not-a-jwt", "x" * 20000, "a.b.c"])
def test_malformed(hubs: tuple[HubConfig, ...], token: Any) -> None:
    assert reason(token, hubs) == "malformed"


def test_error_carries_hub_once_known(hub_key: city.CityHub, hubs: tuple[HubConfig, ...]) -> None:
    with pytest.raises(TokenError) as err:
        verify(hub_key.token("wrong", now=NOW), hubs)
    assert err.value.hub == "jackson-rtcc"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iat": 10**400},
        {"nbf": -(10**400)},
        {"exp": 10**400},
        {"iat": 2**53 + 1},
        {"area": {"lat": 10**400, "lon": -90.1848, "radius_m": 500}},
        {"area": {"lat": 32.2988, "lon": 10**400, "radius_m": 500}},
        {"area": {"lat": 32.2988, "lon": -90.1848, "radius_m": 10**400}},
        {"jti": "\ud800abc"},
        {"incident": {"id": "I-\udfff", "offense": "burglary"}},
        {"incident": {"id": "I-1", "offense": "burglary", "summary": "x\udc00y"}},
        {"incident": {"id": "I-1", "offense": "burglary", "case_number": "\ud800"}},
    ],
)
def test_huge_integers_and_lone_surrogates_are_malformed_claims(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...], overrides: dict[str, Any]
) -> None:
    assert reason(hub_key.token(HOME_ID, now=NOW, **overrides), hubs) == "malformed_claims"


def test_sizes_are_bounded_by_the_body_only(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...]
) -> None:
    incident = {
        "id": "I" * 500,
        "offense": "o" * 500,
        "case_number": "C" * 500,
        "summary": "s" * 9_000,
    }
    token = hub_key.token(HOME_ID, now=NOW, incident=incident, jti="j" * 300)
    assert 12_000 < len(token) <= 16 * 1024 - 20
    claims = verify(token, hubs)
    assert claims.incident.summary == "s" * 9_000
    assert claims.incident.case_number == "C" * 500


@pytest.mark.parametrize("value", [None, ""])
def test_null_or_empty_case_number_and_summary_are_absent(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...], value: Any
) -> None:
    incident = {"id": "I", "offense": "burglary", "case_number": value, "summary": value}
    claims = verify(hub_key.token(HOME_ID, now=NOW, incident=incident), hubs)
    assert claims.incident.case_number is None and claims.incident.summary is None
    assert claims.incident.as_json() == {"id": "I", "offense": "burglary"}


def test_extra_keys_in_incident_and_area_are_ignored(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...]
) -> None:
    incident = {"id": "I", "offense": "burglary", "priority": 1, "unit": {"x": 1}}
    area = {"lat": 32.3, "lon": -90.2, "radius_m": 400, "unit": "m"}
    claims = verify(hub_key.token(HOME_ID, now=NOW, incident=incident, area=area), hubs)
    assert claims.incident.as_json() == {"id": "I", "offense": "burglary"}
    assert claims.area.as_json() == {"lat": 32.3, "lon": -90.2, "radius_m": 400}


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.999])
def test_time_rules_compare_whole_seconds_boundaries_included(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...], fraction: float
) -> None:
    now = NOW + fraction
    for iat in (NOW - 60, NOW + 60):
        assert verify(hub_key.token(HOME_ID, now=NOW, iat=iat), hubs, now).iat == iat
    assert verify(hub_key.token(HOME_ID, now=NOW, nbf=NOW + 60, exp=NOW + 600), hubs, now)
    for iat in (NOW - 61, NOW + 61):
        assert reason(hub_key.token(HOME_ID, now=NOW, iat=iat), hubs, now) == "iat_out_of_range"
    token = hub_key.token(HOME_ID, now=NOW, nbf=NOW + 61, exp=NOW + 600)
    assert reason(token, hubs, now) == "not_yet_valid"


CLIP = ["snapshot", "clip"]


@pytest.mark.parametrize(
    ("scope", "footage"),
    [
        (CLIP, city.DROP),  # clip without its window
        (["clip"], city.DROP),
        (["snapshot"], {"start": NOW - 60, "end": NOW}),  # a window without clip
        (CLIP, {"start": NOW, "end": NOW}),  # start < end
        (CLIP, {"start": NOW + 10, "end": NOW}),
        (CLIP, {"start": NOW, "end": NOW + 301}),  # end <= exp (exp is NOW + 300)
        (CLIP, {"start": NOW - 7201, "end": NOW}),  # at most 2 h
        (CLIP, {"start": "yesterday", "end": NOW}),
        (CLIP, {"start": NOW - 60}),
        (CLIP, {"start": float(NOW - 60) + 0.5, "end": NOW}),  # Unix seconds are int
        (CLIP, [NOW - 60, NOW]),
    ],
)
def test_footage_claim_rules_are_401_malformed_claims(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...], scope: list[str], footage: Any
) -> None:
    """PROTOCOL 3.1 `footage`: required with `clip`, absent otherwise, `start < end <= exp`,
    `end - start` <= 2 h; anything else is a claim "not of the form above"."""
    token = hub_key.token(HOME_ID, now=NOW, scope=scope, footage=footage)
    assert reason(token, hubs) == "malformed_claims"


def test_footage_claim_boundaries_are_accepted(
    hub_key: city.CityHub, hubs: tuple[HubConfig, ...]
) -> None:
    claims = verify(
        hub_key.token(
            HOME_ID, now=NOW, scope=CLIP, footage={"start": NOW + 300 - 7200, "end": NOW + 300}
        ),
        hubs,
    )  # exactly 2 h, ending exactly at exp
    assert claims.scope == ("snapshot", "clip")
    assert (claims.footage.start, claims.footage.end) == (NOW + 300 - 7200, NOW + 300)
    assert verify(hub_key.token(HOME_ID, now=NOW, scope=["snapshot"]), hubs).footage is None
