"""Black-box fixtures: the real add-on subprocess, a stand-in Home Assistant, a test city hub.

`env` (function scope) gives each test a reset add-on (revoke_all + the baseline policy +
cameras back to normal) and thin HTTP clients:

    async def test_x(env):
        u = await env.active_unlock(scope=["snapshot", "stream"])
        r = await env.city.snapshot(u.id, u.cam("Front door"), u.token)
        state = await env.control.state()

Every city-API response body and header set is recorded; after each test none of them may
contain the home's location or an entity id (PROTOCOL 2 `home`, 3 `message`, 3.1 camera ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.city import DEFAULT_HOME, CityHub
from tests.support.hub_process import HubProcess
from tests.support.standin_ha import Camera, StandinHA
from tests.support.streams import Part, mjpeg_parts

HA_TOKEN = "standin-ha-token"
CONTROL_TOKEN = "control-token-for-tests"

FRONT = "camera.front_door"  # 640x480, masked top-left, max_width 1280, max_fps 5
BACK = "camera.back_yard"  # 1280x720, triangle mask, max_width 640, max_fps 5
GARAGE = "camera.garage"  # 640x480, share false
BIG = "camera.driveway"  # 1280x720 noise (large frames), max_fps 4
ENTITY_IDS = (FRONT, BACK, GARAGE, BIG)

FRONT_MASK = [[0.0, 0.0], [0.35, 0.0], [0.35, 0.6], [0.0, 0.6]]
BACK_MASK = [[0.5, 0.0], [1.0, 0.0], [1.0, 0.6]]

# Strings that must never reach the city (home location and entity ids).
FORBIDDEN = (
    str(DEFAULT_HOME["lat"]),
    str(DEFAULT_HOME["lon"]),
    "32.29",
    "90.18",
    "camera.",
    "front_door",
    "back_yard",
    "garage",
    "driveway",
    # nothing of Home Assistant or of the control side (PROTOCOL 3 `message`)
    "camera_proxy",
    "supervisor",
    HA_TOKEN,
    CONTROL_TOKEN,
)


def base_policy(**overrides: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "consent": True,
        "paused_until": None,
        "mode": "auto",
        "ask_timeout_s": 600,
        "home": dict(DEFAULT_HOME),
        "max_radius_m": 800,
        "max_duration_s": 3600,
        "max_unlocks_per_week": 1000,
        "allow_live": True,
        "require_case_number": True,
        "excluded_offenses": ["protest", "immigration", "reproductive_health"],
        "allow_clips": False,
        "max_clip_s": 1800,
        "max_clip_age_s": 604800,
        "cameras": [
            {
                "entity_id": FRONT,
                "label": "Front door",
                "share": True,
                "masks": [FRONT_MASK],
                "max_width": 1280,
                "max_fps": 5,
                "recorder": None,
            },
            {
                "entity_id": BACK,
                "label": "Back yard",
                "share": True,
                "masks": [BACK_MASK],
                "max_width": 640,
                "max_fps": 5,
                "recorder": None,
            },
            {
                "entity_id": GARAGE,
                "label": "Garage",
                "share": False,
                "masks": [],
                "max_width": 1280,
                "max_fps": 5,
                "recorder": None,
            },
            {
                "entity_id": BIG,
                "label": "Driveway",
                "share": True,
                "masks": [],
                "max_width": 1920,
                "max_fps": 4,
                "recorder": None,
            },
        ],
    }
    policy.update(copy.deepcopy(overrides))
    return policy


def camera_policy(policy: dict[str, Any], entity_id: str) -> dict[str, Any]:
    return next(c for c in policy["cameras"] if c["entity_id"] == entity_id)


# -- HTTP wrappers -------------------------------------------------------------------------------


@dataclass
class Resp:
    status: int
    headers: Any  # CIMultiDictProxy
    body: bytes
    elapsed: float = 0.0

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> str | None:
        try:
            data = self.json
        except ValueError:
            return None
        return data.get("error") if isinstance(data, dict) else None

    def __repr__(self) -> str:
        return f"Resp({self.status}, {self.body[:300]!r})"


@dataclass
class Recorder:
    entries: list[tuple[str, Any, bytes]] = field(default_factory=list)

    def add(self, what: str, headers: Any, body: bytes) -> None:
        self.entries.append((what, headers, body))

    def assert_no_leaks(self) -> None:
        for what, headers, body in self.entries:
            blob = body + "\n".join(f"{k}: {v}" for k, v in (headers or {}).items()).encode()
            for needle in FORBIDDEN:
                assert needle.encode() not in blob, f"{what}: city response contains {needle!r}"


class CityClient:
    def __init__(self, session: aiohttp.ClientSession, base: str, recorder: Recorder) -> None:
        self.session = session
        self.base = base
        self.recorder = recorder

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Resp:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        t0 = time.monotonic()
        async with self.session.request(method, self.base + path, headers=hdrs, **kwargs) as r:
            body = await r.read()
            resp = Resp(r.status, r.headers, body, time.monotonic() - t0)
        self.recorder.add(f"{method} {path}", r.headers, body)
        return resp

    async def unlock(self, jws: Any) -> Resp:
        return await self.request("POST", "/api/v1/unlocks", json={"token": jws})

    async def get_unlock(self, unlock_id: str, token: str | None) -> Resp:
        return await self.request("GET", f"/api/v1/unlocks/{unlock_id}", token=token)

    async def snapshot(self, unlock_id: str, camera_id: str, token: str | None) -> Resp:
        return await self.request(
            "GET", f"/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/snapshot", token=token
        )

    async def delete(self, unlock_id: str, token: str | None) -> Resp:
        return await self.request("DELETE", f"/api/v1/unlocks/{unlock_id}", token=token)

    @contextlib.asynccontextmanager
    async def stream(
        self, unlock_id: str, camera_id: str, token: str | None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        path = f"/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/stream"
        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(self.base + path, headers=hdrs, timeout=timeout) as r:
            self.recorder.add(f"GET {path} (headers)", r.headers, b"")
            yield r


class ControlClient:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session = session
        self.base = base
        self.token = token

    async def request(
        self, method: str, path: str, *, token: str | None = "", **kwargs: Any
    ) -> Resp:
        hdrs: dict[str, str] = kwargs.pop("headers", {})
        tok = self.token if token == "" else token
        if tok is not None:
            hdrs["Authorization"] = f"Bearer {tok}"
        async with self.session.request(method, self.base + path, headers=hdrs, **kwargs) as r:
            return Resp(r.status, r.headers, await r.read())

    async def state(self) -> dict[str, Any]:
        r = await self.request("GET", "/control/v1/state")
        assert r.status == 200, r
        return dict(r.json)

    async def put_policy(self, policy: Any) -> Resp:
        return await self.request("PUT", "/control/v1/policy", json=policy)

    async def action(self, unlock_id: str, action: str) -> Resp:
        return await self.request("POST", f"/control/v1/unlocks/{unlock_id}/{action}")

    async def revoke_all(self) -> Resp:
        return await self.request("POST", "/control/v1/revoke_all")

    async def history(self, after: int | None = None, limit: int | None = None) -> Resp:
        params = {}
        if after is not None:
            params["after"] = str(after)
        if limit is not None:
            params["limit"] = str(limit)
        return await self.request("GET", "/control/v1/history", params=params)

    async def all_entries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            r = await self.history(after=after, limit=1000)
            assert r.status == 200, r
            page = r.json
            assert isinstance(page, list), page
            out.extend(page)
            if len(page) < 1000:
                return out
            after = page[-1]["seq"]

    async def entries_since(self, seq: int) -> list[dict[str, Any]]:
        r = await self.history(after=seq, limit=1000)
        assert r.status == 200, r
        assert isinstance(r.json, list), r.json
        return list(r.json)

    async def head_seq(self) -> int:
        """The newest seq: every entry, counted by the verifier (seq counts from 1)."""
        r = await self.request("GET", "/control/v1/audit/verify")
        assert r.status == 200, r
        return int(r.json["entries"])

    async def verify(self) -> dict[str, Any]:
        r = await self.request("GET", "/control/v1/audit/verify")
        assert r.status == 200, r
        return dict(r.json)


# -- environment ---------------------------------------------------------------------------------


@dataclass
class Unlock:
    id: str
    token: str
    body: dict[str, Any]
    claims: dict[str, Any]

    @property
    def cameras(self) -> list[dict[str, Any]]:
        return list(self.body.get("cameras", []))

    def cam(self, label: str) -> str:
        for c in self.cameras:
            if c["label"] == label:
                return str(c["id"])
        raise KeyError(f"no camera labelled {label!r} in {self.cameras}")


@dataclass
class Env:
    hub: HubProcess
    ha: StandinHA
    key: CityHub
    session: aiohttp.ClientSession
    city: CityClient
    control: ControlClient
    recorder: Recorder
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def home_id(self) -> str:
        return self.hub.home_id

    async def set_policy(self, **overrides: Any) -> dict[str, Any]:
        policy = base_policy(**overrides)
        r = await self.control.put_policy(policy)
        assert r.status == 200, r
        self.policy = r.json
        return dict(r.json)

    async def update_camera(self, entity_id: str, **changes: Any) -> dict[str, Any]:
        policy = {k: v for k, v in copy.deepcopy(self.policy).items() if k != "revision"}
        camera_policy(policy, entity_id).update(changes)
        r = await self.control.put_policy(policy)
        assert r.status == 200, r
        self.policy = r.json
        return dict(r.json)

    async def update_policy(self, **changes: Any) -> dict[str, Any]:
        policy = {k: v for k, v in copy.deepcopy(self.policy).items() if k != "revision"}
        policy.update(changes)
        r = await self.control.put_policy(policy)
        assert r.status == 200, r
        self.policy = r.json
        return dict(r.json)

    def token(self, key: CityHub | None = None, **claims: Any) -> str:
        aud = claims.pop("aud", self.home_id)
        return (key or self.key).token(aud, **claims)

    async def unlock(self, key: CityHub | None = None, **claims: Any) -> tuple[Resp, dict]:
        k = key or self.key
        c = k.claims(claims.pop("aud", self.home_id), **claims)
        return await self.city.unlock(k.sign(c)), c

    async def active_unlock(self, **claims: Any) -> Unlock:
        r, c = await self.unlock(**claims)
        assert r.status == 201, r
        assert r.json["status"] == "active", r
        return Unlock(r.json["unlock_id"], r.json["access_token"], r.json, c)

    async def pending_unlock(self, **claims: Any) -> Unlock:
        r, c = await self.unlock(**claims)
        assert r.status == 201, r
        assert r.json["status"] == "pending", r
        return Unlock(r.json["unlock_id"], r.json["access_token"], r.json, c)


async def wait_for(
    check: Callable[[], Awaitable[Any]], within_s: float = 5.0, interval: float = 0.1
) -> Any:
    """Poll `check` until it returns a truthy value; return it (or the last value on timeout)."""
    deadline = time.monotonic() + within_s
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    return value


async def collect_parts(
    recorder: Recorder,
    resp: aiohttp.ClientResponse,
    *,
    duration_s: float | None = None,
    max_parts: int | None = None,
) -> tuple[list[Part], bool]:
    """Read MJPEG parts for `duration_s` (or until `max_parts`); returns (parts, ended).

    `ended` is True when the server ended the response (EOF or connection closed).
    """
    parts: list[Part] = []

    async def reader() -> None:
        async for part in mjpeg_parts(resp):
            recorder.add("stream part", part.headers, part.body)
            parts.append(part)
            if max_parts is not None and len(parts) >= max_parts:
                return

    task = asyncio.ensure_future(reader())
    try:
        await asyncio.wait_for(asyncio.shield(task), duration_s)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await task
        return parts, False
    except (aiohttp.ClientError, ConnectionError):
        return parts, True
    if max_parts is not None and len(parts) >= max_parts:
        return parts, False
    return parts, True


def standin_cameras() -> list[Camera]:
    return [
        Camera(FRONT, 640, 480, seed=0),
        Camera(BACK, 1280, 720, seed=1),
        Camera(GARAGE, 640, 480, seed=2),
        Camera(BIG, 1280, 720, seed=3, noise=True),
    ]


def start_hub(
    data_dir: Path, ha: StandinHA, hubs: list[dict[str, Any]], **kwargs: Any
) -> HubProcess:
    hub = HubProcess(
        data_dir,
        hubs=hubs,
        ha_url=ha.url,
        ha_token=HA_TOKEN,
        control_token=CONTROL_TOKEN,
        **kwargs,
    )
    return hub.start()


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ha() -> Iterator[StandinHA]:
    with StandinHA(token=HA_TOKEN, cameras=standin_cameras(), hang_s=30).running() as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def other_key() -> CityHub:
    """A second configured hub (no kid)."""
    return CityHub.generate("biloxi-rtcc", "Biloxi RTCC")


@pytest.fixture(scope="session")
def quota_key() -> CityHub:
    """A configured hub used only by the quota tests."""
    return CityHub.generate("quota-rtcc", "Quota RTCC", kid="q1")


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory,
    ha: StandinHA,
    city_key: CityHub,
    other_key: CityHub,
    quota_key: CityHub,
) -> Iterator[HubProcess]:
    data = tmp_path_factory.mktemp("hub") / "data"
    process = start_hub(
        data, ha, [city_key.hub_config(), other_key.hub_config(), quota_key.hub_config()]
    )
    try:
        yield process
    finally:
        rc = process.stop(check=False)
        process.kill()
        assert rc == 0, f"add-on exit code {rc} on SIGTERM:\n{process.log_tail()}"


@pytest.fixture
async def env(hub: HubProcess, ha: StandinHA, city_key: CityHub) -> AsyncIterator[Env]:
    recorder = Recorder()
    for cam in standin_cameras():
        ha.set_mode(cam.entity_id, "ok", delay_s=0.0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        control = ControlClient(session, hub.control_url, hub.control_token)
        e = Env(
            hub,
            ha,
            city_key,
            session,
            CityClient(session, hub.city_url, recorder),
            control,
            recorder,
        )
        r = await control.revoke_all()
        assert r.status == 200, r
        await e.set_policy()
        yield e
    recorder.assert_no_leaks()
