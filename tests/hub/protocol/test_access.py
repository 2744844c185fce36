"""PROTOCOL 3 / 3.2: access with the unlock's token (GET unlock, snapshot, DELETE, health)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.hub.protocol.conftest import BACK, BACK_MASK, BIG, FRONT, FRONT_MASK, Env, wait_for
from tests.hub.protocol.helpers import assert_error, assert_no_store, find, parse_time
from tests.support import frames
from tests.support import jpeg as jp


async def test_health_says_only_ok(env: Env) -> None:
    r = await env.city.request("GET", "/api/v1/health")
    assert r.status == 200, r
    assert r.json == {"status": "ok"}
    assert_no_store(r)


async def test_get_unlock_shape(env: Env) -> None:
    u = await env.active_unlock()
    r = await env.city.get_unlock(u.id, u.token)
    assert r.status == 200, r
    assert_no_store(r)
    body = r.json
    assert {"unlock_id", "status", "expires_at", "cameras"} <= set(body), body
    assert body["unlock_id"] == u.id
    assert body["status"] == "active"
    assert "ended_reason" not in body or body["ended_reason"] is None
    assert abs(parse_time(body["expires_at"]) - u.claims["exp"]) <= 1
    assert sorted(c["id"] for c in body["cameras"]) == sorted(c["id"] for c in u.cameras)
    assert "access_token" not in body


async def test_401_for_wrong_or_missing_token_and_unknown_unlock(env: Env) -> None:
    a = await env.active_unlock()
    b = await env.active_unlock()
    cam = a.cam("Front door")
    cases = {
        "no_token": (a.id, None),
        "other_unlocks_token": (a.id, b.token),
        "garbage_token": (a.id, "x" * 43),
        "token_with_suffix": (a.id, a.token + "x"),
        "token_prefix": (a.id, a.token[:-1]),
        "unknown_unlock_with_valid_token": ("u_does_not_exist", a.token),
        "unknown_unlock_uuid": ("00000000-0000-4000-8000-000000000000", a.token),
    }
    for name, (uid, tok) in cases.items():
        for method, path in (
            ("GET", f"/api/v1/unlocks/{uid}"),
            ("GET", f"/api/v1/unlocks/{uid}/cameras/{cam}/snapshot"),
            ("GET", f"/api/v1/unlocks/{uid}/cameras/{cam}/stream"),
            ("DELETE", f"/api/v1/unlocks/{uid}"),
        ):
            r = await env.city.request(method, path, token=tok)
            assert r.status == 401, f"{name} {method} {path}: {r!r}"
            assert_error(r, 401, "invalid_token")
            assert_no_store(r, f"{name} {method} {path}")
    # A declined unlock has no token: any token for it is refused.
    from tests.support.city import default_incident

    d, _ = await env.unlock(incident=default_incident(offense="protest"))
    assert d.json["status"] == "declined"
    r = await env.city.get_unlock(d.json["unlock_id"], a.token)
    assert_error(r, 401, "invalid_token")
    # Basic auth / other schemes are not accepted either.
    r = await env.city.request(
        "GET", f"/api/v1/unlocks/{a.id}", headers={"Authorization": f"Basic {a.token}"}
    )
    assert_error(r, 401, "invalid_token")
    # The unlock is still usable with its own token afterwards.
    assert (await env.city.get_unlock(a.id, a.token)).json["status"] == "active"


async def test_snapshot_masked_and_stripped(env: Env) -> None:
    u = await env.active_unlock()
    r = await env.city.snapshot(u.id, u.cam("Front door"), u.token)
    assert r.status == 200, r
    assert r.headers["Content-Type"].split(";")[0].strip() == "image/jpeg"
    assert_no_store(r)
    jp.assert_no_metadata(r.body)
    assert jp.dimensions(r.body) == (640, 480)  # narrower than max_width: not scaled
    img = jp.decode(r.body)
    jp.assert_masked(img, [FRONT_MASK], margin=16)
    jp.assert_not_black(img, [FRONT_MASK])
    assert frames.read_counter(img) >= 1  # a real upstream frame


async def test_snapshot_scaled_to_max_width_and_triangle_masked(env: Env) -> None:
    u = await env.active_unlock()
    r = await env.city.snapshot(u.id, u.cam("Back yard"), u.token)
    assert r.status == 200, r
    jp.assert_no_metadata(r.body)
    w, h = jp.dimensions(r.body)
    assert w <= 640, (w, h)
    assert w >= 160, (w, h)
    assert abs(w / h - 1280 / 720) < 0.03, (w, h)
    img = jp.decode(r.body)
    jp.assert_masked(img, [BACK_MASK], margin=12)
    jp.assert_not_black(img, [BACK_MASK], margin=16)


async def test_snapshot_max_width_change_applies(env: Env) -> None:
    await env.update_camera(FRONT, max_width=320)
    u = await env.active_unlock()
    r = await env.city.snapshot(u.id, u.cam("Front door"), u.token)
    assert r.status == 200, r
    w, h = jp.dimensions(r.body)
    assert w <= 320
    assert abs(w / h - 640 / 480) < 0.03
    jp.assert_masked(jp.decode(r.body), [FRONT_MASK], margin=10)


async def test_mask_added_during_unlock_applies_at_once(env: Env) -> None:
    u = await env.active_unlock()
    full = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    await env.update_camera(BIG, masks=[full])
    r = await env.city.snapshot(u.id, u.cam("Driveway"), u.token)
    assert r.status == 200, r
    jp.assert_masked(jp.decode(r.body), [full], margin=1)


async def test_snapshot_404_for_camera_not_in_unlock(env: Env) -> None:
    a = await env.active_unlock()
    b = await env.active_unlock()
    for cam in ("c_nope", b.cam("Front door"), FRONT, "front_door"):
        r = await env.city.snapshot(a.id, cam, a.token)
        assert_error(r, 404, "not_found")
        assert_no_store(r)


async def test_camera_unshared_leaves_unlock(env: Env) -> None:
    u = await env.active_unlock()
    cam = u.cam("Back yard")
    assert (await env.city.snapshot(u.id, cam, u.token)).status == 200
    seq = await env.control.head_seq()
    await env.update_camera(BACK, share=False)
    r = await env.city.snapshot(u.id, cam, u.token)
    assert_error(r, 404, "not_found")
    body = (await env.city.get_unlock(u.id, u.token)).json
    assert cam not in [c["id"] for c in body["cameras"]]
    assert body["status"] == "active"
    assert (await env.city.snapshot(u.id, u.cam("Front door"), u.token)).status == 200
    # Sharing it again does not bring it back into this unlock.
    await env.update_camera(BACK, share=True)
    assert (await env.city.snapshot(u.id, cam, u.token)).status == 404
    removed = find(await env.control.entries_since(seq), "camera_removed", unlock_id=u.id)
    assert removed, "no camera_removed audit entry"
    assert removed[0]["detail"]["entity_id"] == BACK
    assert removed[0]["detail"]["camera_id"] == cam


async def test_delete_ends_unlock_hub_closed(env: Env) -> None:
    u = await env.active_unlock()
    cam = u.cam("Front door")
    r = await env.city.delete(u.id, u.token)
    assert r.status == 204, r
    assert r.body == b""
    assert_no_store(r)
    g = await env.city.get_unlock(u.id, u.token)
    assert g.status == 200, g
    assert g.json["status"] == "ended"
    assert g.json["ended_reason"] == "hub_closed"
    assert_error(await env.city.snapshot(u.id, cam, u.token), 410, "gone")
    state = await env.control.state()
    assert u.id not in [x["unlock_id"] for x in state["unlocks"]]


async def test_410_after_revoke(env: Env) -> None:
    u = await env.active_unlock()
    r = await env.control.action(u.id, "revoke")
    assert r.status == 200, r
    g = await env.city.get_unlock(u.id, u.token)
    assert g.json["status"] == "ended"
    assert g.json["ended_reason"] == "revoked"
    r = await env.city.snapshot(u.id, u.cam("Front door"), u.token)
    assert_error(r, 410, "gone")
    assert_no_store(r)


async def test_expiry_ends_unlock(env: Env) -> None:
    u = await env.active_unlock(duration_s=2)
    cam = u.cam("Front door")
    assert (await env.city.snapshot(u.id, cam, u.token)).status == 200
    await asyncio.sleep(max(0.0, u.claims["exp"] - time.time()) + 0.05)
    # At or after exp no image may leave.
    r = await env.city.snapshot(u.id, cam, u.token)
    assert_error(r, 410, "gone")

    async def ended() -> bool:
        b = (await env.city.get_unlock(u.id, u.token)).json
        return b["status"] == "ended" and b.get("ended_reason") == "expired"

    assert await wait_for(ended, 3.0)


async def test_consent_withdrawn_ends_every_unlock(env: Env) -> None:
    a = await env.active_unlock()
    b = await env.active_unlock()
    await env.update_policy(consent=False)
    for u in (a, b):
        g = (await env.city.get_unlock(u.id, u.token)).json
        assert g["status"] == "ended"
        assert g["ended_reason"] == "consent_withdrawn"
        assert_error(await env.city.snapshot(u.id, u.cam("Front door"), u.token), 410, "gone")
    # Consent given again does not revive them.
    await env.update_policy(consent=True)
    assert (await env.city.get_unlock(a.id, a.token)).json["status"] == "ended"


@pytest.mark.parametrize("mode", ["error", "corrupt", "huge", "not_found"])
async def test_503_when_home_assistant_fails(env: Env, mode: str) -> None:
    u = await env.active_unlock()
    env.ha.set_mode(FRONT, mode)
    r = await env.city.snapshot(u.id, u.cam("Front door"), u.token)
    assert_error(r, 503, "camera_unavailable")
    assert_no_store(r)
    assert "500" not in r.json["message"]
    env.ha.set_mode(FRONT, "ok")
    assert (await env.city.snapshot(u.id, u.cam("Front door"), u.token)).status == 200


async def test_503_within_10s_when_home_assistant_hangs(env: Env) -> None:
    u = await env.active_unlock()
    env.ha.set_mode(BACK, "hang")
    t0 = time.monotonic()
    r = await env.city.snapshot(u.id, u.cam("Back yard"), u.token)
    elapsed = time.monotonic() - t0
    assert_error(r, 503, "camera_unavailable")
    assert elapsed <= 10.5, f"answered after {elapsed:.1f} s"


async def test_access_tokens_stored_only_as_hashes(env: Env) -> None:
    u = await env.active_unlock()
    assert (await env.city.get_unlock(u.id, u.token)).status == 200
    await asyncio.sleep(0.2)
    needle = u.token.encode()
    for path in env.hub.data_dir.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), f"access token in clear in {path.name}"


# Not aligned to 8x8 / MCU blocks anywhere.
ODD_MASK = [[0.13, 0.07], [0.61, 0.11], [0.47, 0.53], [0.09, 0.41]]


async def test_mask_may_grow_but_never_shrinks(env: Env) -> None:
    """PROTOCOL 2 masks: growing to 8x8/MCU blocks is fine, shrinking is not.

    Right up to 2 px inside the polygon edge no pixel may be bright (JPEG ringing of a
    pixel-exact mask stays far below 80 at any sane quality; an unmasked pixel of the
    stand-in frame is 150..255).
    """
    await env.update_camera(FRONT, masks=[ODD_MASK])
    await env.update_camera(BACK, masks=[ODD_MASK])
    u = await env.active_unlock()
    for label in ("Front door", "Back yard"):
        r = await env.city.snapshot(u.id, u.cam(label), u.token)
        assert r.status == 200, r
        img = jp.decode(r.body)
        jp.assert_masked(img, [ODD_MASK], margin=16, threshold=24)
        jp.assert_masked(img, [ODD_MASK], margin=2, threshold=80)
        jp.assert_not_black(img, [ODD_MASK])


async def test_nothing_leaves_before_nbf(env: Env) -> None:
    """Only inside the unlock's time window: an unlock whose nbf is ahead serves nothing yet."""
    now = int(time.time())
    r, _ = await env.unlock(nbf=now + 30, exp=now + 300)
    assert r.status == 201, r
    body = r.json
    assert body["status"] == "active", body  # auto mode: accepted as active, served from nbf
    uid, tok = body["unlock_id"], body["access_token"]
    cams = body["cameras"]
    assert cams
    for cam in cams:
        s = await env.city.snapshot(uid, cam["id"], tok)
        assert s.status in (403, 404), s
        assert_error(s, s.status, None)
