"""UniFi Protect through Home Assistant's own video view.

Home Assistant's UniFi Protect integration (homeassistant/components/unifiprotect/views.py)
serves `GET /api/unifiprotect/video/{nvr_id}/{camera_id}/{start}/{end}`: `nvr_id` may be the
integration's config entry id, `camera_id` may be the camera's entity id, `start`/`end` are
ISO 8601 (`datetime.fromisoformat`). It answers `200 video/mp4` streamed from Protect's export,
`404` (empty body) for an unknown NVR or camera and whenever Protect refuses the export (no
footage there among them), `403` when its user may not read the camera's media, `400` for
unparsable times. The add-on's bearer token authenticates as for `camera_proxy`.

The config entry id comes from Home Assistant's template API (`POST /api/template`, admin)
with the entity id passed as a template variable (never pasted into the template text), and
the entry must belong to `unifiprotect`.

Timeline: Protect's export "start/end are approximate, +/- a few seconds" (uiprotect's
`get_camera_video`), and its MP4 says nothing about wall time. So the file's media time 0 is
taken as the window's start, and `guard_s` at either end is dropped: footage outside the window
never leaves as long as Protect is off by no more than the guard, at the cost of that much
footage at the edges.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Final
from urllib.parse import quote

import aiohttp

from ..policy import Recorder, RecorderSource
from .base import Footage, FootageWindow, MediaSpan, NoFootage, RecorderFailed
from .download import DownloadLimits, download_mp4, get_text

_DOMAIN: Final = "unifiprotect"
# Jinja with the entity id as a variable; `tojson` gives an unambiguous answer.
CONFIG_ENTRY_TEMPLATE: Final = (
    "{% set entry = config_entry_id(entity_id) %}"
    '{{ {"entry_id": entry, "domain": config_entry_attr(entry, "domain") if entry else none}'
    " | tojson }}"
)
DEFAULT_GUARD_S: Final = 3.0


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _error(status: int, body: bytes) -> Exception:
    if status == 404:
        return NoFootage("unifiprotect: no video for the window (404)")
    return RecorderFailed(f"unifiprotect video: HTTP {status}")


class UnifiProtectRecorder:
    """UniFi Protect footage via Home Assistant at `ha_url` with the add-on's token."""

    source: ClassVar[RecorderSource] = RecorderSource.UNIFIPROTECT

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ha_url: str,
        token: str,
        *,
        limits: DownloadLimits | None = None,
        guard_s: float = DEFAULT_GUARD_S,
    ) -> None:
        if not (math.isfinite(guard_s) and guard_s >= 0):
            raise ValueError("guard_s must be a non-negative number")
        self._session = session
        self._ha_url = ha_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._limits = limits or DownloadLimits()
        self._guard_s = guard_s

    async def config_entry_id(self, entity_id: str) -> str:
        text = await get_text(
            self._session,
            f"{self._ha_url}/api/template",
            method="POST",
            headers=self._headers,
            json_body={"template": CONFIG_ENTRY_TEMPLATE, "variables": {"entity_id": entity_id}},
            limits=self._limits,
            what="home assistant template",
        )
        try:
            answer = json.loads(text)
        except ValueError as err:
            raise RecorderFailed("home assistant template: answer is not JSON") from err
        if not isinstance(answer, dict):
            raise RecorderFailed("home assistant template: unexpected answer")
        entry_id, domain = answer.get("entry_id"), answer.get("domain")
        if not isinstance(entry_id, str) or not entry_id:
            raise RecorderFailed("unifiprotect: the entity has no config entry")
        if domain != _DOMAIN:
            raise RecorderFailed("unifiprotect: the entity is not a UniFi Protect camera")
        return entry_id

    async def fetch(
        self, recorder: Recorder, entity_id: str, window: FootageWindow, directory: Path
    ) -> Footage:
        if recorder.source is not RecorderSource.UNIFIPROTECT:
            raise RecorderFailed("not a unifiprotect recorder")
        if window.seconds <= 2 * self._guard_s:
            raise RecorderFailed("unifiprotect: window shorter than the export's uncertainty")
        entry_id = await self.config_entry_id(entity_id)
        # Whole seconds, widened: the view takes ISO times, trimming to the window is ours.
        start, end = math.floor(window.start), math.ceil(window.end)
        segments = (entry_id, entity_id, _iso(start), _iso(end))
        path = "/".join(quote(part, safe=":+") for part in segments)
        downloaded = await download_mp4(
            self._session,
            f"{self._ha_url}/api/unifiprotect/video/{path}",
            directory=directory,
            headers=self._headers,
            limits=self._limits,
            footage_seconds=end - start,
            on_error_status=_error,
            what="unifiprotect video",
        )
        guard = self._guard_s
        length = end - start
        return Footage(
            path=downloaded.path,
            sha256=downloaded.sha256,
            bytes=downloaded.bytes,
            source=RecorderSource.UNIFIPROTECT,
            spans=(MediaSpan(guard, length - guard, start + guard),),
            expected_media_s=length,
            tolerance_s=max(2 * guard, 2.0),
        )
