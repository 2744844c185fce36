"""What a city request and its answer are, whatever carries them (HTTP or an MQTT relay).

Both transports turn what arrived into a `CityRequest`, hand it to the city router
(`city_routes.CityRouter.handle`) and carry back what it returns:

- a `Reply` (status, content type, headers, body), sent as one HTTP response or as one or more
  relay messages (split in parts when larger than the relay's `max_message_bytes`);
- a `FrameStream` for `GET .../stream`: the transport pulls frames with `run(send)`, passing a
  `send` coroutine that carries one JPEG frame (a multipart part over HTTP, one message over a
  relay). `run` returns why the stream ended. A transport that ends a stream for its own
  reasons (the city cancelled it, nobody is subscribed any more, its lease ran out) calls
  `stop(reason)`; `run` then returns that reason.

Nothing here knows of aiohttp or MQTT, so a rule of section 3 cannot hold on one carriage and
not on the other: the transports only translate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class CityRequest:
    """One request of the city API (PROTOCOL.md section 3), carriage-independent.

    `client` keys the flood control of refusals no valid signature stands behind: the peer
    address over HTTP, the relay as a whole over MQTT (section 6: a relay counts as one client
    address). `only_hub`, set by a relay, restricts unlocks to tokens whose `iss` is that hub.
    """

    method: str
    path: str
    body: bytes = b""
    authorization: str | None = None
    client: str = ""
    only_hub: str | None = None

    @property
    def bearer(self) -> str | None:
        """The bearer token of `authorization`, or None."""
        scheme, _, token = (self.authorization or "").partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole answer. `headers` holds only what the protocol names (`Retry-After`,
    `Repr-Digest`, `RTCC-Receipt`, `Allow`), with their HTTP capitalisation; a relay sends them
    as user properties with lower-case names."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    # A large body (a clip) stays in its file: the transport reads it as it sends, in chunks
    # (`body` is then empty and `length` its size). `still_served`, when given, is asked
    # between chunks; False (the unlock ended meanwhile) cuts the transfer off.
    file: Path | None = None
    length: int = 0
    still_served: Callable[[], bool] | None = None


class StreamEnd(StrEnum):
    """Why a stream ended: the relay's `end` property, and `stream_closed.detail.reason`."""

    EXPIRED = "expired"  # the unlock's window ended
    ENDED = "ended"  # the unlock ended otherwise: revoked, consent withdrawn, closed by the hub
    SUSPENDED = "suspended"  # sharing paused
    CAMERA_REMOVED = "camera_removed"  # the camera left the share
    CAMERA_UNAVAILABLE = "camera_unavailable"  # Home Assistant gives no image any more
    CANCELLED = "cancelled"  # relay: the city sent DELETE for the stream
    UNWATCHED = "unwatched"  # relay: the broker answered a frame with 0x10, no subscribers
    LEASE_EXPIRED = "lease_expired"  # relay: not renewed within 60 s
    CLIENT_GONE = "client_gone"  # HTTP: the client closed the connection
    SLOW_CLIENT = "slow_client"  # a frame could not be written within the write timeout
    SHUTDOWN = "shutdown"  # the add-on is stopping
    INTERRUPTED = "interrupted"  # written at start-up for a stream a crash left open


type SendFrame = Callable[[bytes], Awaitable[None]]


class FrameStream(Protocol):
    """An opened stream whose first frame is ready (else the router answered with a Reply)."""

    @property
    def content_type(self) -> str:
        """Of each frame: `image/jpeg`."""
        ...

    async def run(self, send: SendFrame) -> StreamEnd:
        """Send frames with `send` until access ends or `stop` is called; audits the close.

        `send` raising `SinkGone` ends the stream as `client_gone`, `SinkSlow` as
        `slow_client`; any reason given to `stop` wins over both.
        """
        ...

    def stop(self, reason: StreamEnd) -> None:
        """End the stream from the transport's side; `run` returns `reason` within 0.25 s."""
        ...


class SinkGone(Exception):
    """Raised by a `send`: the receiver is gone."""


class SinkSlow(Exception):
    """Raised by a `send`: the receiver did not take the frame in time."""


type Answer = Reply | FrameStream
