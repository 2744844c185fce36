"""A `Listener` serving a small aiohttp app in-process, with limits the test chooses.

    async with serve(ConnectionLimits(head_timeout_s=1.0)) as served:
        served.port, served.listener

Routes: `GET /hello` (text), `GET /big` (8 MiB), `POST /echo` (the body back), `GET /drip`
(a chunk every 50 ms until the client goes away), `GET /boom` (raises).

`start_addon(**HubProcess options)` starts the real add-on (subprocess) with a stand-in Home
Assistant (camera.front_door) and an enrolled city hub; `Addon.unlock()` gets an active
snapshot+stream unlock, `Addon.mark()`/`lines_since()` read its log.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rtcc_hub.http_listener import ConnectionLimits, Listener
from tests.support.city import DEFAULT_HOME, CityHub
from tests.support.hub_process import HubProcess
from tests.support.standin_ha import StandinHA

BIG = 8 * 1024 * 1024


def toy_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * BIG)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:
            await response.write(b"x" * 1024)
            await asyncio.sleep(0.05)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug in a handler")

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/big", big)
    app.router.add_post("/echo", echo)
    app.router.add_get("/drip", drip)
    app.router.add_get("/boom", boom)
    return app


@dataclass
class Served:
    listener: Listener

    @property
    def port(self) -> int:
        return self.listener.port


@asynccontextmanager
async def serve(
    limits: ConnectionLimits, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Served]:
    listener = Listener(
        toy_app(), name="test API", host="127.0.0.1", port=0, limits=limits,
        ssl_context=ssl_context,
    )  # fmt: skip
    await listener.start()
    try:
        yield Served(listener)
    finally:
        await listener.stop()


def request(path: str = "/hello", *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{connection}\r\n".encode()


# -- a real add-on (subprocess) -----------------------------------------------------------------

FRONT = "camera.front_door"
HA_TOKEN = "standin-ha-token"


def addon_policy() -> dict[str, Any]:
    return {
        "consent": True, "mode": "auto", "home": dict(DEFAULT_HOME), "max_radius_m": 800,
        "max_duration_s": 3600, "max_unlocks_per_week": 1000, "allow_live": True,
        "require_case_number": True, "excluded_offenses": [],
        "cameras": [{"entity_id": FRONT, "label": "Front door", "share": True, "max_fps": 5}],
    }  # fmt: skip


@dataclass
class Addon:
    """A running add-on with a stand-in Home Assistant and an enrolled city hub."""

    hub: HubProcess
    city: CityHub

    @property
    def city_port(self) -> int:
        return int(self.hub.options["city_port"])

    @property
    def control_port(self) -> int:
        return int(self.hub.options["control_port"])

    def mark(self) -> int:
        """A position in the add-on's output, for `lines_since`."""
        return len(self.hub.output)

    def lines_since(self, mark: int) -> list[str]:
        return self.hub.output[mark:]

    def unlock(self, scope: tuple[str, ...] = ("snapshot", "stream")) -> dict[str, Any]:
        token = self.city.token(self.hub.home_id, scope=list(scope))
        req = urllib.request.Request(
            self.hub.city_url + "/api/v1/unlocks", method="POST",
            data=json.dumps({"token": token}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as response:
            body: dict[str, Any] = json.load(response)
        assert body["status"] == "active", body
        return body

    def stream_request(self, unlock: dict[str, Any]) -> bytes:
        camera = unlock["cameras"][0]["id"]
        return (
            f"GET /api/v1/unlocks/{unlock['unlock_id']}/cameras/{camera}/stream HTTP/1.1\r\n"
            f"Host: x\r\nAuthorization: Bearer {unlock['access_token']}\r\n\r\n"
        ).encode()


@pytest.fixture
def standin() -> Iterator[StandinHA]:
    with StandinHA(token=HA_TOKEN, cameras=[FRONT]).running() as ha:
        yield ha


@pytest.fixture
def start_addon(tmp_path: Path, standin: StandinHA) -> Iterator[Callable[..., Addon]]:
    """`start_addon(nofile=(soft, hard))` starts an add-on; all are stopped at the end."""
    started: list[HubProcess] = []

    def start(**kwargs: Any) -> Addon:
        city = CityHub.generate("jackson-rtcc", kid="k1")
        hub = HubProcess(
            tmp_path / f"data{len(started)}", hubs=[city.hub_config()], ha_url=standin.url,
            ha_token=HA_TOKEN, **kwargs,
        )  # fmt: skip
        started.append(hub)
        hub.start()
        hub.put_policy(addon_policy())
        return Addon(hub, city)

    yield start
    for hub in started:
        hub.stop(check=False)
        hub.kill()
