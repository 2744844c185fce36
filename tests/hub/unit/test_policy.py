"""Policy schema and the pure decision function."""

from __future__ import annotations

from typing import Any

import pytest

from rtcc_hub.policy import (
    Accept,
    Decline,
    Pending,
    Policy,
    PolicyError,
    changed_fields,
    decide,
    load_stored_policy,
    parse_policy,
)
from tests.hub.unit.helpers import HOME, make_claims, make_policy, policy_doc

NOW = 1_800_000_000.0


def test_defaults_share_nothing() -> None:
    policy = parse_policy({})
    assert policy == Policy()
    assert not policy.consent and policy.cameras == ()
    assert decide(policy, make_claims(), NOW) == Decline("consent_off")


def test_round_trip_through_json() -> None:
    policy = make_policy(paused_until="2027-01-01T00:00:00Z")
    doc = policy.as_json()
    assert doc["paused_until"] == "2027-01-01T00:00:00Z"
    assert doc["revision"] == 0
    doc["revision"] = 4
    stored = load_stored_policy(doc)
    assert stored == policy and stored.revision == 4


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"consent": "yes"}, "consent"),
        ({"mode": "sometimes"}, "mode"),
        ({"max_radius_m": 49}, "max_radius_m"),
        ({"max_radius_m": 5001}, "max_radius_m"),
        ({"max_duration_s": 0}, "max_duration_s"),
        ({"max_duration_s": 86401}, "max_duration_s"),
        ({"max_duration_s": 10.5}, "max_duration_s"),
        ({"max_unlocks_per_week": True}, "max_unlocks_per_week"),
        ({"ask_timeout_s": 0}, "ask_timeout_s"),
        ({"ask_timeout_s": 86401}, "ask_timeout_s"),
        ({"home": {"lat": 91, "lon": 0}}, "home.lat"),
        ({"home": None}, "home"),
        ({"paused_until": "tomorrow"}, "paused_until"),
        ({"paused_until": "2027-01-01T00:00:00"}, "paused_until"),
        ({"excluded_offenses": "protest"}, "excluded_offenses"),
        ({"surprise": 1}, "surprise"),
        ({"cameras": [{"entity_id": "light.x", "label": "x"}]}, "cameras[0].entity_id"),
        ({"cameras": [{"entity_id": "camera.x", "label": "x" * 101}]}, "cameras[0].label"),
        ({"max_clip_s": 59}, "max_clip_s"),
        ({"max_clip_s": 7201}, "max_clip_s"),
        ({"max_clip_age_s": 3599}, "max_clip_age_s"),
        ({"max_clip_age_s": 30 * 86400 + 1}, "max_clip_age_s"),
        ({"allow_clips": "yes"}, "allow_clips"),
        ({"cameras": [{"entity_id": "camera.x", "recorder": {"source": "reolink"}}]}, "recorder"),
        ({"cameras": [{"entity_id": "camera.x", "recorder": {"source": "frigate"}}]}, "recorder"),
        (
            {
                "cameras": [
                    {"entity_id": "camera.x", "recorder": {"source": "frigate", "camera": "a/b"}}
                ]
            },
            "recorder",
        ),
        (
            {
                "cameras": [
                    {"entity_id": "camera.x", "recorder": {"source": "unifiprotect", "x": 1}}
                ]
            },
            "recorder",
        ),
        ({"cameras": [{"entity_id": "camera.x", "label": "x", "max_fps": 0}]}, "max_fps"),
        ({"cameras": [{"entity_id": "camera.x", "label": "x", "max_width": 8}]}, "max_width"),
        (
            {
                "cameras": [
                    {"entity_id": "camera.x", "label": "x", "masks": [[[0, 0], [2, 0], [0, 1]]]}
                ]
            },
            "cameras[0].masks",
        ),
        (
            {"cameras": [{"entity_id": "camera.x", "label": "x", "masks": [[[0, 0], [1, 0]]]}]},
            "cameras[0].masks",
        ),
        (
            {
                "cameras": [
                    {"entity_id": "camera.x", "label": "a"},
                    {"entity_id": "camera.x", "label": "b"},
                ]
            },
            "cameras",
        ),
    ],
)
def test_invalid_policy_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(policy_doc(**overrides))
    assert field in str(err.value)


def test_a_camera_without_label_is_shown_by_position_never_by_entity_id() -> None:
    policy = parse_policy(
        policy_doc(
            cameras=[
                {"entity_id": "camera.a", "label": "Porch"},
                {"entity_id": "camera.b"},
                {"entity_id": "camera.c", "label": "   "},
                {"entity_id": "camera.d", "label": "\u200b\t"},
                {"entity_id": "camera.e", "label": ""},
            ]
        )
    )
    assert [policy.public_label(cam) for cam in policy.cameras] == [
        "Porch",
        "Camera 2",
        "Camera 3",
        "Camera 4",
        "Camera 5",
    ]
    assert policy.as_json()["cameras"][1]["label"] is None


@pytest.mark.parametrize(
    "offense",
    [
        "contest",
        "protestant church vandalism",
        "burglary",
        "\u043f\u0440\u043e\u0442\u0435\u0441\u0442",
    ],
)
def test_offenses_where_no_term_starts_a_word_are_not_excluded(offense: str) -> None:
    # "protestant" starts with the term "protest" at a word boundary: declined (the rule is
    # "occurs starting at a word boundary", not "is a whole word"); the others are not.
    decision = decide(make_policy(), make_claims(NOW, offense=offense), NOW)
    expected_declined = offense.startswith("protestant")
    assert isinstance(decision, Decline) == expected_declined


@pytest.mark.parametrize("case_number", ["\u200b", " \t", "\u2060\u00a0", "", None])
def test_an_invisible_case_number_is_missing(case_number: str | None) -> None:
    decision = decide(make_policy(), make_claims(NOW, case_number=case_number), NOW)
    assert decision == Decline("case_number_required")


def test_not_an_object() -> None:
    with pytest.raises(PolicyError, match="object"):
        parse_policy([])


def test_hard_limits_accepted_at_the_edges() -> None:
    parse_policy(policy_doc(max_radius_m=50, max_duration_s=1))
    parse_policy(policy_doc(max_radius_m=5000, max_duration_s=86400))


def test_revision_in_body_is_ignored_for_equality() -> None:
    assert parse_policy(policy_doc(revision=99)) == make_policy()


def test_changed_fields_never_carry_values() -> None:
    old = make_policy()
    new = make_policy(home={"lat": 1.0, "lon": 2.0}, consent=False)
    assert changed_fields(old, new) == ["consent", "home"]
    assert changed_fields(old, old) == []


def test_accept_in_auto_mode() -> None:
    decision = decide(make_policy(), make_claims(), NOW)
    assert isinstance(decision, Accept)
    assert decision.granted_scope == ("snapshot",)
    assert [c.entity_id for c in decision.cameras] == ["camera.front_door", "camera.garden"]


def test_pending_in_ask_mode_with_deadline() -> None:
    decision = decide(make_policy(mode="ask", ask_timeout_s=60), make_claims(), NOW)
    assert decision == Pending(("snapshot",), decision.cameras, decides_by=NOW + 60)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy_overrides", "claim_overrides", "reason"),
    [
        ({"consent": False}, {}, "consent_off"),
        ({"paused_until": "2030-01-01T00:00:00Z"}, {}, "paused"),
        ({}, {"lat": HOME["lat"] + 0.01}, "outside_area"),
        ({}, {"radius_m": 900}, "radius_too_large"),
        ({"max_duration_s": 600}, {"duration": 601}, "duration_too_long"),
        ({}, {"offense": "Protest"}, "excluded_offense"),
        ({}, {"offense": "reproductive health"}, "excluded_offense"),
        ({}, {"offense": " IMMIGRATION "}, "excluded_offense"),
        ({}, {"case_number": None}, "case_number_required"),
        ({}, {"case_number": "  "}, "case_number_required"),
        ({"allow_live": False}, {"scope": ("stream",)}, "stream_not_allowed"),
        (
            {"cameras": [{"entity_id": "camera.x", "label": "x", "share": False}]},
            {},
            "no_camera_shared",
        ),
    ],
)
def test_decline_reasons(
    policy_overrides: dict[str, Any], claim_overrides: dict[str, Any], reason: str
) -> None:
    policy = make_policy(**policy_overrides)
    assert decide(policy, make_claims(NOW, **claim_overrides), NOW) == Decline(reason)


def test_pause_in_the_past_does_not_decline() -> None:
    policy = make_policy(paused_until="2020-01-01T00:00:00Z")
    assert isinstance(decide(policy, make_claims(), NOW), Accept)


def test_area_edge_is_inside() -> None:
    # ~111 m north of home with a 120 m radius: inside; with 100 m: outside.
    claims_in = make_claims(lat=HOME["lat"] + 0.001, radius_m=120)
    claims_out = make_claims(lat=HOME["lat"] + 0.001, radius_m=100)
    assert isinstance(decide(make_policy(), claims_in, NOW), Accept)
    assert decide(make_policy(), claims_out, NOW) == Decline("outside_area")


def test_case_number_optional_when_not_required() -> None:
    policy = make_policy(require_case_number=False)
    assert isinstance(decide(policy, make_claims(case_number=None), NOW), Accept)


def test_snapshot_and_stream_downgraded_without_live() -> None:
    policy = make_policy(allow_live=False)
    decision = decide(policy, make_claims(scope=("snapshot", "stream")), NOW)
    assert isinstance(decision, Accept)
    assert decision.granted_scope == ("snapshot",)


def test_stream_granted_with_live() -> None:
    decision = decide(make_policy(), make_claims(scope=("snapshot", "stream")), NOW)
    assert isinstance(decision, Accept)
    assert decision.granted_scope == ("snapshot", "stream")


def test_only_shared_cameras_are_offered() -> None:
    cameras = [
        {"entity_id": "camera.a", "label": "A", "share": True},
        {"entity_id": "camera.b", "label": "B", "share": False},
    ]
    decision = decide(make_policy(cameras=cameras), make_claims(), NOW)
    assert isinstance(decision, Accept)
    assert [c.entity_id for c in decision.cameras] == ["camera.a"]


def test_decide_is_pure() -> None:
    policy, claims = make_policy(), make_claims()
    assert decide(policy, claims, NOW) == decide(policy, claims, NOW)


@pytest.mark.parametrize(
    "offense",
    [
        "\uff50\uff52\uff4f\uff54\uff45\uff53\uff54",  # fullwidth
        "pro\u200btest",  # zero-width space
        "pro\u00adtest",  # soft hyphen
        "pro\u2060test",  # word joiner
        "IMMIGRAT\u0130ON",  # dotted capital I
        "immigrati\u00f3n",  # combining accent after NFKD
        "Reproductive Health!",
        "reproductive\u2014health",  # em dash
        "Pr\u043etest",  # Cyrillic o in a Latin word: a lookalike, declined
        "\u200b",  # nothing left after normalising
        "Protests",  # the term starts a word (PROTOCOL.md section 2)
        "anti-war protest",
        "Immigration violation",
        "reproductive health services",
        "PROTEST_MARCH",
    ],
)
def test_offense_variants_are_excluded(offense: str) -> None:
    assert decide(make_policy(), make_claims(NOW, offense=offense), NOW) == Decline(
        "excluded_offense"
    )


def test_exclusion_spelled_oddly_by_the_owner_still_matches() -> None:
    policy = make_policy(
        excluded_offenses=["\uff30\uff32\uff2f\uff34\uff25\uff33\uff34", "Reproductive-Health"]
    )
    for offense in ("protest", "reproductive_health"):
        claims = make_claims(NOW, offense=offense)
        assert decide(policy, claims, NOW) == Decline("excluded_offense")


def test_non_latin_offense_is_fine_without_exclusions() -> None:
    policy = make_policy(excluded_offenses=[])
    assert isinstance(
        decide(policy, make_claims(NOW, offense="\u043f\u0440\u043e\u0442\u0435\u0441\u0442"), NOW),
        Accept,
    )
    assert isinstance(decide(make_policy(), make_claims(NOW, offense="burglary 2"), NOW), Accept)


def test_fractional_pause_is_rounded_up_never_shortened() -> None:
    policy = make_policy(paused_until="2030-01-01T00:00:00.400Z")
    assert policy.as_json()["paused_until"] == "2030-01-01T00:00:01Z"
    end = 1_893_456_000.4  # 2030-01-01T00:00:00.4Z
    assert policy.paused(end) and policy.paused(end + 0.5)
    assert not policy.paused(end + 0.6)
    assert make_policy(paused_until="2030-01-01T00:00:00Z").as_json()["paused_until"] == (
        "2030-01-01T00:00:00Z"
    )


def test_clip_fields_round_trip() -> None:
    doc = policy_doc(allow_clips=True, max_clip_s=600, max_clip_age_s=3600)
    doc["cameras"][0]["recorder"] = {"source": "frigate", "camera": "front_door"}
    doc["cameras"][1]["recorder"] = {"source": "unifiprotect"}
    stored = parse_policy(doc).as_json()
    assert stored["allow_clips"] is True
    assert (stored["max_clip_s"], stored["max_clip_age_s"]) == (600, 3600)
    assert [cam["recorder"] for cam in stored["cameras"]] == [
        {"source": "frigate", "camera": "front_door"},
        {"source": "unifiprotect"},
    ]
    assert parse_policy(stored) == parse_policy(doc)
    defaults = parse_policy({}).as_json()
    assert (defaults["allow_clips"], defaults["max_clip_s"], defaults["max_clip_age_s"]) == (
        False,
        1800,
        604800,
    )


def test_clip_is_granted_only_when_clips_are_allowed() -> None:
    """PROTOCOL 3.1: `clip` while `allow_clips` is false is granted without it as long as
    something is left; `["clip"]` alone is declined."""
    window = (int(NOW) - 600, int(NOW))
    wanted = make_claims(scope=("snapshot", "clip"), footage=window)
    decision = decide(make_policy(allow_clips=True), wanted, NOW)
    assert isinstance(decision, Accept) and decision.granted_scope == ("snapshot", "clip")
    decision = decide(make_policy(allow_clips=False), wanted, NOW)
    assert isinstance(decision, Accept) and decision.granted_scope == ("snapshot",)
    everything = make_claims(scope=("snapshot", "stream", "clip"), footage=window)
    decision = decide(make_policy(allow_clips=False, allow_live=False), everything, NOW)
    assert isinstance(decision, Accept) and decision.granted_scope == ("snapshot",)
    only_clip = make_claims(scope=("clip",), footage=window)
    assert decide(make_policy(allow_clips=False), only_clip, NOW) == Decline("clip_not_allowed")
    assert isinstance(decide(make_policy(allow_clips=True), only_clip, NOW), Accept)


@pytest.mark.parametrize(
    ("footage", "reason"),
    [
        ((int(NOW) - 601, int(NOW)), "footage_too_long"),  # max_clip_s 600
        ((int(NOW) - 3601, int(NOW) - 3500), "footage_too_old"),  # max_clip_age_s 3600
    ],
)
def test_a_footage_window_beyond_the_policy_is_declined(
    footage: tuple[int, int], reason: str
) -> None:
    """PROTOCOL 3.1: "a footage window longer than max_clip_s or starting before now -
    max_clip_age_s" declines; the limits themselves are accepted."""
    policy = make_policy(allow_clips=True, max_clip_s=600, max_clip_age_s=3600)
    claims = make_claims(scope=("snapshot", "clip"), footage=footage)
    assert decide(policy, claims, NOW) == Decline(reason)
    for edge in ((int(NOW) - 600, int(NOW)), (int(NOW) - 3600, int(NOW) - 3500)):
        claims = make_claims(scope=("snapshot", "clip"), footage=edge)
        assert isinstance(decide(policy, claims, NOW), Accept), edge
