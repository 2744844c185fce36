"""The control API fuzzed: every invalid input is a 400 with a clear error and changes
nothing; nothing is ever a 500 (hypothesis against the real add-on subprocess)."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub.protocol.conftest import HA_TOKEN, base_policy, standin_cameras
from tests.support.hub_process import HubProcess
from tests.support.standin_ha import StandinHA

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with StandinHA(token=HA_TOKEN, cameras=standin_cameras()).running() as ha:
        process = HubProcess(
            tmp_path_factory.mktemp("fuzz") / "data", ha_url=ha.url, ha_token=HA_TOKEN
        )
        process.start()
        process.put_policy(base_policy())
        try:
            yield process
        finally:
            process.stop(check=False)
            process.kill()


def _raw(hub: HubProcess, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
    request = urllib.request.Request(f"{hub.control_url}{path}", data=body, method=method)
    request.add_header("Authorization", f"Bearer {hub.control_token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _policy(hub: HubProcess) -> dict[str, Any]:
    return dict(hub.control_get("/control/v1/state")["policy"])


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    """A valid policy with one field (top level, in a camera, or in a mask) replaced."""
    paths = st.sampled_from(
        [
            ("consent",), ("paused_until",), ("mode",), ("ask_timeout_s",), ("home",),
            ("home", "lat"), ("max_radius_m",), ("max_duration_s",), ("max_unlocks_per_week",),
            ("allow_live",), ("require_case_number",), ("excluded_offenses",),
            ("excluded_offenses", 0), ("allow_clips",), ("max_clip_s",), ("max_clip_age_s",),
            ("cameras",), ("cameras", 0), ("cameras", 0, "entity_id"), ("cameras", 0, "label"),
            ("cameras", 0, "share"), ("cameras", 0, "masks"), ("cameras", 0, "masks", 0),
            ("cameras", 0, "masks", 0, 0), ("cameras", 0, "max_width"),
            ("cameras", 0, "max_fps"), ("cameras", 0, "recorder"), ("surprise",),
        ]
    )  # fmt: skip

    def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
        doc = copy.deepcopy(base_policy())  # its masks are module constants
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return doc

    return st.builds(mutate, paths, JSON)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=_mutations())
def test_every_policy_is_stored_or_refused_whole(hub: HubProcess, document: dict[str, Any]) -> None:
    before = _policy(hub)
    status, raw = _raw(hub, "PUT", "/control/v1/policy", json.dumps(document).encode())
    assert status in (200, 400), (status, raw)
    after = _policy(hub)
    if status == 400:
        body = json.loads(raw)
        assert body["error"] in ("invalid_policy", "invalid_request") and body["message"]
        assert after == before
    else:
        stored = json.loads(raw)
        assert after == stored
    hub.put_policy(base_policy())  # the next example starts from the baseline again


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=JSON)
def test_any_json_body_is_a_policy_or_a_400(hub: HubProcess, body: Any) -> None:
    before = _policy(hub)
    status, raw = _raw(hub, "PUT", "/control/v1/policy", json.dumps(body).encode())
    assert status in (200, 400), (status, raw)
    if status == 400:
        assert _policy(hub) == before
    hub.put_policy(base_policy())


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        b'{"max_radius_m": 1' + b"0" * 400 + b"}",  # 10**400
        b'{"paused_until": "9999-12-31T23:59:59-23:59"}',  # beyond year 9999 in UTC
        b'{"paused_until": "0001-01-01T00:00:00+23:59"}',  # before year 1 in UTC
        b"\xff\xfe not utf-8",
        b"",
        b"{" + b'"a": 1,' * 20000 + b'"b": 2}',
    ],
)
def test_hostile_bodies_are_400_and_change_nothing(hub: HubProcess, raw: bytes) -> None:
    before = _policy(hub)
    for path in ("/control/v1/policy", "/control/v1/preview"):
        method = "PUT" if path.endswith("policy") else "POST"
        status, answer = _raw(hub, method, path, raw)
        assert status == 400, (path, status, answer)
        assert json.loads(answer)["error"] in ("invalid_policy", "invalid_request")
    assert _policy(hub) == before


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    action=st.sampled_from(["approve", "decline", "revoke"]),
    unlock_id=st.text(
        alphabet=st.characters(codec="ascii", exclude_characters="/?#%"), min_size=1, max_size=40
    ),
)
def test_unknown_unlocks_are_404(hub: HubProcess, action: str, unlock_id: str) -> None:
    status, answer = _raw(
        hub, "POST", f"/control/v1/unlocks/{urllib.request.quote(unlock_id)}/{action}", b""
    )
    assert status == 404, (status, answer)
    assert json.loads(answer)["error"] == "not_found"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(after=st.text(max_size=12), limit=st.text(max_size=12))
def test_history_parameters_are_checked(hub: HubProcess, after: str, limit: str) -> None:
    query = urllib.parse.urlencode({"after": after, "limit": limit})
    status, answer = _raw(hub, "GET", f"/control/v1/history?{query}", None)
    assert status in (200, 400), (status, answer)
    if status == 400:
        assert json.loads(answer)["error"] == "invalid_request"
    else:
        assert isinstance(json.loads(answer), list)


def test_preview_of_every_kind_of_bad_body(hub: HubProcess) -> None:
    good = {"entity_id": "camera.front_door"}
    assert _raw(hub, "POST", "/control/v1/preview", json.dumps(good).encode())[0] == 200
    for body in (
        {"entity_id": "camera.front_door", "masks": [[[0, 0], [1, 0]]]},
        {"entity_id": "camera.front_door", "masks": "x"},
        {"entity_id": "camera.front_door", "max_width": 10**400},
        {"entity_id": "camera.nope!"},
        {"entity_id": "camera.front_door", "unexpected": True},
    ):
        status, answer = _raw(hub, "POST", "/control/v1/preview", json.dumps(body).encode())
        assert status == 400, (body, status, answer)


def test_nothing_above_left_a_500_in_the_log(hub: HubProcess) -> None:
    assert not [line for line in hub.output if "Traceback" in line], hub.log_tail()
