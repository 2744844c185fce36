"""The city API's routes (PROTOCOL.md section 3), once for every carriage.

`CityRouter.handle` takes a `CityRequest` (from HTTP or from a relay) and answers a `Reply` or a
`FrameStream`. Handlers are thin: they authenticate, call a service and shape the answer. Domain
errors become replies through the one status table (errors.py); nothing else decides a status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .access import CityAccess
from .carriage import Answer, CityRequest, Method, Reply
from .clips import ClipService
from .errors import DomainError, ErrorCode
from .intake import UnlockIntake

_LOGGER = logging.getLogger(__name__)

type Params = dict[str, str]
type Handler = Callable[[CityRequest, Params], Awaitable[Answer]]

# Path segments are ids we made (u_..., c_...) or fixed words; anything longer is no id of ours.
_MAX_SEGMENT = 128


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers or {},
    )


def error_reply(err: DomainError, extra: dict[str, str] | None = None) -> Reply:
    return json_reply(err.status, err.body(), {**err.headers, **(extra or {})})


@dataclass(frozen=True, slots=True)
class Route:
    method: Method
    pattern: tuple[str, ...]  # "{name}" segments are parameters
    handler: Handler

    def match(self, segments: list[str]) -> Params | None:
        if len(segments) != len(self.pattern):
            return None
        params: Params = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                if not segment or len(segment) > _MAX_SEGMENT:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


class CityRouter:
    def __init__(self, intake: UnlockIntake, access: CityAccess, clips: ClipService) -> None:
        self._intake = intake
        self._access = access
        self._clips = clips
        self._openapi = resources.files("rtcc_hub").joinpath("openapi.json").read_bytes()
        self.routes: tuple[Route, ...] = tuple(
            Route(method, tuple(path.strip("/").split("/")), handler)
            for method, path, handler in (
                (Method.GET, "/api/v1/health", self._health),
                (Method.GET, "/api/v1/openapi.json", self._openapi_document),
                (Method.POST, "/api/v1/unlocks", self._create_unlock),
                (Method.GET, "/api/v1/unlocks/{unlock_id}", self._get_unlock),
                (Method.DELETE, "/api/v1/unlocks/{unlock_id}", self._delete_unlock),
                (
                    Method.GET,
                    "/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/snapshot",
                    self._snapshot,
                ),
                (
                    Method.GET,
                    "/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/stream",
                    self._stream,
                ),
                (
                    Method.POST,
                    "/api/v1/unlocks/{unlock_id}/cameras/{camera_id}/clips",
                    self._request_clip,
                ),
                (Method.GET, "/api/v1/unlocks/{unlock_id}/clips/{clip_id}", self._clip_status),
                (
                    Method.GET,
                    "/api/v1/unlocks/{unlock_id}/clips/{clip_id}/video",
                    self._clip_video,
                ),
            )
        )

    async def handle(self, request: CityRequest) -> Answer:
        segments = request.path.strip("/").split("/") if request.path.startswith("/") else []
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method != request.method:
                allowed.append(route.method.value)
                continue
            try:
                return await route.handler(request, params)
            except DomainError as err:
                return error_reply(err)
            except Exception:
                _LOGGER.exception("city request failed")
                return error_reply(DomainError(ErrorCode.INTERNAL_ERROR))
        if allowed:
            return error_reply(
                DomainError(ErrorCode.METHOD_NOT_ALLOWED), {"Allow": ", ".join(allowed)}
            )
        return error_reply(DomainError(ErrorCode.NOT_FOUND))

    # handlers -------------------------------------------------------------------------------

    async def _health(self, request: CityRequest, params: Params) -> Answer:
        return json_reply(200, {"status": "ok"})

    async def _openapi_document(self, request: CityRequest, params: Params) -> Answer:
        return Reply(status=200, body=self._openapi, content_type="application/json")

    async def _create_unlock(self, request: CityRequest, params: Params) -> Answer:
        body = await self._intake.submit(request.body, request.client, request.only_hub)
        return json_reply(201, body)

    async def _get_unlock(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        return json_reply(200, await self._access.view(unlock))

    async def _delete_unlock(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        await self._access.close(unlock)
        return Reply(status=204, content_type="")

    async def _snapshot(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        served = await self._access.snapshot(unlock, params["camera_id"])
        return Reply(200, served.body, served.content_type, served.headers)

    async def _stream(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        return await self._access.open_stream(unlock, params["camera_id"])

    async def _request_clip(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        return json_reply(202, await self._clips.request(unlock, params["camera_id"], request.body))

    async def _clip_status(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        return json_reply(200, await self._clips.status(unlock, params["clip_id"]))

    async def _clip_video(self, request: CityRequest, params: Params) -> Answer:
        unlock = self._access.authenticate(params["unlock_id"], request.bearer)
        clip_id = params["clip_id"]
        served = await self._clips.video(unlock, clip_id)
        return Reply(
            200,
            served.body,
            served.content_type,
            served.headers,
            file=served.file,
            length=served.length,
            still_served=lambda: self._clips.still_served(unlock.unlock_id, clip_id),
        )
