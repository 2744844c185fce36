"""Errors both APIs turn into JSON `{"error": CODE, "message": TEXT}` responses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

_LOGGER = logging.getLogger(__name__)

# Fixed texts: a message to the city must never carry a decline reason, the home's location,
# entity ids or anything of Home Assistant, so none is ever built from internal data.
CITY_MESSAGES = {
    "invalid_request": "The request must be a JSON object with a token, at most 16 KiB.",
    "invalid_token": "The token or credentials were not accepted.",
    "quota_exceeded": "Too many unlocks from this hub in the last 7 days; retry later.",
    "not_active": "This unlock does not allow this access now.",
    "not_found": "Not found.",
    "gone": "This unlock has ended.",
    "camera_unavailable": "The camera cannot give an image right now.",
    "method_not_allowed": "Method not allowed.",
    "internal_error": "Internal error.",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message if message is not None else CITY_MESSAGES.get(code, code)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response(
            {"error": self.code, "message": self.message},
            status=self.status,
            headers=self.headers,
        )


HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "invalid_request",
}


def from_http_exception(err: web.HTTPException) -> ApiError:
    """Re-express aiohttp's own errors (404, 405, 413 ...) in the JSON error shape."""
    code = HTTP_CODES.get(err.status, "internal_error" if err.status >= 500 else "invalid_request")
    headers = {"Allow": err.headers["Allow"]} if "Allow" in err.headers else None
    return ApiError(err.status, code, CITY_MESSAGES.get(code, code), headers)


async def json_errors(request: web.Request, handler: Handler, api: str) -> web.StreamResponse:
    """Run a handler; every failure leaves as the JSON error shape, never a traceback."""
    try:
        return await handler(request)
    except ApiError as err:
        return err.response()
    except web.HTTPException as err:
        return from_http_exception(err).response()
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        _LOGGER.exception("%s request failed", api)
        return ApiError(500, "internal_error").response()
