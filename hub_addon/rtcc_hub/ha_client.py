"""Home Assistant REST client: camera stills via `GET {ha}/api/camera_proxy/<entity_id>`."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp

# Upper bound for one still, connect to last byte: no city request may hang past 10 s, and the
# imaging step still needs its share of that budget.
FETCH_TIMEOUT_S = 8.0
MAX_STILL_BYTES = 32 * 1024 * 1024


class CameraUnavailable(Exception):
    """Home Assistant could not give an image (city API: 503 camera_unavailable)."""


class HomeAssistantClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    async def fetch_still(self, entity_id: str) -> bytes:
        url = f"{self._base_url}/api/camera_proxy/{quote(entity_id, safe='')}"
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_S):
                async with self._session.get(
                    url, headers=self._headers, allow_redirects=False
                ) as response:
                    if response.status != 200:
                        raise CameraUnavailable(f"{entity_id}: HTTP {response.status}")
                    if (response.content_length or 0) > MAX_STILL_BYTES:
                        raise CameraUnavailable(f"{entity_id}: image too large")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        size += len(chunk)
                        if size > MAX_STILL_BYTES:
                            raise CameraUnavailable(f"{entity_id}: image too large")
                        chunks.append(chunk)
                    body = b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise CameraUnavailable(f"{entity_id}: {type(err).__name__}") from err
        if not body:
            raise CameraUnavailable(f"{entity_id}: empty image")
        return body
