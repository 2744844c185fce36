"""City API over HTTP (PROTOCOL.md section 3): a thin adapter over the city router.

Every request becomes a `CityRequest`; the router's `Reply` becomes the response, a
`FrameStream` a multipart/x-mixed-replace response with one part per frame. The rules live in
the services; this module only knows HTTP: the body size limit, `no-store`, protocol errors.
"""

from __future__ import annotations

import contextlib
import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from .carriage import CityRequest, FrameStream, Reply, SinkGone
from .city_routes import CityRouter
from .errors import MESSAGES, ErrorCode

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
        return _response(answer)
    return await _stream(request, answer)


PROTOCOL_ERROR_MESSAGE = "The request could not be read as HTTP."
_SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class _CityRequestHandler(RequestHandler):
    """Protocol-level errors (bad request line, oversized header, bad chunking ...) answered
    like every other city error: JSON, no-store, a fixed message that echoes nothing sent."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("city API: error handling request", exc_info=exc)
        else:
            _LOGGER.debug("city API: unreadable request: %s", message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        if status >= 500:
            body = {"error": "internal_error", "message": MESSAGES[ErrorCode.INTERNAL_ERROR]}
            status = 500
        else:
            body = {"error": "invalid_request", "message": PROTOCOL_ERROR_MESSAGE}
            status = 400
        response = web.json_response(body, status=status, headers=_SECURITY_HEADERS)
        response.force_close()
        return response


class _CityServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _CityRequestHandler(self, loop=self._loop, **self._kwargs)


class CityAppRunner(web.AppRunner):
    """AppRunner whose connections use `_CityRequestHandler` for protocol errors."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _CityServer  # same state; only the handler class differs
        return server


def build_city_app(router: CityRouter) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ROUTER_KEY] = router
    app.on_response_prepare.append(_no_store)
    # One route for everything: which paths and methods exist is the router's business.
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
