"""PROTOCOL 3: every city response carries Cache-Control: no-store; JSON error shape."""

from __future__ import annotations

import pytest

from tests.hub.protocol.conftest import Env, collect_parts
from tests.hub.protocol.helpers import assert_error, assert_no_store
from tests.support.city import tamper_signature


async def test_every_city_response_is_no_store(env: Env) -> None:
    u = await env.active_unlock(scope=["snapshot", "stream"], duration_s=60)
    cam = u.cam("Front door")
    responses = {
        "health": await env.city.request("GET", "/api/v1/health"),
        "unknown_path": await env.city.request("GET", "/nope"),
        "unknown_api_path": await env.city.request("GET", "/api/v1/nothing"),
        "root": await env.city.request("GET", "/"),
        "wrong_method": await env.city.request("PUT", "/api/v1/unlocks"),
        "bad_body": await env.city.request("POST", "/api/v1/unlocks", data=b"x"),
        "bad_token": await env.city.unlock(tamper_signature(env.token())),
        "created": (await env.unlock())[0],
        "get_unlock": await env.city.get_unlock(u.id, u.token),
        "get_unlock_401": await env.city.get_unlock(u.id, "nope"),
        "snapshot": await env.city.snapshot(u.id, cam, u.token),
        "snapshot_404": await env.city.snapshot(u.id, "c_nope", u.token),
    }
    async with env.city.stream(u.id, cam, u.token) as resp:
        parts, _ = await collect_parts(env.recorder, resp, duration_s=5, max_parts=1)
        stream_cc = resp.headers.get("Cache-Control", "")
    assert parts
    responses["delete"] = await env.city.delete(u.id, u.token)
    responses["snapshot_410"] = await env.city.snapshot(u.id, cam, u.token)
    missing = [
        name
        for name, r in responses.items()
        if "no-store" not in r.headers.get("Cache-Control", "").lower()
    ]
    if "no-store" not in stream_cc.lower():
        missing.append("stream")
    assert not missing, f"no Cache-Control: no-store on {missing}"
    assert responses["snapshot_410"].status == 410


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/api/v1/unlocks"), ("GET", "/api/v1/nothing"), ("GET", "/")],
)
async def test_unknown_paths_404_json(env: Env, method: str, path: str) -> None:
    r = await env.city.request(method, path)
    assert r.status in (404, 405), r
    assert_error(r, r.status, None)
    assert_no_store(r)
    assert "aiohttp" not in r.body.decode(errors="replace").lower()


async def test_odd_requests_get_clean_4xx(env: Env) -> None:
    """Bad input anywhere gets a clear error (JSON, no-store, 4xx), never a 5xx or a leak."""
    u = await env.active_unlock()
    cam = u.cam("Front door")
    cases = [
        ("GET", f"/api/v1/unlocks/{u.id}", {"Authorization": "Bearer " + "A" * 6000}),
        ("GET", f"/api/v1/unlocks/{u.id}", {"Authorization": "Bearer \u00e9t\u00e9"}),
        ("GET", f"/api/v1/unlocks/{u.id}", {"Authorization": f"bearer  {u.token}x"}),
        ("GET", "/api/v1/unlocks/%2e%2e%2f%2e%2e", {"Authorization": f"Bearer {u.token}"}),
        ("GET", "/api/v1/unlocks/\u00fcnl\u00f6ck", {"Authorization": f"Bearer {u.token}"}),
        (
            "GET",
            f"/api/v1/unlocks/{u.id}/cameras/..%2f..%2fstate/snapshot",
            {"Authorization": f"Bearer {u.token}"},
        ),
        (
            "GET",
            f"/api/v1/unlocks/{u.id}/cameras/{cam}/snapshot?entity_id=camera.garage",
            {"Authorization": f"Bearer {u.token}"},
        ),
        ("POST", f"/api/v1/unlocks/{u.id}", {"Authorization": f"Bearer {u.token}"}),
        ("POST", "/api/v1/unlocks", {"Content-Type": "multipart/form-data; boundary=x"}),
        ("POST", "/api/v1/unlocks", {"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for method, path, headers in cases:
        r = await env.city.request(method, path, headers=headers, data=b"token=abc")
        assert 400 <= r.status < 500 or (r.status == 200 and "entity_id" in path), (path, r)
        if r.status >= 400:
            assert_error(r, r.status, None)
        assert_no_store(r, path)
    # The unlock still works normally afterwards.
    assert (await env.city.get_unlock(u.id, u.token)).json["status"] == "active"
