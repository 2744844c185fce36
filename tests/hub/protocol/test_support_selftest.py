"""Self-tests of tests/support: the checks the protocol tests rely on can fail."""

from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
import jwt
import numpy as np
import pytest
from aiohttp import web

from tests.support import city, frames
from tests.support import jpeg as jp
from tests.support.standin_ha import StandinHA
from tests.support.streams import mjpeg_parts, sse_events

MASK = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]


def test_jpeg_helpers_detect_metadata_and_masks() -> None:
    raw = frames.make_frame(320, 240, 42, entity_id="camera.x")
    assert {s.name for s in jp.metadata_segments(raw)} == {"APP1", "APP13", "COM"}
    with pytest.raises(AssertionError):
        jp.assert_no_metadata(raw)
    img = jp.decode(raw)
    assert frames.read_counter(img) == 42
    with pytest.raises(AssertionError):
        jp.assert_masked(img, [MASK])
    masked = img.copy()
    masked[jp.polygon_mask(320, 240, MASK)] = 0
    clean = jp.encode(masked)
    jp.assert_no_metadata(clean)
    jp.assert_masked(jp.decode(clean), [MASK], margin=8)
    jp.assert_not_black(jp.decode(clean), [MASK])
    with pytest.raises(AssertionError):
        jp.assert_not_black(np.zeros_like(img), [MASK])
    assert jp.dimensions(jp.set_dimensions(clean, 60000, 50000)) == (60000, 50000)


def test_city_tokens_verify_with_pyjwt() -> None:
    hub = city.CityHub.generate(kid="k1")
    tok = hub.token("home")
    claims = jwt.decode(tok, hub.private_key.public_key(), algorithms=["EdDSA"], audience="home")
    assert claims["iss"] == hub.hub_id
    # PyJWT does not know the alg name "Ed25519": check that signature by hand.
    head, payload, sig = hub.token("home", alg="Ed25519").split(".")
    assert jwt.get_unverified_header(f"{head}.{payload}.{sig}")["alg"] == "Ed25519"
    raw_sig = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    hub.private_key.public_key().verify(raw_sig, f"{head}.{payload}".encode())
    assert "aud" not in hub.claims(city.DROP)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            city.tamper_signature(hub.token("home")),
            hub.private_key.public_key(),
            algorithms=["EdDSA"],
            audience="home",
        )
    assert jwt.get_unverified_header(city.sign_none(hub.claims("home")))["alg"] == "none"
    assert jwt.get_unverified_header(city.sign_rs256(hub.claims("home")))["alg"] == "RS256"
    hs = city.sign_hs256(hub.claims("home"), hub.public_pem)
    assert jwt.get_unverified_header(hs)["alg"] == "HS256"


async def test_standin_ha_modes_and_counters() -> None:
    async with StandinHA(token="t", cameras=["camera.a"]) as ha:
        auth = {"Authorization": "Bearer t"}
        url = f"{ha.url}/api/camera_proxy/camera.a"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{ha.url}/api/") as r:
                assert r.status == 401
            async with s.get(f"{ha.url}/api/", headers=auth) as r:
                assert await r.json() == {"message": "API running."}
            counters = []
            for _ in range(2):
                async with s.get(url, headers=auth) as r:
                    assert r.status == 200
                    counters.append(frames.read_counter(jp.decode(await r.read())))
            assert counters == [1, 2]
            ha.set_mode("camera.a", "error")
            async with s.get(url, headers=auth) as r:
                assert r.status == 500
            ha.set_mode("camera.a", "hang")
            ha.hang_s = 0.3
            t0 = time.monotonic()
            async with s.get(url, headers=auth) as r:
                assert r.status == 504
            assert time.monotonic() - t0 >= 0.25
            assert ha.requests("camera.a") == 4


async def _serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize("content_length", [True, False])
async def test_mjpeg_parser(content_length: bool) -> None:
    bodies = [frames.make_frame(64, 48, i) for i in range(3)]

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"}
        )
        await resp.prepare(request)
        for body in bodies:
            head = b"--frame\r\nContent-Type: image/jpeg\r\n"
            if content_length:
                head += f"Content-Length: {len(body)}\r\n".encode()
            await resp.write(head + b"\r\n" + body + b"\r\n")
            await asyncio.sleep(0.01)
        await resp.write(b"--frame--\r\n")
        return resp

    runner, url = await _serve(handler)
    try:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            parts = [p async for p in mjpeg_parts(r)]
    finally:
        await runner.cleanup()
    assert [p.body for p in parts] == bodies
    assert all(p.headers["content-type"] == "image/jpeg" for p in parts)


async def test_sse_parser() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b': keepalive\n\nid: 1\nevent: audit\ndata: {"seq": 1}\n\n')
        await resp.write(b'id: 2\nevent: audit\ndata: {"seq": 2}\n\n')
        return resp

    runner, url = await _serve(handler)
    try:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            events = [e async for e in sse_events(r)]
    finally:
        await runner.cleanup()
    assert [(e.id, e.event, e.json()["seq"]) for e in events] == [
        ("1", "audit", 1),
        ("2", "audit", 2),
    ]
