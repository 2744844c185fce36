"""A stand-in Home Assistant: just `GET /api/` and `GET /api/camera_proxy/<entity_id>`.

In-process (inside a running event loop)::

    async with StandinHA(token="t", cameras=["camera.front_door"]) as ha:
        ha.url            # http://127.0.0.1:PORT
        ha.set_mode("camera.front_door", "hang")
        ha.requests("camera.front_door")

In a background thread with its own loop (for sync / module-scoped fixtures)::

    with StandinHA(token="t", cameras=["camera.front_door"]).running() as ha: ...

As a subprocess::

    python -m tests.support.standin_ha --port 8123 --token T --camera camera.front_door \
        [--camera camera.back_yard=1280x720] [--mode camera.back_yard=error]

prints ``standin_ha listening url=http://127.0.0.1:PORT`` when ready.

Every frame is a real JPEG (see `tests.support.frames`) carrying EXIF, XMP, IPTC and COM
segments; its counter bar shows the per-camera request number (1, 2, ...), so frames change.

Camera modes: ``ok``; ``error`` (HTTP 500); ``hang`` (no answer for `hang_s`, default 30 s);
``corrupt`` (bytes that are not a decodable JPEG); ``huge`` (a JPEG whose header claims
60000x60000); ``not_found`` (HTTP 404).
A test-only control endpoint (same bearer token) allows changing these from another process:
``PUT /_standin/cameras/<entity_id>`` with ``{"mode": ..., "delay_s": ...}`` and
``GET /_standin/counters``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from tests.support import frames
from tests.support import jpeg as jp
from tests.support.standin_server import StandinServer

MODES = ("ok", "error", "hang", "corrupt", "huge", "not_found")


@dataclass
class Camera:
    entity_id: str
    width: int = 640
    height: int = 480
    mode: str = "ok"
    delay_s: float = 0.0  # answer latency in `ok` mode (to observe upstream concurrency)
    seed: int = 0
    noise: bool = False  # random-noise texture (large JPEGs)
    requests: int = 0  # requests received (any mode)
    served: int = 0  # frames served in `ok` mode
    in_flight: int = 0
    max_in_flight: int = 0
    last_frame: bytes = field(default=b"", repr=False)


class StandinHA(StandinServer):
    def __init__(
        self,
        *,
        token: str = "standin-ha-token",
        cameras: Iterable[str | Camera] = ("camera.front_door",),
        host: str = "127.0.0.1",
        port: int = 0,
        hang_s: float = 30.0,
    ) -> None:
        super().__init__(host=host, port=port, hang_s=hang_s)
        self.token = token
        self.cameras: dict[str, Camera] = {}
        for i, cam in enumerate(cameras):
            c = cam if isinstance(cam, Camera) else Camera(cam, seed=i)
            self.cameras[c.entity_id] = c
        self.unauthorized = 0  # requests refused for a missing/wrong token
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- configuration (thread-safe) ----------------------------------------------------------

    def add_camera(self, entity_id: str, **kwargs: Any) -> Camera:
        with self._lock:
            cam = Camera(entity_id, seed=len(self.cameras), **kwargs)
            self.cameras[entity_id] = cam
            return cam

    def set_mode(self, entity_id: str, mode: str, *, delay_s: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self.cameras[entity_id].mode = mode
            if delay_s is not None:
                self.cameras[entity_id].delay_s = delay_s

    def requests(self, entity_id: str) -> int:
        return self.cameras[entity_id].requests

    def max_in_flight(self, entity_id: str) -> int:
        return self.cameras[entity_id].max_in_flight

    def reset_counters(self) -> None:
        with self._lock:
            for cam in self.cameras.values():
                cam.requests = cam.served = cam.max_in_flight = 0
            self.unauthorized = 0

    def counters(self) -> dict[str, dict[str, int]]:
        return {
            e: {"requests": c.requests, "served": c.served, "max_in_flight": c.max_in_flight}
            for e, c in self.cameras.items()
        }

    # -- HTTP -----------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        ok = hmac.compare_digest(header.encode(), f"Bearer {self.token}".encode())
        if not ok:
            self.unauthorized += 1
        return ok

    async def _api(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        return web.json_response({"message": "API running."})

    async def _camera_proxy(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        entity_id = request.match_info["entity_id"]
        cam = self.cameras.get(entity_id)
        if cam is None:
            return web.json_response({"message": "Entity not found"}, status=404)
        with self._lock:
            cam.requests += 1
            cam.in_flight += 1
            cam.max_in_flight = max(cam.max_in_flight, cam.in_flight)
            number = cam.requests
        try:
            return await self._answer(cam, number)
        finally:
            with self._lock:
                cam.in_flight -= 1

    async def _answer(self, cam: Camera, number: int) -> web.StreamResponse:
        mode = cam.mode
        if mode == "error":
            return web.Response(status=500, text="500 Internal Server Error")
        if mode == "not_found":
            return web.json_response({"message": "Entity not found"}, status=404)
        if mode == "hang":
            await self.hang()
            return web.Response(status=504)
        if mode == "corrupt":
            body = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13\x37garbage" * 64
            return web.Response(body=body, content_type="image/jpeg")
        if cam.delay_s:
            await asyncio.sleep(cam.delay_s)
        body = await asyncio.to_thread(
            frames.make_frame,
            cam.width,
            cam.height,
            number,
            seed=cam.seed,
            entity_id=cam.entity_id,
            noise=cam.noise,
        )
        if mode == "huge":
            body = jp.set_dimensions(body, 60000, 60000)
        else:
            cam.served += 1
        cam.last_frame = body
        return web.Response(body=body, content_type="image/jpeg")

    async def _control_put(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        entity_id = request.match_info["entity_id"]
        body = await request.json()
        if entity_id not in self.cameras:
            self.add_camera(entity_id)
        self.set_mode(
            entity_id, body.get("mode", self.cameras[entity_id].mode), delay_s=body.get("delay_s")
        )
        return web.json_response(self.counters())

    async def _control_counters(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        return web.json_response(self.counters())

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/", self._api)
        app.router.add_get("/api/camera_proxy/{entity_id}", self._camera_proxy)
        app.router.add_put("/_standin/cameras/{entity_id}", self._control_put)
        app.router.add_get("/_standin/counters", self._control_counters)
        return app

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> Self:
        self._loop = asyncio.get_running_loop()  # for `running` and the thread-safe setters
        return await super().start()

    @contextlib.contextmanager
    def running(self) -> Iterator[StandinHA]:
        """Serve from a background thread with its own event loop."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=run, name="standin-ha", daemon=True)
        thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


@contextlib.asynccontextmanager
async def standin_ha(**kwargs: Any) -> AsyncIterator[StandinHA]:
    async with StandinHA(**kwargs) as ha:
        yield ha


def _parse_camera(spec: str) -> Camera:
    entity_id, _, size = spec.partition("=")
    if size:
        w, _, h = size.partition("x")
        return Camera(entity_id, width=int(w), height=int(h))
    return Camera(entity_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.standin_ha")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="standin-ha-token")
    parser.add_argument("--camera", action="append", default=[], help="ENTITY[=WxH]")
    parser.add_argument("--mode", action="append", default=[], help="ENTITY=MODE")
    args = parser.parse_args(argv)
    cams = [_parse_camera(c) for c in args.camera] or [Camera("camera.front_door")]
    for i, c in enumerate(cams):
        c.seed = i
    ha = StandinHA(token=args.token, cameras=cams, host=args.host, port=args.port)
    for m in args.mode:
        entity_id, _, mode = m.partition("=")
        ha.set_mode(entity_id, mode)

    async def serve() -> None:
        await ha.start()
        print(f"standin_ha listening url={ha.url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await ha.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
