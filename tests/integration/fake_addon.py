"""A tiny stand-in for the add-on's control API on 127.0.0.1, for answers a real add-on never
gives (malformed JSON, odd statuses, broken event streams). Everything else is tested against
the real add-on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from .helpers import base_policy

type Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def state_document(**policy_changes: Any) -> dict[str, Any]:
    """A well-formed `/control/v1/state` answer."""
    return {
        "home_id": "fake-home",
        "policy": base_policy(**policy_changes) | {"revision": 1},
        "unlocks": [],
        "counters": {},
    }


def json_answer(body: Any, status: int = 200) -> Answer:
    """Answer with `body` as JSON."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)

    return answer


def text_answer(text: str, status: int = 200, content_type: str = "text/plain") -> Answer:
    """Answer with raw text."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(text=text, status=status, content_type=content_type)

    return answer


class FakeAddon:
    """Routes (method, path) to answers; records every request it gets."""

    def __init__(self) -> None:
        """Start with no routes."""
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[tuple[str, str, str | None, Any]] = []
        self.url = ""
        # A path the add-on sits under (a reverse proxy), stripped before routing.
        self.prefix = ""
        self.feed = EventFeed()

    def set(self, method: str, path: str, answer: Answer) -> None:
        """Answer `method path` (path below /control/v1) with `answer`."""
        self.routes[(method, "/control/v1" + path)] = answer

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            (
                request.method,
                request.raw_path,
                request.headers.get("Authorization"),
                json.loads(body) if body else None,
            )
        )
        answer = self.routes.get((request.method, request.path.removeprefix(self.prefix)))
        if answer is None:
            return web.json_response({"error": "not_found", "message": "No route."}, status=404)
        return await answer(request)


@asynccontextmanager
async def fake_addon() -> AsyncIterator[FakeAddon]:
    """Serve a FakeAddon on a free loopback port."""
    fake = FakeAddon()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake._handle)
    # Open event streams are cut at the end, not waited for.
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.feed.hang_up()
        await runner.cleanup()


class EventFeed:
    """Server-sent event streams the test writes to: entries go to the newest connection."""

    def __init__(self) -> None:
        """Start with no connection."""
        self._queues: list[asyncio.Queue[bytes | None]] = []

    @property
    def connections(self) -> int:
        """How many times the integration has connected."""
        return len(self._queues)

    def send(self, entry: dict[str, Any]) -> None:
        """Send one audit entry on the newest connection."""
        data = json.dumps(entry)
        self._queues[-1].put_nowait(
            f"id: {entry.get('seq')}\nevent: audit\ndata: {data}\n\n".encode()
        )

    def hang_up(self) -> None:
        """End every connection."""
        for queue in self._queues:
            queue.put_nowait(None)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """Serve the queued chunks until hung up (a client that left stops nothing)."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._queues.append(queue)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(b": connected\n\n")
            while (chunk := await queue.get()) is not None:
                await response.write(chunk)
            await response.write_eof()
        return response
