"""Client for the RTCC Share add-on's control API (PROTOCOL.md section 4).

Kept free of Home Assistant imports, like a PyPI client library would be: it only
speaks HTTP to the add-on, which is the one place where sharing is enforced.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self
from urllib.parse import quote

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout
from yarl import URL

API_PREFIX = "/control/v1"


class RtccShareError(Exception):
    """The add-on answered with an error, or with something we do not understand."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        """Keep the add-on's error code beside its message."""
        super().__init__(message)
        self.code = code
        self.message = message


class RtccShareConnectionError(RtccShareError):
    """The add-on could not be reached, or the connection broke."""


class RtccShareAuthError(RtccShareError):
    """The add-on refused the control token (401)."""


class RtccShareInvalidPolicyError(RtccShareError):
    """The add-on refused a policy document (400 invalid_policy)."""


class RtccShareConflictError(RtccShareError):
    """The unlock's status does not allow the request (409)."""


class RtccShareNotFoundError(RtccShareError):
    """The add-on does not know the unlock (404)."""


def _time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time, or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"not a time: {value!r}")
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class UnlockCamera:
    """A camera inside an unlock; `id` is the random id the city sees."""

    id: str
    entity_id: str
    label: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        return cls(id=data["id"], entity_id=data["entity_id"], label=data.get("label") or "")


@dataclass(frozen=True, slots=True)
class Unlock:
    """An unlock that has not ended yet, as `/control/v1/state` lists it."""

    unlock_id: str
    hub: str
    hub_name: str
    incident_id: str
    case_number: str | None
    offense: str
    summary: str | None
    scope: tuple[str, ...]
    status: str
    expires_at: datetime | None
    decides_by: datetime | None
    cameras: tuple[UnlockCamera, ...]
    viewers: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        incident = data.get("incident") or {}
        return cls(
            unlock_id=data["unlock_id"],
            hub=data["hub"],
            hub_name=data.get("hub_name") or data["hub"],
            incident_id=str(incident.get("id", "")),
            case_number=incident.get("case_number"),
            offense=str(incident.get("offense", "")),
            summary=incident.get("summary"),
            scope=tuple(data.get("scope") or ()),
            status=data["status"],
            expires_at=_time(data.get("expires_at")),
            decides_by=_time(data.get("decides_by")),
            cameras=tuple(UnlockCamera.from_dict(c) for c in data.get("cameras") or ()),
            viewers=int(data.get("viewers") or 0),
        )


@dataclass(frozen=True, slots=True)
class PolicyCamera:
    """One camera entry of the policy."""

    entity_id: str
    label: str
    share: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the policy document."""
        return cls(
            entity_id=data["entity_id"],
            label=data.get("label") or data["entity_id"],
            share=bool(data.get("share")),
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """The stored policy. `document` is the full JSON, kept to write it back whole."""

    document: dict[str, Any]
    consent: bool
    paused_until: datetime | None
    mode: str
    revision: int | None
    cameras: tuple[PolicyCamera, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the policy document."""
        return cls(
            document=dict(data),
            consent=bool(data["consent"]),
            paused_until=_time(data.get("paused_until")),
            mode=data.get("mode") or "auto",
            revision=data.get("revision"),
            cameras=tuple(PolicyCamera.from_dict(c) for c in data.get("cameras") or ()),
        )

    def to_put(self, **changes: Any) -> dict[str, Any]:
        """Return a document for PUT: this policy with `changes`, without `revision`.

        `revision` is the add-on's counter, not part of what the owner decides.
        """
        document = {k: v for k, v in self.document.items() if k != "revision"}
        document.update(changes)
        return document


@dataclass(frozen=True, slots=True)
class Counters:
    """Totals the add-on keeps."""

    unlocks_received: int
    unlocks_activated: int
    unlocks_declined: int
    snapshots_served: int
    streams_opened: int
    frames_sent: int
    bytes_sent: int
    open_streams: int
    last_access: datetime | None
    last_shared: datetime | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        return cls(
            unlocks_received=int(data.get("unlocks_received") or 0),
            unlocks_activated=int(data.get("unlocks_activated") or 0),
            unlocks_declined=int(data.get("unlocks_declined") or 0),
            snapshots_served=int(data.get("snapshots_served") or 0),
            streams_opened=int(data.get("streams_opened") or 0),
            frames_sent=int(data.get("frames_sent") or 0),
            bytes_sent=int(data.get("bytes_sent") or 0),
            open_streams=int(data.get("open_streams") or 0),
            last_access=_time(data.get("last_access")),
            last_shared=_time(data.get("last_shared")),
        )


@dataclass(frozen=True, slots=True)
class State:
    """`GET /control/v1/state`."""

    home_id: str
    policy: Policy
    unlocks: tuple[Unlock, ...]
    counters: Counters

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        return cls(
            home_id=data["home_id"],
            policy=Policy.from_dict(data["policy"]),
            unlocks=tuple(Unlock.from_dict(u) for u in data.get("unlocks") or ()),
            counters=Counters.from_dict(data.get("counters") or {}),
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log entry (PROTOCOL.md section 5)."""

    seq: int
    ts: datetime
    event: str
    unlock_id: str | None
    hub: str | None
    detail: dict[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from a history page or an event-stream message."""
        ts = _time(data["ts"])
        if ts is None:
            raise TypeError("audit entry without ts")
        return cls(
            seq=int(data["seq"]),
            ts=ts,
            event=str(data["event"]),
            unlock_id=data.get("unlock_id"),
            hub=data.get("hub"),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """`GET /control/v1/history`."""

    entries: tuple[AuditEntry, ...]


def _parse[T](build: Callable[[Any], T], data: Any) -> T:
    """Turn a malformed answer into an RtccShareError instead of a KeyError."""
    try:
        result = build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RtccShareError(f"Unexpected answer from the add-on: {err!r}") from err
    return result


class RtccShareEventStream:
    """`GET /control/v1/events`: audit entries as server-sent events."""

    def __init__(self, response: ClientResponse) -> None:
        """Wrap an open response."""
        self._response = response

    def __aiter__(self) -> Self:
        """Iterate over the audit entries."""
        return self

    async def __anext__(self) -> AuditEntry:
        """Return the next audit entry; StopAsyncIteration when the add-on hangs up."""
        data: list[str] = []
        event = "message"
        while True:
            try:
                raw = await self._response.content.readline()
            except (ClientError, TimeoutError) as err:
                raise RtccShareConnectionError(_describe(err)) from err
            if not raw:
                raise StopAsyncIteration
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith(":"):  # keepalive comment
                continue
            if line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "data":
                    data.append(value)
                elif field == "event":
                    event = value
                continue
            # A blank line dispatches the message collected so far.
            if data and event in ("audit", "message"):
                return _parse(AuditEntry.from_dict, _loads("\n".join(data)))
            data, event = [], "message"

    def close(self) -> None:
        """Hang up."""
        self._response.close()


def _describe(err: Exception) -> str:
    """A short reason for a transport error (TimeoutError has no text of its own)."""
    return str(err) or type(err).__name__


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise RtccShareError("The add-on sent something that is not JSON") from err


class RtccShareClient:
    """Talks to the add-on's control API with the control token."""

    def __init__(
        self,
        url: str,
        token: str,
        session: ClientSession,
        *,
        request_timeout: float = 10.0,
        events_read_timeout: float = 45.0,
    ) -> None:
        """Keep the add-on's base URL, token and Home Assistant's shared session."""
        self.url = URL(url)
        self._token = token
        self._session = session
        self._timeout = ClientTimeout(total=request_timeout)
        self._events_timeout = ClientTimeout(
            total=None, connect=request_timeout, sock_read=events_read_timeout
        )

    def _url(self, path: str) -> URL:
        """Join an already quoted control API path to the base URL."""
        return self.url.with_path(self.url.raw_path.rstrip("/") + API_PREFIX + path, encoded=True)

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its JSON, mapping failures to our exceptions."""
        try:
            async with self._session.request(
                method,
                self._url(path),
                json=body,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                text = await response.text()
                status = response.status
        except (ClientError, TimeoutError, ValueError) as err:
            # ValueError: aiohttp refuses URLs it cannot use (no host, bad port).
            raise RtccShareConnectionError(_describe(err)) from err
        if status < 400:
            return _loads(text) if text else None
        raise _error(status, text)

    async def state(self) -> State:
        """Return the add-on's state."""
        return _parse(State.from_dict, await self._request("GET", "/state"))

    async def put_policy(self, document: Mapping[str, Any]) -> Policy:
        """Store a new policy and return what the add-on stored."""
        return _parse(Policy.from_dict, await self._request("PUT", "/policy", body=document))

    async def approve(self, unlock_id: str) -> dict[str, Any]:
        """Approve a pending unlock (ask mode)."""
        return await self._unlock_action(unlock_id, "approve")

    async def decline(self, unlock_id: str) -> dict[str, Any]:
        """Decline a pending unlock (ask mode)."""
        return await self._unlock_action(unlock_id, "decline")

    async def revoke(self, unlock_id: str) -> dict[str, Any]:
        """End an unlock now."""
        return await self._unlock_action(unlock_id, "revoke")

    async def _unlock_action(self, unlock_id: str, action: str) -> dict[str, Any]:
        # The id is a path segment; quote it so that it cannot reach another path.
        path = f"/unlocks/{quote(unlock_id, safe='')}/{action}"
        result = await self._request("POST", path)
        return result if isinstance(result, dict) else {}

    async def revoke_all(self) -> None:
        """End every unlock."""
        await self._request("POST", "/revoke_all")

    async def history(self, after: int = 0, limit: int = 1000) -> HistoryPage:
        """Return audit entries after `after`, oldest first."""
        data = await self._request(
            "GET", "/history", params={"after": str(after), "limit": str(limit)}
        )

        def build(data: list[Any]) -> HistoryPage:
            if not isinstance(data, list):
                raise TypeError("history is not a list")
            return HistoryPage(entries=tuple(AuditEntry.from_dict(e) for e in data))

        return _parse(build, data)

    async def verify(self) -> dict[str, Any]:
        """Ask the add-on to verify its audit chain."""
        result = await self._request("GET", "/audit/verify")
        if not isinstance(result, dict):
            raise RtccShareError("Unexpected answer from the add-on")
        return result

    async def events(self, after: int) -> RtccShareEventStream:
        """Open the event stream, replaying the entries after `after` first."""
        try:
            response = await self._session.get(
                self._url("/events"),
                params={"after": str(after)},
                headers=self._headers | {"Accept": "text/event-stream"},
                # No total timeout: the stream stays open. Keepalives every 15 s keep
                # reads short, so a silent socket means the add-on is gone.
                timeout=self._events_timeout,
            )
        except (ClientError, TimeoutError, ValueError) as err:
            raise RtccShareConnectionError(_describe(err)) from err
        if response.status >= 400:
            text = await response.text()
            response.release()
            raise _error(response.status, text)
        return RtccShareEventStream(response)


def _error(status: int, text: str) -> RtccShareError:
    """Map an HTTP error answer to an exception carrying the add-on's message."""
    code: str | None = None
    message = text[:200] or f"HTTP {status}"
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        if isinstance(body.get("message"), str):
            message = body["message"]
    if status in (401, 403):
        return RtccShareAuthError(message, code=code)
    if status == 400 and code == "invalid_policy":
        return RtccShareInvalidPolicyError(message, code=code)
    if status == 404:
        return RtccShareNotFoundError(message, code=code)
    if status == 409:
        return RtccShareConflictError(message, code=code)
    if status >= 500:
        return RtccShareConnectionError(message, code=code)
    return RtccShareError(message, code=code)


__all__ = [
    "AuditEntry",
    "Counters",
    "HistoryPage",
    "Policy",
    "PolicyCamera",
    "RtccShareAuthError",
    "RtccShareClient",
    "RtccShareConflictError",
    "RtccShareConnectionError",
    "RtccShareError",
    "RtccShareEventStream",
    "RtccShareInvalidPolicyError",
    "RtccShareNotFoundError",
    "State",
    "Unlock",
    "UnlockCamera",
]
