"""What every stand-in HTTP server here shares: an aiohttp app on loopback (port 0 picks a free
one), `url`, start/stop and `async with`, and a `closing` event that hanging handlers wait on so
that stopping never waits for them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self

from aiohttp import web


class StandinServer:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, hang_s: float = 30.0) -> None:
        self.host, self.port = host, port
        self.hang_s = hang_s
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def hang(self) -> None:
        """Answer nothing until `hang_s` pass or the server stops."""
        assert self._closing is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.hang_s)

    async def start(self) -> Self:
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self.make_app(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
