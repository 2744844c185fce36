"""City API over real HTTP on loopback, with a fake camera source and image processor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rtcc_hub.streaming import next_frame
from tests.hub.unit.conftest import Env
from tests.support import city as city_support

HOME_TEXTS = ("32.2988", "-90.1848", "camera.front_door", "camera.garden", "front_door")


def assert_no_leak(payload: bytes | str) -> None:
    text = payload if isinstance(payload, str) else payload.decode("latin-1")
    for secret in HOME_TEXTS:
        assert secret not in text


async def test_health_and_no_store(env: Env) -> None:
    response = await env.city_get("/api/v1/health", None)
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/control/v1/state", 404, "not_found"),
        ("PUT", "/api/v1/unlocks", 405, "method_not_allowed"),
    ],
)
async def test_errors_are_json_and_not_cached(
    env: Env, method: str, path: str, status: int, code: str
) -> None:
    async with env.session.request(method, env.city_url + path) as response:
        assert response.status == status
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.json()
        assert body["error"] == code and body["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"tok": "x"}',
        b'{"token": 5}',
        b"\xff\xfe",
        b'{"token": "' + b"a" * 17000 + b'"}',
    ],
)
async def test_bad_bodies(env: Env, body: bytes) -> None:
    async with env.session.post(env.city_url + "/api/v1/unlocks", data=body) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"
        assert response.headers["Cache-Control"] == "no-store"


async def test_consent_off_on_first_start_declines(env: Env) -> None:
    status, body = await env.unlock()
    assert status == 201
    assert body["status"] == "declined"
    assert "access_token" not in body and "cameras" not in body
    entries = await env.entries()
    status_entry = next(e for e in entries if e["event"] == "unlock_status")
    assert status_entry["detail"]["reason"] == "consent_off"


async def test_active_unlock_and_snapshot(env: Env) -> None:
    await env.put_policy()
    status, body = await env.unlock()
    assert status == 201, body
    assert body["status"] == "active"
    assert set(body) == {"unlock_id", "status", "expires_at", "access_token", "cameras"}
    assert [c["label"] for c in body["cameras"]] == ["Front door", "Garden"]
    assert all(c["capabilities"] == ["snapshot"] for c in body["cameras"])
    assert_no_leak(json.dumps(body))
    unlock_id, token = body["unlock_id"], body["access_token"]
    camera_id = body["cameras"][0]["id"]

    response = await env.city_get(f"/api/v1/unlocks/{unlock_id}", token)
    assert response.status == 200
    view = await response.json()
    assert view["status"] == "active" and view["cameras"] == body["cameras"]

    snap = await env.city_get(f"/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/snapshot", token)
    assert snap.status == 200
    assert snap.headers["Content-Type"] == "image/jpeg"
    assert snap.headers["Cache-Control"] == "no-store"
    data = await snap.read()
    assert b"RAW camera.front_door" in data and b"max_width=1280" in data
    served = [e for e in (await env.entries()) if e["event"] == "snapshot_served"]
    assert served[0]["detail"]["bytes"] == len(data)
    assert (await env.hub.owner.state_view())["counters"]["snapshots_served"] == 1


async def test_camera_ids_are_random_per_unlock(env: Env) -> None:
    await env.put_policy()
    _, first = await env.unlock()
    _, second = await env.unlock()
    ids1 = {c["id"] for c in first["cameras"]}
    ids2 = {c["id"] for c in second["cameras"]}
    assert not ids1 & ids2


async def test_wrong_or_missing_token_is_401(env: Env) -> None:
    await env.put_policy()
    _, first = await env.unlock()
    _, second = await env.unlock()
    base = f"/api/v1/unlocks/{first['unlock_id']}"
    for token in (None, "garbage", second["access_token"]):
        response = await env.city_get(base, token)
        assert response.status == 401
        assert (await response.json())["error"] == "invalid_token"
    response = await env.city_get("/api/v1/unlocks/u_unknown", first["access_token"])
    assert response.status == 401


async def test_replay_is_refused_also_after_restart(env: Env) -> None:
    await env.put_policy()
    token = env.token()
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        assert r.status == 201
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        assert r.status == 401
    await env.restart()
    async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
        assert r.status == 401
        assert (await r.json())["error"] == "invalid_token"
    reasons = [
        e["detail"]["reason"] for e in (await env.entries()) if e["event"] == "unlock_refused"
    ]
    assert reasons == ["replayed_jti", "replayed_jti"]


async def test_invalid_tokens_are_401_and_audited(env: Env) -> None:
    claims = env.city.claims(env.hub.home_id, now=env.clock())
    for token in (city_support.sign_none(claims), env.city.token("other-home", now=env.clock())):
        async with env.session.post(env.city_url + "/api/v1/unlocks", json={"token": token}) as r:
            assert r.status == 401
    refused = [e for e in (await env.entries()) if e["event"] == "unlock_refused"]
    assert [e["detail"] for e in refused] == [
        {"reason": "bad_algorithm", "status": 401},
        {"reason": "wrong_audience", "status": 401},
    ]
    assert "hub" not in refused[0] and refused[1]["hub"] == "jackson-rtcc"


async def test_quota_counts_declined_and_sets_retry_after(env: Env) -> None:
    await env.put_policy(max_unlocks_per_week=2, consent=True)
    assert (await env.unlock())[0] == 201
    assert (await env.unlock(incident={"id": "I", "offense": "protest", "case_number": "C"}))[
        0
    ] == 201
    async with env.session.post(
        env.city_url + "/api/v1/unlocks", json={"token": env.token()}
    ) as response:
        assert response.status == 429
        assert (await response.json())["error"] == "quota_exceeded"
        assert int(response.headers["Retry-After"]) == 7 * 24 * 3600
    env.clock.advance(7 * 24 * 3600 + 1)
    assert (await env.unlock())[0] == 201


async def test_snapshot_only_downgrade(env: Env) -> None:
    await env.put_policy(allow_live=False)
    _, body = await env.unlock(scope=["snapshot", "stream"])
    assert body["status"] == "active"
    assert body["cameras"][0]["capabilities"] == ["snapshot"]
    received = next(e for e in (await env.entries()) if e["event"] == "unlock_received")
    assert received["detail"]["granted_scope"] == ["snapshot"]
    assert received["detail"]["scope"] == ["snapshot", "stream"]
    stream = await env.city_get(
        f"/api/v1/unlocks/{body['unlock_id']}/cameras/{body['cameras'][0]['id']}/stream",
        body["access_token"],
    )
    assert stream.status == 403
    assert (await stream.json())["error"] == "not_active"


async def test_snapshot_status_codes(env: Env) -> None:
    await env.put_policy()
    _, body = await env.unlock(exp=int(env.clock()) + 100)
    unlock_id, token = body["unlock_id"], body["access_token"]
    cam = body["cameras"][0]["id"]
    path = f"/api/v1/unlocks/{unlock_id}/cameras/{{}}/snapshot"

    assert (await env.city_get(path.format("c_other"), token)).status == 404
    env.cameras.failing.add("camera.front_door")
    unavailable = await env.city_get(path.format(cam), token)
    assert unavailable.status == 503
    assert (await unavailable.json())["error"] == "camera_unavailable"
    env.cameras.failing.clear()
    env.processor.fail = True
    assert (await env.city_get(path.format(cam), token)).status == 503
    env.processor.fail = False

    await env.put_policy(paused_until="2030-01-01T00:00:00Z")
    paused = await env.city_get(path.format(cam), token)
    assert paused.status == 403
    view = await (await env.city_get(f"/api/v1/unlocks/{unlock_id}", token)).json()
    assert view["status"] == "suspended"
    await env.put_policy()
    assert (await env.city_get(path.format(cam), token)).status == 200

    env.clock.advance(100)
    gone = await env.city_get(path.format(cam), token)
    assert gone.status == 410
    view = await (await env.city_get(f"/api/v1/unlocks/{unlock_id}", token)).json()
    assert view["status"] == "ended" and view["ended_reason"] == "expired"


async def test_before_not_before_is_not_active(env: Env) -> None:
    await env.put_policy()
    now = int(env.clock())
    _, body = await env.unlock(nbf=now + 30, exp=now + 300)
    path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{body['cameras'][0]['id']}/snapshot"
    assert (await env.city_get(path, body["access_token"])).status == 403
    env.clock.advance(30)
    assert (await env.city_get(path, body["access_token"])).status == 200


async def test_unshared_camera_leaves_the_unlock_for_good(env: Env) -> None:
    await env.put_policy()
    _, body = await env.unlock()
    token, cam = body["access_token"], body["cameras"][1]["id"]
    path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{cam}/snapshot"
    doc_cameras = [
        {"entity_id": "camera.front_door", "label": "Front door", "share": True},
        {"entity_id": "camera.garden", "label": "Garden", "share": False},
    ]
    await env.put_policy(cameras=doc_cameras)
    assert (await env.city_get(path, token)).status == 404
    doc_cameras[1]["share"] = True
    await env.put_policy(cameras=doc_cameras)
    assert (await env.city_get(path, token)).status == 404
    removed = [e for e in (await env.entries()) if e["event"] == "camera_removed"]
    assert removed[0]["detail"] == {"camera_id": cam, "entity_id": "camera.garden"}


async def test_consent_withdrawn_ends_everything(env: Env) -> None:
    await env.put_policy()
    _, active = await env.unlock()
    await env.put_policy(mode="ask")
    _, pending = await env.unlock()
    assert pending["status"] == "pending" and "cameras" not in pending
    await env.put_policy(consent=False)
    for body in (active, pending):
        view = await (
            await env.city_get(f"/api/v1/unlocks/{body['unlock_id']}", body["access_token"])
        ).json()
        assert view["status"] == "ended" and view["ended_reason"] == "consent_withdrawn"


async def test_delete_ends_with_hub_closed(env: Env) -> None:
    await env.put_policy()
    _, body = await env.unlock()
    path = f"/api/v1/unlocks/{body['unlock_id']}"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.delete(env.city_url + path, headers=headers) as response:
        assert response.status == 204
        assert response.headers["Cache-Control"] == "no-store"
    async with env.session.delete(env.city_url + path, headers=headers) as response:
        assert response.status == 204
    view = await (await env.city_get(path, body["access_token"])).json()
    assert view["ended_reason"] == "hub_closed"
    snap = await env.city_get(
        path + f"/cameras/{body['cameras'][0]['id']}/snapshot", body["access_token"]
    )
    assert snap.status == 410


async def test_declined_bodies_never_leak(env: Env) -> None:
    await env.put_policy(max_radius_m=100)
    for claims in (
        {"area": {"lat": 32.31, "lon": -90.18, "radius_m": 50}},
        {"area": {"lat": 32.2988, "lon": -90.1848, "radius_m": 500}},
        {"incident": {"id": "I", "offense": "immigration", "case_number": "C"}},
    ):
        async with env.session.post(
            env.city_url + "/api/v1/unlocks", json={"token": env.token(**claims)}
        ) as response:
            raw = await response.read()
            assert response.status == 201
            assert json.loads(raw)["status"] == "declined"
            assert_no_leak(raw)
            for word in ("outside", "radius", "offense", "excluded"):
                assert word not in raw.decode()


async def test_openapi_served(env: Env) -> None:
    response = await env.city_get("/api/v1/openapi.json", None)
    assert response.status in (200, 404)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "overrides",
    [
        {"iat": 10**400},
        {"area": {"lat": 32.2988, "lon": -90.1848, "radius_m": 10**400}},
        {"jti": "\ud800abc"},
    ],
)
async def test_hostile_claims_are_401_and_audited(env: Env, overrides: dict[str, Any]) -> None:
    await env.put_policy()
    status, body = await env.unlock(**overrides)
    assert status == 401 and body["error"] == "invalid_token"
    refused = [e for e in (await env.entries()) if e["event"] == "unlock_refused"]
    assert [e["detail"] for e in refused] == [{"reason": "malformed_claims", "status": 401}]


async def test_unexpected_verifier_failure_is_an_audited_401(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rtcc_hub.intake

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("boom")

    monkeypatch.setattr(rtcc_hub.intake, "verify_unlock_token", explode)
    status, body = await env.unlock()
    assert status == 401 and body["error"] == "invalid_token"
    refused = [e for e in (await env.entries()) if e["event"] == "unlock_refused"]
    assert [e["detail"] for e in refused] == [{"reason": "malformed", "status": 401}]


async def test_a_failing_replay_lookup_is_503_and_records_nothing(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import rtcc_hub.intake

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    await env.put_policy()
    before = await env.entries()
    monkeypatch.setattr(rtcc_hub.intake, "jti_seen", explode)
    status, body = await env.unlock()
    assert status == 503 and body["error"] == "unavailable"
    assert await env.entries() == before
    monkeypatch.undo()
    assert (await env.unlock())[0] == 201


async def test_body_near_16_kib_is_accepted(env: Env) -> None:
    await env.put_policy()
    incident = {"id": "I-1", "case_number": "C-9", "offense": "burglary", "summary": "x" * 11_500}
    body = json.dumps({"token": env.token(incident=incident)}).encode()
    assert 12_000 < len(body) <= 16 * 1024
    async with env.session.post(
        env.city_url + "/api/v1/unlocks", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 201
        assert (await response.json())["status"] == "active"


@pytest.mark.parametrize("case_number", [None, ""])
async def test_null_or_empty_case_number_is_missing(env: Env, case_number: Any) -> None:
    incident = {"id": "I-1", "case_number": case_number, "offense": "burglary", "extra": True}
    await env.put_policy()
    status, body = await env.unlock(incident=incident)
    assert (status, body["status"]) == (201, "declined")
    statuses = [e for e in (await env.entries()) if e["event"] == "unlock_status"]
    assert statuses[-1]["detail"]["reason"] == "case_number_required"
    await env.put_policy(require_case_number=False)
    status, body = await env.unlock(incident=incident)
    assert (status, body["status"]) == (201, "active")
    received = [e for e in (await env.entries()) if e["event"] == "unlock_received"]
    assert received[-1]["detail"]["incident"] == {"id": "I-1", "offense": "burglary"}


async def test_parallel_snapshots_and_stream_share_upstream_requests(env: Env) -> None:
    await env.put_policy()
    _, body = await env.unlock(scope=["snapshot", "stream"])
    camera = body["cameras"][0]["id"]
    path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{camera}/snapshot"
    in_flight = peak = 0
    inner = env.cameras

    async def counting(entity_id: str) -> bytes:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.2)
            return await inner(entity_id)
        finally:
            in_flight -= 1

    env.hub._fetch_override = counting
    responses = await asyncio.gather(*(env.city_get(path, body["access_token"]) for _ in range(30)))
    assert [r.status for r in responses] == [200] * 30
    assert peak == 1
    assert env.cameras.fetches["camera.front_door"] == 1
    env.hub._fetch_override = env.cameras
    # Without a stream, the next snapshot asks upstream again (never an old still).
    assert (await env.city_get(path, body["access_token"])).status == 200
    assert env.cameras.fetches["camera.front_door"] == 2
    # While a stream polls the camera, a snapshot reuses its still within 1/max_fps.
    viewer = env.hub.access.streams.open(
        "camera.front_door", lambda: env.hub.access.spec("camera.front_door")
    )
    poller = env.hub.access.streams.pollers["camera.front_door"]
    assert await next_frame(viewer, 1.0) is not None  # the poller has a still
    assert (await env.city_get(path, body["access_token"])).status == 200
    assert env.cameras.fetches["camera.front_door"] == 2 + poller.polls
    await env.hub.access.streams.close(viewer)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"tok": "x"}', b'{"token": 5}', b'{"token": "' + b"a" * 17000 + b'"}'],
)
async def test_bad_bodies_are_audited(env: Env, body: bytes) -> None:
    async with env.session.post(env.city_url + "/api/v1/unlocks", data=body) as response:
        assert response.status == 400
    refused = [e for e in (await env.entries()) if e["event"] == "unlock_refused"]
    assert [e["detail"] for e in refused] == [{"reason": "invalid_request", "status": 400}]
    assert "hub" not in refused[0]


async def test_retry_after_when_the_quota_was_lowered(env: Env) -> None:
    await env.put_policy(max_unlocks_per_week=10)
    start = env.clock()
    for _ in range(4):
        assert (await env.unlock())[0] == 201
        env.clock.advance(100)
    await env.put_policy(max_unlocks_per_week=2)
    async with env.session.post(
        env.city_url + "/api/v1/unlocks", json={"token": env.token()}
    ) as response:
        assert response.status == 429
        # 4 in the window, 2 allowed: the third-newest (at start + 200) must leave first.
        expected = start + 200 + 7 * 24 * 3600 - env.clock()
        assert int(response.headers["Retry-After"]) == expected
    await env.put_policy(max_unlocks_per_week=0)
    async with env.session.post(
        env.city_url + "/api/v1/unlocks", json={"token": env.token()}
    ) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) == 7 * 24 * 3600


async def test_quota_rows_older_than_the_window_are_pruned(tmp_path: Any) -> None:
    import time

    from rtcc_hub.storage import Store, prune, quota_count, record_unlock_time

    store = await Store.open(tmp_path)
    deadline = time.monotonic() + 5
    await store.write([record_unlock_time("hub", 1000.0)], deadline=deadline)
    await store.write([record_unlock_time("hub", 1000.0 + 9 * 24 * 3600)], deadline=deadline)
    await store.write(prune(1000.0 + 9 * 24 * 3600), deadline=deadline)
    assert await store.read(lambda conn: quota_count(conn, "hub", 0)) == 1
    await store.close()


async def test_unlocks_of_a_hub_removed_from_the_options_end_at_restart(
    env: Env, city: city_support.CityHub
) -> None:
    """An owner who drops a hub (say its key leaked) leaves it no access after the restart."""
    from rtcc_hub.app import AddOn as Hub
    from rtcc_hub.options import parse_options
    from tests.hub.unit.conftest import options_dict
    from tests.hub.unit.fakes import FakeProcessor

    await env.put_policy()
    status, body = await env.unlock()
    assert status == 201
    assert body["status"] == "active"
    snapshot = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{body['cameras'][0]['id']}/snapshot"
    assert (await env.city_get(snapshot, body["access_token"])).status == 200

    await env.hub.stop()
    other = city_support.CityHub.generate("other-rtcc", "Other RTCC")
    env.hub = await Hub.create(
        parse_options(options_dict(city, hubs=[other.hub_config()])),
        env.data_dir,
        clock=env.clock,
        image_processor=FakeProcessor(),
        fetch_still=env.cameras,
    )  # type: ignore[arg-type]
    await env.hub.start()

    response = await env.city_get(snapshot, body["access_token"])
    assert response.status == 410
    view = await env.city_get(f"/api/v1/unlocks/{body['unlock_id']}", body["access_token"])
    assert (await view.json())["ended_reason"] == "revoked"
    ended = [
        e
        for e in (await env.entries())
        if e["event"] == "unlock_status" and e.get("unlock_id") == body["unlock_id"]
    ]
    assert ended[-1]["detail"]["status"] == "ended"
    assert ended[-1]["detail"]["reason"] == "revoked"


async def test_the_city_sees_a_missing_or_blank_label_as_camera_n(env: Env) -> None:
    """PROTOCOL 2 `label`: missing, empty or only whitespace is shown as `Camera N`, N the
    camera's position in the policy's list counting every camera, shared or not; nothing
    derived from the entity id."""
    cameras = [
        {"entity_id": "camera.hidden", "label": "Hidden", "share": False},
        {"entity_id": "camera.porch_door", "share": True},
        {"entity_id": "camera.side_gate", "label": " \u3000\t", "share": True},
        {"entity_id": "camera.garden", "label": "Garden", "share": True},
    ]
    await env.put_policy(cameras=cameras)
    status, body = await env.unlock()
    assert status == 201 and body["status"] == "active", body
    assert [c["label"] for c in body["cameras"]] == ["Camera 2", "Camera 3", "Garden"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(
        f"{env.city_url}/api/v1/unlocks/{body['unlock_id']}", headers=headers
    ) as response:
        view = await response.text()
    assert "Camera 2" in view
    for word in ("porch", "side", "gate", "hidden"):
        assert word not in view.lower() and word not in json.dumps(body).lower()
