"""A stand-in IP camera for the demo: MJPEG and still JPEG over HTTP on loopback.

    python scripts/demo_camera.py --port 8099 [--host 127.0.0.1] [--fps 5]

- ``GET /stream.mjpg``: ``multipart/x-mixed-replace`` of the street scene with a running clock;
- ``GET /still.jpg``: the current frame.

Home Assistant's own ``mjpeg`` integration reads it like any network camera. Prints
``demo camera listening http://HOST:PORT`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_scene

BOUNDARY = "demoframe"


class Frames:
    """Encode at most one frame per clock second, whoever asks."""

    def __init__(self) -> None:
        self._second = -1
        self._jpeg = b""

    def current(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._jpeg = demo_scene.street_frame(second)
            self._second = second
        return self._jpeg


def make_app(fps: float) -> web.Application:
    frames = Frames()

    async def still(_request: web.Request) -> web.Response:
        return web.Response(
            body=frames.current(), content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
            }
        )
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                jpeg = frames.current()
                await resp.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                await asyncio.sleep(1.0 / fps)
        return resp

    async def index(_request: web.Request) -> web.Response:
        return web.Response(
            text='<html><body><h1>demo camera</h1><img src="/stream.mjpg"></body></html>',
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/still.jpg", still)
    app.router.add_get("/stream.mjpg", stream)
    return app


async def serve(host: str, port: int, fps: float) -> None:
    runner = web.AppRunner(make_app(fps), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"demo camera listening http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fps", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.fps))


if __name__ == "__main__":
    main()
