"""Control API (PROTOCOL.md section 4, DESIGN.md shapes): for the integration only."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .audit import Entry
from .errors import DomainError, ErrorCode, code_for_status
from .owner import OwnerControl
from .policy import PolicyError, parse_preview

_LOGGER = logging.getLogger(__name__)

OWNER_KEY: web.AppKey[OwnerControl] = web.AppKey("owner")
TOKEN_KEY: web.AppKey[str] = web.AppKey("control_token")
STOPPING_KEY: web.AppKey[asyncio.Event] = web.AppKey("stopping")
MAX_BODY_BYTES = 256 * 1024
KEEPALIVE_S = 15.0
HISTORY_DEFAULT, HISTORY_MAX = 100, 1000
EVENT_QUEUE_MAX = 1000


def _error(err: DomainError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=err.headers)


@web.middleware
async def _auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer is JSON `{"error", "message"}` on failure, never a traceback."""
    if not _authorised(request):
        return _error(DomainError(ErrorCode.UNAUTHORIZED))
    try:
        return await handler(request)
    except DomainError as err:
        return _error(err)
    except web.HTTPException as err:
        code = code_for_status(err.status)
        headers = {"Allow": err.headers["Allow"]} if "Allow" in err.headers else None
        return _error(DomainError(code, headers=headers))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        _LOGGER.exception("control API request failed")
        return _error(DomainError(ErrorCode.INTERNAL_ERROR))


def _authorised(request: web.Request) -> bool:
    expected = f"Bearer {request.app[TOKEN_KEY]}".encode()
    presented = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(expected, presented)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads((await request.read()).decode("utf-8"))
    except web.HTTPRequestEntityTooLarge as err:
        raise DomainError(ErrorCode.INVALID_REQUEST, "The body is too large.") from err
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise DomainError(ErrorCode.INVALID_REQUEST, "The body must be a JSON object.") from err


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Cache-Control"] = "no-store"


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise DomainError(ErrorCode.INVALID_REQUEST, f"{name} must be an integer") from err
    if not low <= value <= high:
        raise DomainError(ErrorCode.INVALID_REQUEST, f"{name} must be between {low} and {high}")
    return value


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(await request.app[OWNER_KEY].state_view())


async def put_policy(request: web.Request) -> web.Response:
    policy = await request.app[OWNER_KEY].put_policy(await _json_body(request))
    return web.json_response(policy.as_json())


async def preview(request: web.Request) -> web.Response:
    try:
        parsed = parse_preview(await _json_body(request))
    except PolicyError as err:
        raise DomainError(ErrorCode.INVALID_REQUEST, str(err)) from err
    image = await request.app[OWNER_KEY].preview(parsed)
    return web.Response(body=image, content_type="image/jpeg")


def _unlock_action(action: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        owner = request.app[OWNER_KEY]
        method = {"approve": owner.approve, "decline": owner.decline, "revoke": owner.revoke}
        return web.json_response(await method[action](request.match_info["unlock_id"]))

    return handler


async def revoke_all(request: web.Request) -> web.Response:
    return web.json_response(await request.app[OWNER_KEY].revoke_all())


async def history(request: web.Request) -> web.Response:
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", HISTORY_DEFAULT, 1, HISTORY_MAX)
    # A bare array: PROTOCOL.md section 4 says "audit entries after SEQ, oldest first".
    return web.json_response(await request.app[OWNER_KEY].history(after, limit))


async def verify(request: web.Request) -> web.Response:
    return web.json_response((await request.app[OWNER_KEY].verify()).as_json())


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
        raise DomainError(ErrorCode.INVALID_REQUEST, "Last-Event-ID must be an integer") from err


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent audit entries: replay after `?after=` / Last-Event-ID, then live."""
    owner = request.app[OWNER_KEY]
    stopping = request.app[STOPPING_KEY]
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
    unsubscribe = owner.subscribe(listen)
    try:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        last_seq = owner.head_seq if after is None else after
        if after is not None:
            while True:
                page = await owner.history(last_seq, HISTORY_MAX)
                for entry in page:
                    await response.write(_sse(entry))
                    last_seq = entry["seq"]
                if len(page) < HISTORY_MAX:
                    break
        await response.write(b": connected\n\n")
        while not stopping.is_set() and not overflow.is_set():
            live = await _next_entry(queue, stopping, KEEPALIVE_S)
            if live is None:
                if not stopping.is_set():
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


def build_control_app(
    owner: OwnerControl, control_token: str, stopping: asyncio.Event
) -> web.Application:
    app = web.Application(middlewares=[_auth_and_errors], client_max_size=MAX_BODY_BYTES)
    app[OWNER_KEY] = owner
    app[TOKEN_KEY] = control_token
    app[STOPPING_KEY] = stopping
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
