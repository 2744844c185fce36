"""A stream whose camera stops giving images ends (camera_unavailable) after a bounded time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rtcc_hub import streaming
from rtcc_hub.options import parse_options
from rtcc_hub.storage import open_stream_rows
from tests.hub.unit.conftest import CONTROL_TOKEN, Env, options_dict
from tests.hub.unit.helpers import policy_doc
from tests.hub.unit.test_streaming import front_door, open_stream, read_frames
from tests.support.city import CityHub
from tests.support.standin_ha import StandinHA

STALL_S = 1.0


def test_stall_limit_is_a_named_bound() -> None:
    assert streaming.STALL_TIMEOUT_S == 15.0


def _closed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["event"] == "stream_closed"]


@pytest.fixture
async def real_hub(
    tmp_path: Path, city: CityHub, standin_ha: StandinHA
) -> AsyncIterator[tuple[Any, StandinHA]]:
    """The add-on in-process, reading stills from the stand-in Home Assistant (real imaging)."""
    from rtcc_hub.app import AddOn as Hub

    options = parse_options(options_dict(city, ha_url=standin_ha.url, ha_token=standin_ha.token))
    hub = await Hub.create(options, tmp_path)
    await hub.start()
    hub.access.stall_s = STALL_S
    try:
        yield hub, standin_ha
    finally:
        await hub.stop()


@pytest.mark.parametrize("mode", ["error", "hang"])
async def test_stream_ends_when_home_assistant_stops_giving_images(
    real_hub: tuple[Any, StandinHA], city: CityHub, mode: str
) -> None:
    hub, ha = real_hub
    base = f"http://127.0.0.1:{hub.city_port}"
    control = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.put(
            f"http://127.0.0.1:{hub.control_port}/control/v1/policy",
            json=policy_doc(),
            headers=control,
        ) as r:
            assert r.status == 200, await r.text()
        token = city.token(
            hub.home_id,
            scope=["snapshot", "stream"],
            area={"lat": 32.2988, "lon": -90.1848, "radius_m": 500},
            incident={"id": "I-1", "case_number": "C-9", "offense": "burglary"},
        )
        async with session.post(f"{base}/api/v1/unlocks", json={"token": token}) as r:
            body = await r.json()
        assert body["status"] == "active", body
        camera = body["cameras"][0]["id"]
        path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{camera}/stream"
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        async with session.get(base + path, headers=headers) as response:
            assert response.status == 200
            frames, ended = await read_frames(response, 0.8)
            assert frames and not ended
            ha.set_mode("camera.front_door", mode)
            switched = time.monotonic()
            _, ended = await read_frames(response, STALL_S + 4.0)
            assert ended, "the stream stayed open without frames"
            # Within the bound (from the last frame sent) plus the re-check slice and margin.
            assert time.monotonic() - switched <= STALL_S + 2.0
    await asyncio.sleep(0.3)
    [closed] = _closed(await hub.owner.history(0, 10**9))
    assert closed["detail"]["reason"] == "camera_unavailable"
    assert closed["detail"]["frames"] >= len(frames) > 0
    assert await hub.state.store.read(open_stream_rows) == []
    assert (await hub.owner.verify()).ok
    ha.set_mode("camera.front_door", "ok")


async def test_stream_ends_when_fake_camera_fails_mid_stream(env: Env) -> None:
    env.hub.access.stall_s = STALL_S
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        frames, _ = await read_frames(response, 0.5)
        assert frames
        env.cameras.failing.add("camera.front_door")
        switched = time.monotonic()
        _, ended = await read_frames(response, STALL_S + 4.0)
        assert ended and time.monotonic() - switched <= STALL_S + 2.0
    await asyncio.sleep(0.3)
    [closed] = _closed(await env.entries())
    assert closed["detail"]["reason"] == "camera_unavailable"


async def test_slow_healthy_camera_is_not_cut_off(env: Env) -> None:
    # max_fps 1 with a 0.5 s bound: the limit is two frame intervals (2 s), not 0.5 s.
    env.hub.access.stall_s = 0.5
    body, path = await open_stream(env, cameras=front_door(max_fps=1))
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        frames, ended = await read_frames(response, 3.2)
        assert not ended and len(frames) >= 3
    for _ in range(30):  # the add-on notices the client leaving at its next write (1 fps)
        if _closed(await env.entries()):
            break
        await asyncio.sleep(0.1)
    [closed] = _closed(await env.entries())
    assert closed["detail"]["reason"] != "camera_unavailable"


async def test_camera_back_within_the_bound_keeps_the_stream(env: Env) -> None:
    env.hub.access.stall_s = 2.0
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        await read_frames(response, 0.4)
        env.cameras.failing.add("camera.front_door")
        await read_frames(response, 1.0)
        env.cameras.failing.discard("camera.front_door")
        frames, ended = await read_frames(response, 2.0)
        assert not ended and frames
