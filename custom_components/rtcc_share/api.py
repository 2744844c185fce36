"""Client for the RTCC Share add-on's control API (PROTOCOL.md section 4).

Kept free of Home Assistant imports, like a PyPI client library would be: it only
speaks HTTP to the add-on, which is the one place where sharing is enforced. Every
answer is parsed into frozen dataclasses here; nothing above this module reads or edits
the add-on's raw JSON.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self
from urllib.parse import quote

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout
from yarl import URL

API_PREFIX = "/control/v1"

type Point = tuple[float, float]
type Polygon = tuple[Point, ...]


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


class RtccShareInvalidRequestError(RtccShareError):
    """The add-on refused a request body (400 invalid_request), naming the field."""


class RtccShareConflictError(RtccShareError):
    """The unlock's status does not allow the request (409)."""


class RtccShareNotFoundError(RtccShareError):
    """The add-on does not know the unlock (404)."""


class RtccShareCameraUnavailableError(RtccShareError):
    """Home Assistant could not give the add-on an image of the camera (503)."""


class Mode(StrEnum):
    """Standing consent, or the owner is asked for each unlock."""

    AUTO = "auto"
    ASK = "ask"


class UnlockStatus(StrEnum):
    """An unlock's status (PROTOCOL.md section 3.2)."""

    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECLINED = "declined"
    ENDED = "ended"


class RecorderSource(StrEnum):
    """Where a camera's recordings are (PROTOCOL.md section 2)."""

    FRIGATE = "frigate"
    UNIFIPROTECT = "unifiprotect"


def _time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time, or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"a time without an offset: {value!r}")
    return parsed


def _required_time(value: Any) -> datetime:
    parsed = _time(value)
    if parsed is None:
        raise TypeError("missing time")
    return parsed


def rfc3339(value: datetime) -> str:
    """Format a time as the add-on writes them: whole seconds, UTC, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return int(value)


def _number(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    # An int stays an int, so that what is written back reads as what was stored.
    return value


def has_visible_text(text: str | None) -> bool:
    """True when `text` has a character that shows (the add-on's rule for labels).

    Whitespace, zero-width (format) and control characters do not show: a label of only
    those is no label, and the city sees `Camera N`.
    """
    if text is None:
        return False
    return any(
        not char.isspace() and unicodedata.category(char) not in ("Cf", "Cc", "Zs", "Zl", "Zp")
        for char in text
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Recorder:
    """A camera's recorder: Frigate (with the camera's name there) or UniFi Protect."""

    source: RecorderSource
    camera: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the policy document."""
        return cls(source=RecorderSource(data["source"]), camera=data.get("camera"))

    def as_dict(self) -> dict[str, Any]:
        """The policy document's form."""
        if self.source is RecorderSource.FRIGATE:
            return {"source": str(self.source), "camera": self.camera}
        return {"source": str(self.source)}


def _polygons(value: Any) -> tuple[Polygon, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError("masks is not a list")
    return tuple(
        tuple((float(point[0]), float(point[1])) for point in polygon) for polygon in value
    )


@dataclass(frozen=True, slots=True)
class PolicyCamera:
    """One camera entry of the policy."""

    entity_id: str
    label: str | None = None
    share: bool = False
    masks: tuple[Polygon, ...] = ()
    max_width: int | None = None
    max_fps: float = 2.0
    recorder: Recorder | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the policy document."""
        recorder = data.get("recorder")
        max_width = data.get("max_width")
        return cls(
            entity_id=str(data["entity_id"]),
            label=_str_or_none(data.get("label")),
            share=bool(data.get("share")),
            masks=_polygons(data.get("masks")),
            max_width=None if max_width is None else _int(max_width),
            max_fps=_number(data.get("max_fps"), 2.0),
            recorder=None if recorder is None else Recorder.from_dict(recorder),
        )

    def as_dict(self) -> dict[str, Any]:
        """The policy document's form."""
        return {
            "entity_id": self.entity_id,
            "label": self.label,
            "share": self.share,
            "masks": [[list(point) for point in polygon] for polygon in self.masks],
            "max_width": self.max_width,
            "max_fps": self.max_fps,
            "recorder": None if self.recorder is None else self.recorder.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Home:
    """The home's location; it never leaves the home."""

    lat: float
    lon: float


# The keys this client knows; anything else a newer add-on stores is written back as it was.
_POLICY_KEYS = frozenset(
    {
        "consent",
        "paused_until",
        "mode",
        "ask_timeout_s",
        "home",
        "max_radius_m",
        "max_duration_s",
        "max_unlocks_per_week",
        "allow_live",
        "require_case_number",
        "excluded_offenses",
        "allow_clips",
        "max_clip_s",
        "max_clip_age_s",
        "cameras",
        "revision",
    }
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The stored policy (PROTOCOL.md section 2), with the add-on's defaults."""

    consent: bool = False
    paused_until: datetime | None = None
    mode: Mode = Mode.AUTO
    ask_timeout_s: int = 600
    home: Home | None = None
    max_radius_m: float = 800
    max_duration_s: int = 3600
    max_unlocks_per_week: int = 10
    allow_live: bool = False
    require_case_number: bool = True
    excluded_offenses: tuple[str, ...] = ()
    allow_clips: bool = False
    max_clip_s: int = 1800
    max_clip_age_s: int = 7 * 24 * 3600
    cameras: tuple[PolicyCamera, ...] = ()
    revision: int | None = None
    # Keys of a newer add-on this client does not know, kept so a write does not drop them.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the policy document."""
        home = data.get("home")
        excluded = data.get("excluded_offenses") or ()
        if not isinstance(excluded, list | tuple):
            raise TypeError("excluded_offenses is not a list")
        revision = data.get("revision")
        return cls(
            consent=bool(data["consent"]),
            paused_until=_time(data.get("paused_until")),
            mode=Mode(data.get("mode") or Mode.AUTO),
            ask_timeout_s=_int(data.get("ask_timeout_s"), 600),
            home=None if home is None else Home(lat=home["lat"], lon=home["lon"]),
            max_radius_m=_number(data.get("max_radius_m"), 800),
            max_duration_s=_int(data.get("max_duration_s"), 3600),
            max_unlocks_per_week=_int(data.get("max_unlocks_per_week"), 10),
            allow_live=bool(data.get("allow_live", False)),
            require_case_number=bool(data.get("require_case_number", True)),
            excluded_offenses=tuple(str(o) for o in excluded),
            allow_clips=bool(data.get("allow_clips", False)),
            max_clip_s=_int(data.get("max_clip_s"), 1800),
            max_clip_age_s=_int(data.get("max_clip_age_s"), 7 * 24 * 3600),
            cameras=tuple(PolicyCamera.from_dict(c) for c in data.get("cameras") or ()),
            revision=None if revision is None else _int(revision),
            extra={k: v for k, v in data.items() if k not in _POLICY_KEYS},
        )

    def as_document(self) -> dict[str, Any]:
        """The document to PUT: everything the owner decides, without `revision`.

        `revision` is the add-on's counter, not part of what the owner decides.
        """
        return {
            **self.extra,
            "consent": self.consent,
            "paused_until": None if self.paused_until is None else rfc3339(self.paused_until),
            "mode": str(self.mode),
            "ask_timeout_s": self.ask_timeout_s,
            "home": None if self.home is None else {"lat": self.home.lat, "lon": self.home.lon},
            "max_radius_m": self.max_radius_m,
            "max_duration_s": self.max_duration_s,
            "max_unlocks_per_week": self.max_unlocks_per_week,
            "allow_live": self.allow_live,
            "require_case_number": self.require_case_number,
            "excluded_offenses": list(self.excluded_offenses),
            "allow_clips": self.allow_clips,
            "max_clip_s": self.max_clip_s,
            "max_clip_age_s": self.max_clip_age_s,
            "cameras": [camera.as_dict() for camera in self.cameras],
        }

    def camera(self, entity_id: str) -> PolicyCamera | None:
        """The policy's entry for a camera entity, or None."""
        return next((c for c in self.cameras if c.entity_id == entity_id), None)

    def public_label(self, camera: PolicyCamera) -> str:
        """What the city sees (PROTOCOL.md section 2): the label, else `Camera N`.

        N counts every camera of the policy from 1, shared or not; nothing derived from
        the entity id is ever shown.
        """
        if has_visible_text(camera.label):
            assert camera.label is not None
            return camera.label.strip()
        position = next(
            index
            for index, listed in enumerate(self.cameras, start=1)
            if listed.entity_id == camera.entity_id
        )
        return f"Camera {position}"

    def label_of(self, entity_id: str) -> str | None:
        """The public label of a camera entity, or None when it is not in the policy."""
        camera = self.camera(entity_id)
        return None if camera is None else self.public_label(camera)

    def with_camera(self, camera: PolicyCamera) -> Policy:
        """This policy with `camera` replacing its entry, or appended when it is new."""
        if self.camera(camera.entity_id) is None:
            return replace(self, cameras=(*self.cameras, camera))
        return replace(
            self,
            cameras=tuple(camera if c.entity_id == camera.entity_id else c for c in self.cameras),
        )

    def without_camera(self, entity_id: str) -> Policy:
        """This policy without the camera's entry."""
        return replace(self, cameras=tuple(c for c in self.cameras if c.entity_id != entity_id))


@dataclass(frozen=True, slots=True)
class UnlockCamera:
    """A camera inside an unlock; `id` is the random id the city sees."""

    id: str
    entity_id: str
    label: str
    capabilities: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        return cls(
            id=str(data["id"]),
            entity_id=str(data["entity_id"]),
            label=str(data.get("label") or ""),
            capabilities=tuple(str(c) for c in data.get("capabilities") or ()),
        )


@dataclass(frozen=True, slots=True)
class Unlock:
    """An unlock as `/control/v1/state` lists it (and the unlock actions answer)."""

    unlock_id: str
    hub: str
    hub_name: str
    incident_id: str
    case_number: str | None
    offense: str
    summary: str | None
    scope: tuple[str, ...]
    status: UnlockStatus
    expires_at: datetime | None
    decides_by: datetime | None
    cameras: tuple[UnlockCamera, ...]
    viewers: int
    ended_reason: str | None = None
    created_at: datetime | None = None
    not_before: datetime | None = None
    snapshots: int = 0
    frames: int = 0
    bytes: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        incident = data.get("incident") or {}
        return cls(
            unlock_id=str(data["unlock_id"]),
            hub=str(data["hub"]),
            hub_name=str(data.get("hub_name") or data["hub"]),
            incident_id=str(incident.get("id", "")),
            case_number=_str_or_none(incident.get("case_number")),
            offense=str(incident.get("offense", "")),
            summary=_str_or_none(incident.get("summary")),
            scope=tuple(str(s) for s in data.get("scope") or ()),
            status=UnlockStatus(data["status"]),
            expires_at=_time(data.get("expires_at")),
            decides_by=_time(data.get("decides_by")),
            cameras=tuple(UnlockCamera.from_dict(c) for c in data.get("cameras") or ()),
            viewers=_int(data.get("viewers")),
            ended_reason=_str_or_none(data.get("ended_reason")),
            created_at=_time(data.get("created_at")),
            not_before=_time(data.get("not_before")),
            snapshots=_int(data.get("snapshots")),
            frames=_int(data.get("frames")),
            bytes=_int(data.get("bytes")),
        )


@dataclass(frozen=True, slots=True)
class Counters:
    """Totals the add-on keeps."""

    unlocks_received: int = 0
    unlocks_activated: int = 0
    unlocks_declined: int = 0
    snapshots_served: int = 0
    streams_opened: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    open_streams: int = 0
    last_access: datetime | None = None
    last_shared: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        return cls(
            unlocks_received=_int(data.get("unlocks_received")),
            unlocks_activated=_int(data.get("unlocks_activated")),
            unlocks_declined=_int(data.get("unlocks_declined")),
            snapshots_served=_int(data.get("snapshots_served")),
            streams_opened=_int(data.get("streams_opened")),
            frames_sent=_int(data.get("frames_sent")),
            bytes_sent=_int(data.get("bytes_sent")),
            open_streams=_int(data.get("open_streams")),
            last_access=_time(data.get("last_access")),
            last_shared=_time(data.get("last_shared")),
        )


@dataclass(frozen=True, slots=True)
class Relay:
    """One outbound relay to a city's broker (PROTOCOL.md sections 4 and 6).

    The add-on reports its URL, never its credentials.
    """

    hub: str
    url: str
    connected: bool
    since: datetime | None
    last_error: str | None
    hub_name: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        return cls(
            hub=str(data["hub"]),
            url=str(data["url"]),
            connected=bool(data.get("connected")),
            since=_time(data.get("since")),
            last_error=_str_or_none(data.get("last_error")),
            hub_name=_str_or_none(data.get("hub_name")),
        )


@dataclass(frozen=True, slots=True)
class State:
    """`GET /control/v1/state`."""

    home_id: str
    policy: Policy
    unlocks: tuple[Unlock, ...]
    counters: Counters
    relays: tuple[Relay, ...] = ()
    # City hubs by id, with their names, as far as the add-on tells them.
    hub_names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the state document."""
        unlocks = tuple(Unlock.from_dict(u) for u in data.get("unlocks") or ())
        relays = tuple(Relay.from_dict(r) for r in data.get("relays") or ())
        names: dict[str, str] = {}
        # A `hubs` list, when the add-on gives one, names every configured hub; otherwise the
        # names come with the unlocks and relays.
        for hub in data.get("hubs") or ():
            if hub.get("name"):
                names[str(hub["id"])] = str(hub["name"])
        for relay in relays:
            if relay.hub_name:
                names.setdefault(relay.hub, relay.hub_name)
        for unlock in unlocks:
            names.setdefault(unlock.hub, unlock.hub_name)
        return cls(
            home_id=str(data["home_id"]),
            policy=Policy.from_dict(data["policy"]),
            unlocks=unlocks,
            counters=Counters.from_dict(data.get("counters") or {}),
            relays=relays,
            hub_names=names,
        )

    def unlock(self, unlock_id: str) -> Unlock | None:
        """An unlock that has not ended, or None."""
        return next((u for u in self.unlocks if u.unlock_id == unlock_id), None)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log entry (PROTOCOL.md section 5).

    `detail` is the entry's free-form detail as the add-on wrote it; the share history
    reads the fields it knows out of it (history.py).
    """

    seq: int
    ts: datetime
    event: str
    unlock_id: str | None
    hub: str | None
    detail: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from a history page or an event-stream message."""
        detail = data.get("detail") or {}
        if not isinstance(detail, Mapping):
            raise TypeError("detail is not an object")
        return cls(
            seq=_int(data["seq"]),
            ts=_required_time(data["ts"]),
            event=str(data["event"]),
            unlock_id=_str_or_none(data.get("unlock_id")),
            hub=_str_or_none(data.get("hub")),
            detail=dict(detail),
        )


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """`GET /control/v1/audit/verify`: whether the hash chain holds, and its head."""

    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the add-on's answer."""
        bad = data.get("first_bad_seq")
        return cls(
            ok=data["ok"] is True,
            entries=_int(data["entries"]),
            head=str(data.get("head") or ""),
            first_bad_seq=None if bad is None else _int(bad),
        )


def _parse[T](build: Callable[[Any], T], data: Any) -> T:
    """Turn a malformed answer into an RtccShareError instead of a KeyError."""
    try:
        result = build(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
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
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                elif name == "event":
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

    async def _request_raw(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
    ) -> tuple[bytes, str]:
        """Send one request and return its body and content type; errors become ours."""
        try:
            async with self._session.request(
                method,
                self._url(path),
                json=body,
                params=params,
                headers=self._headers | {"Accept": accept},
                timeout=self._timeout,
            ) as response:
                content = await response.read()
                status = response.status
                content_type = response.content_type
        except (ClientError, TimeoutError, ValueError) as err:
            # ValueError: aiohttp refuses URLs it cannot use (no host, bad port).
            raise RtccShareConnectionError(_describe(err)) from err
        if status >= 400:
            raise _error(status, content.decode("utf-8", "replace"))
        return content, content_type

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its JSON."""
        content, _ = await self._request_raw(method, path, body=body, params=params)
        text = content.decode("utf-8", "replace")
        return _loads(text) if text else None

    async def state(self) -> State:
        """Return the add-on's state."""
        return _parse(State.from_dict, await self._request("GET", "/state"))

    async def put_policy(self, policy: Policy) -> Policy:
        """Store a new policy and return what the add-on stored."""
        stored = await self._request("PUT", "/policy", body=policy.as_document())
        return _parse(Policy.from_dict, stored)

    async def preview(
        self,
        entity_id: str,
        *,
        masks: Sequence[Polygon] | None = None,
        max_width: int | None = None,
        max_width_given: bool = False,
    ) -> bytes:
        """What the city would receive of a camera now, masked and scaled (a JPEG).

        Without `masks` (or without `max_width_given`) the add-on uses the camera's policy.
        """
        body: dict[str, Any] = {"entity_id": entity_id}
        if masks is not None:
            body["masks"] = [[list(point) for point in polygon] for polygon in masks]
        if max_width_given:
            body["max_width"] = max_width
        content, content_type = await self._request_raw(
            "POST", "/preview", body=body, accept="image/jpeg"
        )
        if content_type != "image/jpeg" or not content.startswith(b"\xff\xd8"):
            raise RtccShareError("The add-on's preview is not a JPEG image")
        return content

    async def approve(self, unlock_id: str) -> Unlock:
        """Approve a pending unlock (ask mode)."""
        return await self._unlock_action(unlock_id, "approve")

    async def decline(self, unlock_id: str) -> Unlock:
        """Decline a pending unlock (ask mode)."""
        return await self._unlock_action(unlock_id, "decline")

    async def revoke(self, unlock_id: str) -> Unlock:
        """End an unlock now."""
        return await self._unlock_action(unlock_id, "revoke")

    async def _unlock_action(self, unlock_id: str, action: str) -> Unlock:
        # The id is a path segment; quote it so that it cannot reach another path.
        path = f"/unlocks/{quote(unlock_id, safe='')}/{action}"
        return _parse(Unlock.from_dict, await self._request("POST", path))

    async def revoke_all(self) -> None:
        """End every unlock."""
        await self._request("POST", "/revoke_all")

    async def history(self, after: int = 0, limit: int = 1000) -> tuple[AuditEntry, ...]:
        """Return audit entries after `after`, oldest first."""
        data = await self._request(
            "GET", "/history", params={"after": str(after), "limit": str(limit)}
        )

        def build(data: Any) -> tuple[AuditEntry, ...]:
            if not isinstance(data, list):
                raise TypeError("history is not a list")
            return tuple(AuditEntry.from_dict(e) for e in data)

        return _parse(build, data)

    async def verify(self) -> AuditVerification:
        """Ask the add-on to verify its audit chain."""
        return _parse(AuditVerification.from_dict, await self._request("GET", "/audit/verify"))

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


# HTTP statuses (and error codes) of the add-on's refusals, and the exception for each.
_ERRORS: tuple[tuple[frozenset[int], frozenset[str] | None, type[RtccShareError]], ...] = (
    (frozenset({401, 403}), None, RtccShareAuthError),
    (frozenset({400}), frozenset({"invalid_policy"}), RtccShareInvalidPolicyError),
    (frozenset({400}), frozenset({"invalid_request"}), RtccShareInvalidRequestError),
    (frozenset({404}), None, RtccShareNotFoundError),
    (frozenset({409}), None, RtccShareConflictError),
    (frozenset({503}), frozenset({"camera_unavailable"}), RtccShareCameraUnavailableError),
)


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
    for statuses, codes, error in _ERRORS:
        if status in statuses and (codes is None or code in codes):
            return error(message, code=code)
    if status >= 500:
        return RtccShareConnectionError(message, code=code)
    return RtccShareError(message, code=code)


__all__ = [
    "AuditEntry",
    "AuditVerification",
    "Counters",
    "Home",
    "Mode",
    "Point",
    "Policy",
    "PolicyCamera",
    "Polygon",
    "Recorder",
    "RecorderSource",
    "Relay",
    "RtccShareAuthError",
    "RtccShareCameraUnavailableError",
    "RtccShareClient",
    "RtccShareConflictError",
    "RtccShareConnectionError",
    "RtccShareError",
    "RtccShareEventStream",
    "RtccShareInvalidPolicyError",
    "RtccShareInvalidRequestError",
    "RtccShareNotFoundError",
    "State",
    "Unlock",
    "UnlockCamera",
    "UnlockStatus",
    "has_visible_text",
    "rfc3339",
]
