"""Recorders: where a camera's recorded footage comes from (PROTOCOL sections 2 and 7).

`Recorders` picks the client for a camera's `recorder` (policy `Recorder`) and downloads the
footage of a window::

    recorders = Recorders.standard(session, frigate_url=..., ha_url=..., ha_token=...)
    footage = await recorders.fetch(camera.recorder, camera.entity_id, window, directory)

A new source (Reolink, `camera.record`) is a module of its own with a class that satisfies
`RecorderClient`, added to `Recorders` (and to `policy.RecorderSource`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import aiohttp

from ..policy import Recorder, RecorderSource
from .base import (
    Footage,
    FootageOutcome,
    FootageWindow,
    MediaSpan,
    NoFootage,
    RecorderClient,
    RecorderError,
    RecorderFailed,
)
from .download import DownloadLimits, remove_partials
from .frigate import FrigateRecorder
from .unifiprotect import UnifiProtectRecorder

__all__ = [
    "DownloadLimits",
    "Footage",
    "FootageOutcome",
    "FootageWindow",
    "FrigateRecorder",
    "MediaSpan",
    "NoFootage",
    "RecorderClient",
    "RecorderError",
    "RecorderFailed",
    "Recorders",
    "UnifiProtectRecorder",
    "remove_partials",
]


class Recorders:
    """The configured recorder clients, one per source."""

    def __init__(self, clients: Iterable[RecorderClient]) -> None:
        self._clients: dict[RecorderSource, RecorderClient] = {}
        for client in clients:
            if client.source in self._clients:
                raise ValueError(f"two recorder clients for {client.source}")
            self._clients[client.source] = client

    @classmethod
    def standard(
        cls,
        session: aiohttp.ClientSession,
        *,
        frigate_url: str | None,
        ha_url: str,
        ha_token: str,
        limits: DownloadLimits | None = None,
    ) -> Recorders:
        """Frigate when `frigate_url` is set (standalone it has no default), UniFi Protect
        through Home Assistant always."""
        clients: list[RecorderClient] = [
            UnifiProtectRecorder(session, ha_url, ha_token, limits=limits)
        ]
        if frigate_url:
            clients.append(FrigateRecorder(session, frigate_url, limits=limits))
        return cls(clients)

    def supports(self, source: RecorderSource) -> bool:
        return source in self._clients

    async def fetch(
        self, recorder: Recorder, entity_id: str, window: FootageWindow, directory: Path
    ) -> Footage:
        client = self._clients.get(recorder.source)
        if client is None:
            raise RecorderFailed(f"no {recorder.source} recorder is configured")
        return await client.fetch(recorder, entity_id, window, directory)
