"""Control API (PROTOCOL.md section 4, DESIGN.md shapes): for the integration only."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from .audit import Entry
from .errors import ApiError, json_errors
from .policy import PolicyError, parse_preview

if TYPE_CHECKING:
    from .app import Hub

_LOGGER = logging.getLogger(__name__)

HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")
MAX_BODY_BYTES = 256 * 1024
KEEPALIVE_S = 15.0
HISTORY_DEFAULT, HISTORY_MAX = 100, 1000
EVENT_QUEUE_MAX = 1000


@web.middleware
async def _auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _authorised(request):
        return ApiError(401, "unauthorized", "A valid control token is required.").response()
    return await json_errors(request, handler, "control API")


def _authorised(request: web.Request) -> bool:
    expected = f"Bearer {request.app[HUB_KEY].control_token}".encode()
    presented = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(expected, presented)


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Cache-Control"] = "no-store"


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ApiError(400, "invalid_request", f"{name} must be an integer") from err
    if not low <= value <= high:
        raise ApiError(400, "invalid_request", f"{name} must be between {low} and {high}")
    return value


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[HUB_KEY].state())


async def put_policy(request: web.Request) -> web.Response:
    try:
        raw = json.loads((await request.read()).decode("utf-8"))
    except web.HTTPRequestEntityTooLarge as err:
        raise ApiError(400, "invalid_request", "The policy document is too large.") from err
    except (UnicodeDecodeError, ValueError) as err:
        raise ApiError(400, "invalid_request", "The body must be a JSON object.") from err
    try:
        policy = request.app[HUB_KEY].put_policy(raw)
    except PolicyError as err:
        raise ApiError(400, "invalid_policy", str(err)) from err
    return web.json_response(policy.as_json())


async def preview(request: web.Request) -> web.Response:
    try:
        raw = json.loads((await request.read()).decode("utf-8"))
    except web.HTTPRequestEntityTooLarge as err:
        raise ApiError(400, "invalid_request", "The body is too large.") from err
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ApiError(400, "invalid_request", "The body must be a JSON object.") from err
    try:
        parsed = parse_preview(raw)
    except PolicyError as err:
        raise ApiError(400, "invalid_request", str(err)) from err
    image = await request.app[HUB_KEY].preview(parsed)
    return web.Response(body=image, content_type="image/jpeg")


def _unlock_action(action: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        hub = request.app[HUB_KEY]
        method = {"approve": hub.approve, "decline": hub.decline, "revoke": hub.revoke}[action]
        return web.json_response(method(request.match_info["unlock_id"]))

    return handler


async def revoke_all(request: web.Request) -> web.Response:
    return web.json_response(request.app[HUB_KEY].revoke_all())


async def history(request: web.Request) -> web.Response:
    audit = request.app[HUB_KEY].audit
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", HISTORY_DEFAULT, 1, HISTORY_MAX)
    # A bare array: PROTOCOL.md section 4 says "audit entries after SEQ, oldest first".
    return web.json_response(audit.entries(after, limit))


async def verify(request: web.Request) -> web.Response:
    return web.json_response(request.app[HUB_KEY].audit.verify().as_json())


def _sse(entry: Entry) -> bytes:
    data = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return f"id: {entry['seq']}\nevent: audit\ndata: {data}\n\n".encode()


def _replay_from(request: web.Request) -> int | None:
    """`?after=` wins over `Last-Event-ID`; None means live entries only."""
    if "after" in request.query:
        return _int_param(request, "after", 0, 0, 2**62)
    header = request.headers.get("Last-Event-ID")
    if header is None:
        return None
    try:
        return max(0, int(header))
    except ValueError as err:
        raise ApiError(400, "invalid_request", "Last-Event-ID must be an integer") from err


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent audit entries: replay after `?after=` / Last-Event-ID, then live."""
    hub = request.app[HUB_KEY]
    after = _replay_from(request)
    queue: asyncio.Queue[Entry] = asyncio.Queue(EVENT_QUEUE_MAX)
    overflow = asyncio.Event()

    def listen(entry: Entry) -> None:
        try:
            queue.put_nowait(entry)
        except asyncio.QueueFull:
            overflow.set()  # the client reconnects with Last-Event-ID and misses nothing

    # Subscribe before replaying so nothing written in between is lost; duplicates are
    # skipped by seq.
    unsubscribe = hub.audit.subscribe(listen)
    try:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        last_seq = hub.audit.head_seq if after is None else after
        if after is not None:
            while True:
                page = hub.audit.entries(last_seq, HISTORY_MAX)
                for entry in page:
                    await response.write(_sse(entry))
                    last_seq = entry["seq"]
                if len(page) < HISTORY_MAX:
                    break
        await response.write(b": connected\n\n")
        while not hub.stopping.is_set() and not overflow.is_set():
            live = await _next_entry(queue, hub.stopping, KEEPALIVE_S)
            if live is None:
                if not hub.stopping.is_set():
                    await response.write(b": keepalive\n\n")
                continue
            if live["seq"] > last_seq:
                await response.write(_sse(live))
                last_seq = live["seq"]
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response
    finally:
        unsubscribe()


async def _next_entry(
    queue: asyncio.Queue[Entry], stopping: asyncio.Event, wait_s: float
) -> Entry | None:
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({getter, stopper}, timeout=wait_s, return_when="FIRST_COMPLETED")
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None


def build_control_app(hub: Hub) -> web.Application:
    app = web.Application(middlewares=[_auth_and_errors], client_max_size=MAX_BODY_BYTES)
    app[HUB_KEY] = hub
    app.on_response_prepare.append(_no_store)
    app.router.add_get("/control/v1/state", get_state, allow_head=False)
    app.router.add_put("/control/v1/policy", put_policy)
    app.router.add_post("/control/v1/preview", preview)
    for action in ("approve", "decline", "revoke"):
        app.router.add_post(f"/control/v1/unlocks/{{unlock_id}}/{action}", _unlock_action(action))
    app.router.add_post("/control/v1/revoke_all", revoke_all)
    app.router.add_get("/control/v1/history", history, allow_head=False)
    app.router.add_get("/control/v1/events", events, allow_head=False)
    app.router.add_get("/control/v1/audit/verify", verify, allow_head=False)
    return app
