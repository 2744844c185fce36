"""Async client for a home's city API (PROTOCOL.md section 3).

Every non-success answer becomes a :class:`CityApiError` carrying the HTTP status and the
protocol error code, so callers branch on ``err.code`` rather than parsing text. Transport
problems (refused connection, TLS failure, timeout, a malformed answer) become
:class:`CityClientError`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp

from rtcc_hub.city.multipart import MultipartError, MultipartParser, parse_boundary

API_PREFIX = "/api/v1"
# Large enough for any JSON answer of the city API; bounds what a hostile peer can make us read.
MAX_JSON_BYTES = 1024 * 1024
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024
_READ_CHUNK = 64 * 1024


class CityClientError(Exception):
    """The request could not be completed: network, TLS, timeout or a malformed answer."""


class CityApiError(CityClientError):
    """The add-on answered with an error status."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: str | None = None
    ) -> None:
        super().__init__(f"HTTP {status} {code}: {message}" if message else f"HTTP {status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    label: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unlock:
    """An unlock as the city sees it (the 201 of POST /unlocks or the 200 of GET)."""

    unlock_id: str
    status: str
    expires_at: str
    cameras: tuple[Camera, ...]
    access_token: str | None = None
    ended_reason: str | None = None
    raw: dict[str, Any] | None = None
    # The home key's public half (PEM), given by GET /unlocks/{id}: what receipts verify with.
    receipt_key: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Unlock:
        try:
            cameras = tuple(
                Camera(
                    id=str(camera["id"]),
                    label=str(camera.get("label", "")),
                    capabilities=tuple(str(cap) for cap in camera.get("capabilities", [])),
                )
                for camera in body.get("cameras") or []
            )
            return cls(
                unlock_id=str(body["unlock_id"]),
                status=str(body["status"]),
                expires_at=str(body["expires_at"]),
                cameras=cameras,
                access_token=body.get("access_token"),
                ended_reason=body.get("ended_reason"),
                raw=body,
                receipt_key=body.get("receipt_key"),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise CityClientError(f"unexpected unlock document: missing {err}") from None


class ClipStatus(StrEnum):
    """A clip's `status` for the city (PROTOCOL.md section 7)."""

    PREPARING = "preparing"
    READY = "ready"
    NO_FOOTAGE = "no_footage"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip as the city sees it (PROTOCOL.md section 7)."""

    clip_id: str
    camera_id: str
    status: str  # a ClipStatus; kept as the home's text so that a new one is not an error
    progress: float
    start: str
    end: str
    bytes: int | None = None
    sha256: str | None = None
    receipt: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != ClipStatus.PREPARING

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Clip:
        try:
            return cls(
                clip_id=str(body["clip_id"]),
                camera_id=str(body["camera_id"]),
                status=str(body["status"]),
                progress=float(body.get("progress", 0.0)),
                start=str(body["start"]),
                end=str(body["end"]),
                bytes=body.get("bytes"),
                sha256=body.get("sha256"),
                receipt=body.get("receipt"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CityClientError(f"unexpected clip document: {err}") from None


@dataclass(frozen=True, slots=True)
class Received:
    """A body kept in memory (a snapshot), with the headers that prove what it is."""

    body: bytes
    repr_digest: str | None
    receipt: str | None


@dataclass(frozen=True, slots=True)
class Download:
    """A body saved to a file, with the headers that prove what it is."""

    path: Path
    bytes: int
    repr_digest: str | None
    receipt: str | None


def clip_window(start: str | None, end: str | None) -> dict[str, str]:
    """The body of a clip request: the bounds given (RFC 3339), none for the whole window."""
    return {key: value for key, value in (("start", start), ("end", end)) if value}


def ssl_context_for(cafile: str | None) -> ssl.SSLContext | None:
    """Verification against ``cafile`` (e.g. the home's self-signed certificate) when given.

    None means aiohttp's default, which verifies against the system trust store. There is no
    option to skip verification: a city must not send tokens to a home it cannot authenticate.
    """
    if cafile is None:
        return None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as err:
        raise CityClientError(f"cannot load CA file {cafile}: {err}") from None


class CityClient:
    """One home's city API. Use as ``async with CityClient(url) as client: ...``."""

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        cafile: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise CityClientError(f"URL must start with http:// or https://: {base_url!r}")
        self._base = base_url.rstrip("/")
        if self._base.endswith(API_PREFIX):
            self._base = self._base[: -len(API_PREFIX)]
        self._ssl = ssl_context_for(cafile)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _url(self, *segments: str) -> str:
        return self._base + API_PREFIX + "".join("/" + quote(s, safe="") for s in segments)

    # -- requests -------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return await self._json("GET", self._url("health"))

    async def openapi(self) -> dict[str, Any]:
        return await self._json("GET", self._url("openapi.json"))

    async def unlock(self, token: str) -> Unlock:
        """POST a signed unlock token; the 201 answer (active, pending or declined)."""
        body = await self._json("POST", self._url("unlocks"), json={"token": token})
        return Unlock.from_json(body)

    async def status(self, unlock_id: str, access_token: str) -> Unlock:
        body = await self._json(
            "GET", self._url("unlocks", unlock_id), headers=_bearer(access_token)
        )
        return Unlock.from_json(body)

    async def snapshot(self, unlock_id: str, access_token: str, camera_id: str) -> bytes:
        """One masked JPEG from a camera of the unlock."""
        return (await self.snapshot_received(unlock_id, access_token, camera_id)).body

    async def snapshot_received(
        self, unlock_id: str, access_token: str, camera_id: str
    ) -> Received:
        """One masked JPEG with its `Repr-Digest` and `RTCC-Receipt` (PROTOCOL.md section 7)."""
        url = self._url("unlocks", unlock_id, "cameras", camera_id, "snapshot")
        async with self._request("GET", url, headers=_bearer(access_token)) as response:
            await _raise_for_error(response)
            _expect_content_type(response, "image/jpeg")
            body = await _read_limited(response, MAX_SNAPSHOT_BYTES)
            return Received(
                body, response.headers.get("Repr-Digest"), response.headers.get("RTCC-Receipt")
            )

    async def stream(
        self, unlock_id: str, access_token: str, camera_id: str
    ) -> AsyncGenerator[bytes]:
        """The JPEG frames of a camera's MJPEG stream until the add-on ends it.

        To stop early and release the connection at once, iterate inside
        ``contextlib.aclosing(client.stream(...))``.
        """
        url = self._url("unlocks", unlock_id, "cameras", camera_id, "stream")
        # Streams last as long as the unlock; only the connect phase gets a deadline.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total)
        async with self._request(
            "GET", url, headers=_bearer(access_token), timeout=timeout
        ) as response:
            await _raise_for_error(response)
            try:
                parser = MultipartParser(parse_boundary(response.headers.get("Content-Type", "")))
                async for chunk in response.content.iter_chunked(_READ_CHUNK):
                    for part in parser.feed(chunk):
                        if part.content_type == "image/jpeg":
                            yield part.body
                    if parser.finished:
                        return
            except MultipartError as err:
                raise CityClientError(f"malformed stream: {err}") from None
            except aiohttp.ClientPayloadError:
                # The add-on cut the stream (unlock ended, expired, suspended): that is its end.
                return

    async def request_clip(
        self,
        unlock_id: str,
        access_token: str,
        camera_id: str,
        *,
        start: str | None = None,
        end: str | None = None,
    ) -> Clip:
        """Ask for a clip of (part of) the unlock's footage window (202)."""
        url = self._url("unlocks", unlock_id, "cameras", camera_id, "clips")
        window = clip_window(start, end)
        body = await self._json(
            "POST", url, headers=_bearer(access_token), json=window if window else None
        )
        return Clip.from_json(body)

    async def clip(self, unlock_id: str, access_token: str, clip_id: str) -> Clip:
        url = self._url("unlocks", unlock_id, "clips", clip_id)
        return Clip.from_json(await self._json("GET", url, headers=_bearer(access_token)))

    async def clip_video(
        self, unlock_id: str, access_token: str, clip_id: str, path: Path
    ) -> Download:
        """Download a ready clip to `path` (written as it arrives, renamed when complete)."""
        url = self._url("unlocks", unlock_id, "clips", clip_id, "video")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total)
        partial = path.with_name(path.name + ".part")
        async with self._request(
            "GET", url, headers=_bearer(access_token), timeout=timeout
        ) as response:
            await _raise_for_error(response)
            _expect_content_type(response, "video/mp4")
            size = 0
            with partial.open("wb") as handle:
                async for chunk in response.content.iter_chunked(_READ_CHUNK):
                    handle.write(chunk)
                    size += len(chunk)
            if response.content_length is not None and size != response.content_length:
                partial.unlink(missing_ok=True)
                raise CityClientError("the clip download was cut off")
            partial.replace(path)
            return Download(
                path,
                size,
                response.headers.get("Repr-Digest"),
                response.headers.get("RTCC-Receipt"),
            )

    async def close_unlock(self, unlock_id: str, access_token: str) -> None:
        """DELETE the unlock: it ends with ``hub_closed``."""
        url = self._url("unlocks", unlock_id)
        async with self._request("DELETE", url, headers=_bearer(access_token)) as response:
            await _raise_for_error(response)

    # -- plumbing -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
        **kwargs: Any,
    ) -> _GuardedRequest:
        return _GuardedRequest(
            self._get_session().request(
                method,
                url,
                ssl=self._ssl if self._ssl is not None else True,
                timeout=timeout or self._timeout,
                allow_redirects=False,
                **kwargs,
            )
        )

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        async with self._request(method, url, **kwargs) as response:
            await _raise_for_error(response)
            return await _read_json(response)


class _GuardedRequest:
    """Wraps aiohttp's request context so transport failures surface as CityClientError."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            response: aiohttp.ClientResponse = await self._context.__aenter__()
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise CityClientError(f"request failed: {err or type(err).__name__}") from None
        return response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._context.__aexit__(exc_type, exc, traceback)
        if isinstance(exc, (aiohttp.ClientError, TimeoutError)) and not isinstance(
            exc, CityClientError
        ):
            raise CityClientError(f"request failed: {exc or type(exc).__name__}") from exc


def _bearer(access_token: str) -> dict[str, str]:
    if not access_token or any(ch in access_token for ch in "\r\n"):
        raise CityClientError("access token is empty or malformed")
    return {"Authorization": f"Bearer {access_token}"}


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        data += chunk
        if len(data) > limit:
            raise CityClientError(f"response larger than {limit} bytes")
    return bytes(data)


async def _read_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await _read_limited(response, MAX_JSON_BYTES)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CityClientError(f"HTTP {response.status}: answer is not JSON") from None
    if not isinstance(body, dict):
        raise CityClientError(f"HTTP {response.status}: answer is not a JSON object")
    return body


async def _raise_for_error(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        if response.status >= 300:
            raise CityClientError(f"unexpected redirect (HTTP {response.status})")
        return
    code, message = "http_error", response.reason or ""
    try:
        body = await _read_json(response)
    except CityClientError:
        body = {}
    if isinstance(body.get("error"), str):
        code = body["error"]
    if isinstance(body.get("message"), str):
        message = body["message"]
    raise CityApiError(
        response.status, code, message, retry_after=response.headers.get("Retry-After")
    )


def _expect_content_type(response: aiohttp.ClientResponse, expected: str) -> None:
    if response.content_type != expected:
        raise CityClientError(f"expected {expected}, got {response.content_type or 'nothing'}")


type ClipGetter = Callable[[], Awaitable[Clip]]


async def wait_for_clip(
    get: ClipGetter,
    *,
    progress: Callable[[float], None] | None = None,
    interval_s: float = 0.5,
    timeout_s: float = 3600.0,
) -> Clip:
    """Poll a clip (HTTP or relay: pass its `clip` call) until it is no longer preparing."""
    async with asyncio.timeout(timeout_s):
        while True:
            clip = await get()
            if progress is not None:
                progress(clip.progress)
            if clip.finished:
                return clip
            await asyncio.sleep(interval_s)
