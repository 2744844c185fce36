"""City API over HTTP (PROTOCOL.md section 3): a thin adapter over the city router.

Every request becomes a `CityRequest`; the router's `Reply` becomes the response, a
`FrameStream` a multipart/x-mixed-replace response with one part per frame. The rules live in
the services; this module only knows HTTP: the body size limit, `no-store`, protocol errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from .carriage import CityRequest, FrameStream, Reply, SinkGone
from .city_routes import CityRouter

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
BOUNDARY = "rtccframe"
ROUTER_KEY: web.AppKey[CityRouter] = web.AppKey("city_router")


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    # Every city response, errors and streams included: nothing is ever cached on the way.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"


async def _body(request: web.Request) -> bytes:
    """The body, or empty when there is none to read or it is over the limit (the router then
    answers 400 invalid_request, as for any unreadable unlock request)."""
    if request.method != "POST" or (request.content_length or 0) > MAX_BODY_BYTES:
        return b""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return b""


def _part(frame: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n"
    return head.encode() + frame + b"\r\n"


def _response(reply: Reply) -> web.Response:
    response = web.Response(status=reply.status, body=reply.body or None, headers=reply.headers)
    if reply.content_type:
        response.content_type = reply.content_type
    return response


async def _stream(request: web.Request, stream: FrameStream) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}"}
    )

    async def send(frame: bytes) -> None:
        try:
            if not response.prepared:
                await response.prepare(request)
            await response.write(_part(frame))
        except (ConnectionError, RuntimeError) as err:
            raise SinkGone from err

    await stream.run(send)
    if response.prepared:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    return response


FILE_CHUNK_BYTES = 256 * 1024


async def _file(request: web.Request, reply: Reply) -> web.StreamResponse:
    """A large body read from its file as it is sent; cut off when it stops being served."""
    assert reply.file is not None
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    response.content_type = reply.content_type
    response.content_length = reply.length
    await response.prepare(request)
    with await asyncio.to_thread(reply.file.open, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, FILE_CHUNK_BYTES):
            if reply.still_served is not None and not reply.still_served():
                if request.transport is not None:
                    request.transport.close()  # short of its Content-Length: a cut transfer
                return response
            await response.write(chunk)
    await response.write_eof()
    return response


async def handle(request: web.Request) -> web.StreamResponse:
    router = request.app[ROUTER_KEY]
    answer = await router.handle(
        CityRequest(
            method=request.method,
            path=request.path,
            body=await _body(request),
            authorization=request.headers.get("Authorization"),
            client=request.remote or "",
        )
    )
    if isinstance(answer, Reply):
        return await _file(request, answer) if answer.file is not None else _response(answer)
    return await _stream(request, answer)


def build_city_app(router: CityRouter) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ROUTER_KEY] = router
    app.on_response_prepare.append(_no_store)
    # One route for everything: which paths and methods exist is the router's business.
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
