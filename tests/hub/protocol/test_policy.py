"""PROTOCOL 2: the policy document, validation, hard limits, revision."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.hub.protocol.conftest import Env, base_policy
from tests.hub.protocol.helpers import assert_error, find


def _strip(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if k != "revision"}


async def test_valid_put_echoes_policy_with_revision_plus_one(env: Env) -> None:
    before = (await env.control.state())["policy"]
    new = base_policy(max_radius_m=1200, allow_live=False, ask_timeout_s=300)
    r = await env.control.put_policy(new)
    assert r.status == 200, r
    stored = r.json
    assert isinstance(stored["revision"], int)
    assert stored["revision"] == before["revision"] + 1
    assert _strip(stored) == new
    state = (await env.control.state())["policy"]
    assert state == stored
    r2 = await env.control.put_policy(base_policy(max_radius_m=1300))
    assert r2.json["revision"] == stored["revision"] + 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_radius_m", 50),
        ("max_radius_m", 5000),
        ("max_duration_s", 1),
        ("max_duration_s", 86400),
    ],
)
async def test_hard_limit_boundaries_accepted(env: Env, field: str, value: int) -> None:
    r = await env.control.put_policy(base_policy(**{field: value}))
    assert r.status == 200, r
    assert r.json[field] == value


def _camera(**changes: Any) -> list[dict[str, Any]]:
    cams = base_policy()["cameras"]
    cams[0] = {**cams[0], **changes}
    return cams


def _camera_without(key: str) -> list[dict[str, Any]]:
    cams = base_policy()["cameras"]
    cams[0] = {k: v for k, v in cams[0].items() if k != key}
    return cams


# (case id, top-level overrides or a callable, names accepted as "naming the field")
INVALID: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("consent_string", {"consent": "yes"}, ("consent",)),
    ("paused_until_garbage", {"paused_until": "tomorrow"}, ("paused_until",)),
    ("paused_until_number", {"paused_until": 12345}, ("paused_until",)),
    ("mode_unknown", {"mode": "sometimes"}, ("mode",)),
    ("ask_timeout_negative", {"ask_timeout_s": -1}, ("ask_timeout_s",)),
    ("ask_timeout_string", {"ask_timeout_s": "600"}, ("ask_timeout_s",)),
    ("home_missing_lat", {"home": {"lon": -90.1}}, ("lat", "home")),
    ("home_lat_out_of_range", {"home": {"lat": 91.0, "lon": -90.1}}, ("lat", "home")),
    ("home_lon_out_of_range", {"home": {"lat": 32.0, "lon": -181.0}}, ("lon", "home")),
    ("home_lat_string", {"home": {"lat": "32.2", "lon": -90.1}}, ("lat", "home")),
    ("home_not_object", {"home": [32.2, -90.1]}, ("home",)),
    ("radius_below_50", {"max_radius_m": 49}, ("max_radius_m",)),
    ("radius_above_5000", {"max_radius_m": 5001}, ("max_radius_m",)),
    ("radius_string", {"max_radius_m": "800"}, ("max_radius_m",)),
    ("duration_zero", {"max_duration_s": 0}, ("max_duration_s",)),
    ("duration_above_24h", {"max_duration_s": 86401}, ("max_duration_s",)),
    ("unlocks_per_week_negative", {"max_unlocks_per_week": -1}, ("max_unlocks_per_week",)),
    ("unlocks_per_week_string", {"max_unlocks_per_week": "ten"}, ("max_unlocks_per_week",)),
    ("allow_live_string", {"allow_live": "no"}, ("allow_live",)),
    ("require_case_number_string", {"require_case_number": "true"}, ("require_case_number",)),
    ("excluded_offenses_string", {"excluded_offenses": "protest"}, ("excluded_offenses",)),
    ("excluded_offenses_ints", {"excluded_offenses": [1, 2]}, ("excluded_offenses",)),
    ("cameras_not_list", {"cameras": {"camera.front_door": True}}, ("cameras",)),
    ("camera_entity_missing", {"cameras": _camera_without("entity_id")}, ("entity_id",)),
    ("camera_entity_int", {"cameras": _camera(entity_id=5)}, ("entity_id",)),
    ("camera_share_string", {"cameras": _camera(share="yes")}, ("share",)),
    (
        "camera_mask_point_out_of_range",
        {"cameras": _camera(masks=[[[0, 0], [1.5, 0], [1, 1]]])},
        ("masks",),
    ),
    ("camera_mask_negative", {"cameras": _camera(masks=[[[0, 0], [-0.1, 0], [1, 1]]])}, ("masks",)),
    ("camera_mask_two_points", {"cameras": _camera(masks=[[[0, 0], [1, 1]]])}, ("masks",)),
    (
        "camera_mask_not_pairs",
        {"cameras": _camera(masks=[[[0, 0, 0], [1, 0, 0], [1, 1, 1]]])},
        ("masks",),
    ),
    ("camera_mask_strings", {"cameras": _camera(masks=[[["a", "b"], [1, 0], [1, 1]]])}, ("masks",)),
    ("camera_max_width_zero", {"cameras": _camera(max_width=0)}, ("max_width",)),
    ("camera_max_width_string", {"cameras": _camera(max_width="1280")}, ("max_width",)),
    ("camera_max_fps_zero", {"cameras": _camera(max_fps=0)}, ("max_fps",)),
    ("camera_max_fps_negative", {"cameras": _camera(max_fps=-5)}, ("max_fps",)),
    ("camera_not_object", {"cameras": ["camera.front_door"]}, ("cameras",)),
    # non-finite numbers (Python's json accepts NaN / Infinity literals)
    ("home_lat_nan", {"home": {"lat": float("nan"), "lon": -90.1}}, ("lat", "home")),
    ("radius_nan", {"max_radius_m": float("nan")}, ("max_radius_m",)),
    ("radius_infinity", {"max_radius_m": float("inf")}, ("max_radius_m",)),
    ("duration_nan", {"max_duration_s": float("nan")}, ("max_duration_s",)),
    (
        "camera_mask_nan",
        {"cameras": _camera(masks=[[[0, 0], [float("nan"), 0], [1, 1]]])},
        ("masks",),
    ),
    ("camera_max_fps_infinity", {"cameras": _camera(max_fps=float("inf"))}, ("max_fps",)),
]


@pytest.mark.parametrize(("case", "overrides", "names"), INVALID, ids=[c[0] for c in INVALID])
async def test_invalid_policy_400_names_field_and_changes_nothing(
    env: Env, case: str, overrides: dict[str, Any], names: tuple[str, ...]
) -> None:
    before = (await env.control.state())["policy"]
    seq = await env.control.head_seq()
    policy = base_policy()
    for k, v in copy.deepcopy(overrides).items():
        policy[k] = v
    r = await env.control.put_policy(policy)
    body = assert_error(r, 400, "invalid_policy")
    assert any(n in body["message"] for n in names), (names, body["message"])
    assert (await env.control.state())["policy"] == before
    assert not find(await env.control.entries_since(seq), "policy_changed")


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'"policy"', b"null", b""],
    ids=["text", "list", "str", "null", "empty"],
)
async def test_non_object_policy_body_is_400(env: Env, raw: bytes) -> None:
    before = (await env.control.state())["policy"]
    r = await env.control.request(
        "PUT", "/control/v1/policy", data=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status == 400, r
    assert r.json["error"] in ("invalid_policy", "invalid_request")
    assert (await env.control.state())["policy"] == before


async def test_policy_change_is_audited_without_home(env: Env) -> None:
    seq = await env.control.head_seq()
    stored = await env.set_policy(max_radius_m=900, home={"lat": 40.7128, "lon": -74.006})
    entries = find(await env.control.entries_since(seq), "policy_changed")
    assert entries, "no policy_changed entry"
    detail = entries[-1]["detail"]
    assert detail["revision"] == stored["revision"]
    assert "max_radius_m" in detail["changed"]
    text = str(entries[-1])
    for needle in ("40.7128", "74.006", "32.2988", "90.1848"):
        assert needle not in text
