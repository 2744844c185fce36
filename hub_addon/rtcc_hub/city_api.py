"""City API (PROTOCOL.md section 3): the only surface the city hub can reach."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from .errors import ApiError, json_errors
from .ledger import AccessDenied
from .streaming import RECHECK_INTERVAL_S, WRITE_TIMEOUT_S, Frame, next_frame

if TYPE_CHECKING:
    from .app import Hub, StreamSession

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
BOUNDARY = "rtccframe"
HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await json_errors(request, handler, "city API")


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    # Every city response, errors and streams included: nothing is ever cached on the way.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _denied(err: AccessDenied) -> ApiError:
    return ApiError(err.status, err.code)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    try:
        spec = resources.files("rtcc_hub").joinpath("openapi.json").read_bytes()
    except (FileNotFoundError, OSError) as err:
        raise ApiError(404, "not_found") from err
    return web.Response(body=spec, content_type="application/json")


async def create_unlock(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    token = await _read_token(request)
    if token is None:
        # Every unlock received is audited, an unreadable one too (PROTOCOL.md section 5).
        hub.refuse_unidentified("invalid_request", 400, request.remote)
        raise ApiError(400, "invalid_request")
    result = hub.submit_unlock(token, request.remote)
    return web.json_response(result, status=201)


async def _read_token(request: web.Request) -> str | None:
    """The body's `token`, or None when the body is too large, not JSON or has none."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("token"), str):
        return None
    token: str = document["token"]
    return token


async def get_unlock(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    unlock = hub.authenticate(request.match_info["unlock_id"], _bearer(request))
    return web.json_response(hub.city_view(unlock))


async def delete_unlock(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    unlock = hub.authenticate(request.match_info["unlock_id"], _bearer(request))
    hub.close_by_city(unlock)
    return web.Response(status=204)


async def snapshot(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    unlock = hub.authenticate(request.match_info["unlock_id"], _bearer(request))
    try:
        image = await hub.snapshot(unlock, request.match_info["camera_id"])
    except AccessDenied as err:
        raise _denied(err) from err
    return web.Response(body=image, content_type="image/jpeg")


def _part(frame: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n"
    return head.encode() + frame + b"\r\n"


async def _pump(
    request: web.Request, response: web.StreamResponse, session: StreamSession, first: Frame
) -> None:
    """Send frames until access ends; access is re-checked before every frame.

    A frame is written only after pacing (sliced, re-checking access) and only when it was made
    with the camera's current masks and width; an outdated one is dropped. When no frame could
    be sent for the stall limit (the camera fails or hangs) the stream ends with
    `camera_unavailable` instead of staying open with nothing to send.
    """
    frame: Frame | None = first
    while True:
        if frame is not None:
            if not await session.pace():
                return
            if session.current(frame):
                session.mark_sent()
                try:
                    async with asyncio.timeout(WRITE_TIMEOUT_S):
                        await response.write(_part(frame.data))
                except TimeoutError:
                    # A client that does not read loses its own stream, so that revocation is
                    # never held up behind a full socket buffer.
                    session.denied_reason = "slow_client"
                    if request.transport is not None:
                        request.transport.abort()
                    return
                session.record_frame(len(frame.data))
        if not session.allowed():
            return
        if session.stalled():
            session.denied_reason = "camera_unavailable"
            return
        item = await next_frame(session.viewer, RECHECK_INTERVAL_S)
        frame = item if isinstance(item, Frame) else None


async def stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    unlock = hub.authenticate(request.match_info["unlock_id"], _bearer(request))
    try:
        session = hub.open_stream(unlock, request.match_info["camera_id"])
    except AccessDenied as err:
        raise _denied(err) from err
    reason = "client_gone"
    try:
        first = await session.first_frame()
        if first is None:
            reason = session.denied_reason or "camera_unavailable"
            if session.denied is not None:
                raise _denied(session.denied)
            raise ApiError(503, "camera_unavailable")
        response = web.StreamResponse(
            headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}"}
        )
        await response.prepare(request)
        await _pump(request, response, session, first)
        reason = session.denied_reason or "ended"
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    finally:
        await hub.close_stream(session, reason)
    return response


def build_city_app(hub: Hub) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    app[HUB_KEY] = hub
    app.on_response_prepare.append(_no_store)
    app.router.add_get("/api/v1/health", health, allow_head=False)
    app.router.add_get("/api/v1/openapi.json", openapi, allow_head=False)
    app.router.add_post("/api/v1/unlocks", create_unlock)
    app.router.add_get("/api/v1/unlocks/{unlock_id}", get_unlock, allow_head=False)
    app.router.add_delete("/api/v1/unlocks/{unlock_id}", delete_unlock)
    app.router.add_get(
        "/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/snapshot", snapshot, allow_head=False
    )
    app.router.add_get(
        "/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/stream", stream, allow_head=False
    )
    return app
