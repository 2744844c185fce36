"""A stand-in Home Assistant with UniFi Protect: the template API and Protect's video view.

`StandinHAProtect` is `tests.support.standin_ha.StandinHA` plus:

- ``POST /api/template`` (homeassistant/components/api: admin, ``{"template", "variables"}``,
  answers the rendering as ``text/plain``; ``400`` for a template error), rendered with real
  Jinja and the two Home Assistant functions the add-on uses, ``config_entry_id(entity_id)``
  (the entity registry's entry, or None) and ``config_entry_attr(entry_id, attr)``.
- ``GET /api/unifiprotect/video/{nvr_id}/{camera_id}/{start}/{end}``
  (homeassistant/components/unifiprotect/views.py): ``nvr_id`` is the NVR id or the config
  entry id, ``camera_id`` the Protect camera id or the entity id, times ISO 8601
  (``datetime.fromisoformat``, else ``400 "Invalid start"``); unknown NVR or camera ``404``
  with no body; Protect refusing the export (nothing recorded there) ``404``; else
  ``200 video/mp4`` with a ``Content-Length``, the export made on the fly from the camera's
  recording (`tests.support.footage`: H.264 + AAC + tags). ``export_offset_s`` shifts where
  the export really starts, as Protect's "+/- a few seconds".

Video modes per camera: ``ok``, ``hang``, ``garbage``, ``huge``, ``forbidden`` (403).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from tests.support import footage as ft
from tests.support.standin_ha import StandinHA

VIDEO_MODES = ("ok", "hang", "garbage", "huge", "forbidden")


@dataclass
class ProtectCamera:
    entity_id: str
    protect_id: str
    recording: ft.Recording
    recorded_from: float  # wall time span that Protect holds
    recorded_until: float
    entry_id: str
    mode: str = "ok"
    export_offset_s: float = 0.0
    video_requests: list[str] = field(default_factory=list)


class StandinHAProtect(StandinHA):
    def __init__(self, *, nvr_id: str = "nvr-standin-1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nvr_id = nvr_id
        self.protect: dict[str, ProtectCamera] = {}
        # entity id -> (config entry id, domain): the entity registry.
        self.registry: dict[str, tuple[str, str]] = {}
        self.template_requests: list[dict[str, Any]] = []
        self._jinja = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
        self._jinja.globals["config_entry_id"] = self._config_entry_id
        self._jinja.globals["config_entry_attr"] = self._config_entry_attr

    def add_protect_camera(
        self,
        entity_id: str,
        recording: ft.Recording,
        recorded_from: float,
        recorded_until: float,
        *,
        entry_id: str = "01JPROTECTENTRY",
        protect_id: str | None = None,
    ) -> ProtectCamera:
        cam = ProtectCamera(
            entity_id,
            protect_id or f"cam-{len(self.protect) + 1}",
            recording,
            recorded_from,
            recorded_until,
            entry_id,
        )
        self.protect[entity_id] = cam
        self.registry[entity_id] = (entry_id, "unifiprotect")
        return cam

    # -- template API ---------------------------------------------------------------------------
    def _config_entry_id(self, entity_id: str) -> str | None:
        entry = self.registry.get(entity_id)
        return None if entry is None else entry[0]

    def _config_entry_attr(self, entry_id: Any, attr: str) -> Any:
        if not isinstance(entry_id, str):
            raise jinja2.TemplateError("Must provide a config entry ID")
        for entry, domain in self.registry.values():
            if entry == entry_id and attr == "domain":
                return domain
        return None

    async def _template(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"message": "Invalid JSON specified."}, status=400)
        if not isinstance(data, dict):
            return web.json_response(
                {"message": "Template data should be a JSON object."}, status=400
            )
        self.template_requests.append(data)
        try:
            text = self._jinja.from_string(data["template"]).render(**(data.get("variables") or {}))
        except jinja2.TemplateError as err:
            return web.json_response({"message": f"Error rendering template: {err}"}, status=400)
        return web.Response(text=text, content_type="text/plain")

    # -- the video view -------------------------------------------------------------------------
    def _camera(self, nvr_id: str, camera_id: str) -> ProtectCamera | None:
        for cam in self.protect.values():
            if nvr_id not in (self.nvr_id, cam.entry_id):
                continue
            if camera_id in (cam.protect_id, cam.entity_id):
                return cam
        return None

    async def _video(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        info = request.match_info
        if info["nvr_id"] not in {self.nvr_id} | {c.entry_id for c in self.protect.values()}:
            return web.Response(status=404)  # "Invalid NVR ID"
        cam = self._camera(info["nvr_id"], info["camera_id"])
        if cam is None:
            return web.Response(status=404)
        cam.video_requests.append(request.path)
        try:
            start = datetime.fromisoformat(info["start"]).timestamp()
        except ValueError:
            return web.Response(status=400, body=b"Invalid start")
        try:
            end = datetime.fromisoformat(info["end"]).timestamp()
        except ValueError:
            return web.Response(status=400, body=b"Invalid end")
        if cam.mode == "forbidden":
            return web.Response(status=403)
        if cam.mode == "hang":
            assert self._closing is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.hang_s)
            return web.Response(status=504)
        first = max(start + cam.export_offset_s, cam.recorded_from)
        last = min(end + cam.export_offset_s, cam.recorded_until)
        if last - first < 1 / cam.recording.fps:
            return web.Response(status=404)  # Protect: no export for that range
        if cam.mode == "garbage":
            body = b"\x00\x00\x00\x18ftypisom" + os.urandom(128 * 1024)
        elif cam.mode == "huge":
            return await self._huge(request)
        else:
            body = await asyncio.to_thread(_export, cam.recording, first, last)
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(body)
        await response.prepare(request)
        for at in range(0, len(body), 65536):
            await response.write(body[at : at + 65536])
        await response.write_eof()
        return response

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = 8 << 30
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(b"\x00\x00\x00\x18ftypisom" + bytes(16))
            zeros = bytes(1 << 20)
            for _ in range(1024):
                await response.write(zeros)
        return response

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.router.add_post("/api/template", self._template)
        app.router.add_get(
            "/api/unifiprotect/video/{nvr_id}/{camera_id}/{start}/{end}", self._video
        )
        return app


def _export(recording: ft.Recording, first: float, last: float) -> bytes:
    number = math.ceil((first - recording.epoch) * recording.fps - 1e-9)
    count = max(1, math.floor((last - recording.epoch) * recording.fps + 1e-9) - number)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.mp4"
        ft.write_recording(path, recording, number, count)
        return path.read_bytes()
