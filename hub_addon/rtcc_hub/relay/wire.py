"""Relay messages <-> city requests and answers (PROTOCOL.md section 6). Pure functions.

A request is a PUBLISH to `P/homes/H/requests` with a Response Topic, Correlation Data, user
properties `method`, `path`, optional `authorization`, and the body as payload. What it is
answered with, and what is dropped without an answer, is decided here:

- a retained message (the broker replays it at every subscription: a request delivered
  late), no Response Topic, or one not strictly under `P/homes/H/responses/`: dropped;
- no Correlation Data, or empty, or more than 64 bytes: dropped;
- `method` missing, empty or given twice; `path` missing, given twice, not starting with `/`,
  with a query string or fragment, or with spaces or control characters; `authorization`
  given twice or with control characters: `400 invalid_request`;
- `method` other than `GET`, `POST`, `DELETE` (case-sensitive, as in HTTP):
  `405 method_not_allowed`;
- anything else: handed to the city router (which answers `404`/`405` for what it does not
  serve).

User properties with other names are ignored, as HTTP ignores headers it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..carriage import CityRequest, Method, Reply, StreamEnd
from ..errors import ErrorCode
from .observer import DropReason
from .replies import relay_error
from .topics import HomeTopics

MAX_CORRELATION_BYTES = 64
MAX_PATH_CHARS = 2048
MAX_AUTHORIZATION_CHARS = 8192
# The response headers section 3 and 7 name; sent as user properties with lower-case names.
RELAYED_HEADERS = ("retry-after", "repr-digest", "rtcc-receipt")


@dataclass(frozen=True, slots=True)
class Incoming:
    """What arrived on the requests topic, as read from the MQTT message."""

    response_topic: str | None
    correlation: bytes | None
    user_properties: Sequence[tuple[str, str]]
    payload: bytes
    retained: bool = False  # delivered from the broker's retained store, not live


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: DropReason


@dataclass(frozen=True, slots=True)
class Answered:
    """Answered by the relay itself: never reaches the router."""

    correlation: bytes
    response_topic: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class Accepted:
    correlation: bytes
    response_topic: str
    request: CityRequest


type Decision = Dropped | Answered | Accepted


def drop_reason(incoming: Incoming, topics: HomeTopics) -> DropReason | None:
    """Why a message is not a request this home may answer at all, or None."""
    if incoming.retained:
        return DropReason.RETAINED
    if incoming.response_topic is None:
        return DropReason.NO_RESPONSE_TOPIC
    if not topics.is_response_topic(incoming.response_topic):
        return DropReason.FOREIGN_RESPONSE_TOPIC
    if incoming.correlation is None:
        return DropReason.NO_CORRELATION_DATA
    if not 1 <= len(incoming.correlation) <= MAX_CORRELATION_BYTES:
        return DropReason.BAD_CORRELATION_DATA
    return None


def read_request(incoming: Incoming, topics: HomeTopics, *, client: str, hub: str) -> Decision:
    """Decide what to do with one request message of the relay to `hub`."""
    reason = drop_reason(incoming, topics)
    if reason is not None or incoming.correlation is None or incoming.response_topic is None:
        return Dropped(reason or DropReason.NO_CORRELATION_DATA)
    correlation, topic = incoming.correlation, incoming.response_topic

    def answer(error: ErrorCode) -> Answered:
        return Answered(correlation, topic, relay_error(error))

    values: dict[str, list[str]] = {}
    for name, value in incoming.user_properties:
        values.setdefault(name, []).append(value)
    methods, paths = values.get("method", []), values.get("path", [])
    authorizations = values.get("authorization", [])
    if len(methods) != 1 or not methods[0] or len(paths) != 1 or len(authorizations) > 1:
        return answer(ErrorCode.INVALID_REQUEST)
    path = paths[0]
    authorization = authorizations[0] if authorizations else None
    if not _is_path(path) or (authorization is not None and not _is_header_value(authorization)):
        return answer(ErrorCode.INVALID_REQUEST)
    try:
        method = Method(methods[0])
    except ValueError:
        return answer(ErrorCode.METHOD_NOT_ALLOWED)
    return Accepted(
        correlation,
        topic,
        CityRequest(
            method=method,
            path=path,
            body=incoming.payload,
            authorization=authorization,
            client=client,
            only_hub=hub,
        ),
    )


def _is_path(path: str) -> bool:
    return (
        path.startswith("/")
        and len(path) <= MAX_PATH_CHARS
        and all("\x21" <= ch <= "\x7e" for ch in path)
        and "?" not in path
        and "#" not in path
    )


def _is_header_value(value: str) -> bool:
    return len(value) <= MAX_AUTHORIZATION_CHARS and all(
        "\x20" <= ch <= "\x7e" or ch == "\t" for ch in value
    )


# -- answers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One response message; the publisher adds the Correlation Data."""

    payload: bytes
    user_properties: tuple[tuple[str, str], ...]
    content_type: str | None


def _split(
    body: bytes,
    properties: tuple[tuple[str, str], ...],
    content_type: str | None,
    max_bytes: int,
) -> list[Outgoing]:
    """One message, or `parts` messages of at most `max_bytes` each carrying `part`/`parts`."""
    if len(body) <= max_bytes:
        return [Outgoing(body, properties, content_type)]
    chunks = [body[start : start + max_bytes] for start in range(0, len(body), max_bytes)]
    count = str(len(chunks))
    return [
        Outgoing(chunk, (*properties, ("part", str(number)), ("parts", count)), content_type)
        for number, chunk in enumerate(chunks, start=1)
    ]


def relayed_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The named response headers of an answer, lower-case, in a fixed order."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return tuple((name, lowered[name]) for name in RELAYED_HEADERS if name in lowered)


def reply_messages(reply: Reply, max_bytes: int) -> list[Outgoing]:
    properties = (("status", str(reply.status)), *relayed_headers(reply.headers))
    return _split(reply.body, properties, reply.content_type or None, max_bytes)


def file_part(reply: Reply, chunk: bytes, number: int, parts: int) -> Outgoing:
    """Part `number` of `parts` of a reply whose body is read from its file (a clip)."""
    properties: tuple[tuple[str, str], ...] = (
        ("status", str(reply.status)),
        *relayed_headers(reply.headers),
    )
    if parts > 1:
        properties = (*properties, ("part", str(number)), ("parts", str(parts)))
    return Outgoing(chunk, properties, reply.content_type or None)


def frame_messages(frame: bytes, number: int, content_type: str, max_bytes: int) -> list[Outgoing]:
    properties = (("status", "200"), ("frame", str(number)))
    return _split(frame, properties, content_type, max_bytes)


# Section 6 names seven reasons. The others a stream can end with are named after what they
# are: `camera_unavailable` (the 503 code of a snapshot of the same camera: no image for a
# while; the city may ask again later), `shutdown` (the add-on is stopping), `slow_client` (the
# broker stopped acknowledging frames). `client_gone` means the connection to the broker is
# lost: nothing can be sent.
_END_NAMES: dict[StreamEnd, str | None] = {
    StreamEnd.EXPIRED: "expired",
    StreamEnd.ENDED: "ended",
    StreamEnd.SUSPENDED: "suspended",
    StreamEnd.CAMERA_REMOVED: "camera_removed",
    StreamEnd.CANCELLED: "cancelled",
    StreamEnd.UNWATCHED: "unwatched",
    StreamEnd.LEASE_EXPIRED: "lease_expired",
    StreamEnd.CAMERA_UNAVAILABLE: "camera_unavailable",
    StreamEnd.SHUTDOWN: "shutdown",
    StreamEnd.SLOW_CLIENT: "slow_client",
    StreamEnd.INTERRUPTED: "shutdown",
    StreamEnd.CLIENT_GONE: None,
}


def end_name(reason: StreamEnd) -> str | None:
    """The `end` property for a stream that ended with `reason`; None: no end can be sent."""
    return _END_NAMES.get(reason, "ended")


def end_message(name: str) -> Outgoing:
    return Outgoing(b"", (("status", "200"), ("end", name)), None)
