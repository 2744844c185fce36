"""A stand-in for the city router (`city_routes.CityRouter.handle`), for transport tests.

It answers in the carriage types exactly as the real router will: `Reply`s with the city API's
statuses and JSON error shape, and a `FrameStream` for `GET .../stream` whose frames are paced
at `max_fps`, that ends with a reason (the unlock ended, expired, was suspended, the camera
left) and that honours `stop(reason)` within 0.25 s whatever `send` is doing.

    router = StandinRouter()
    unlock = router.add_unlock(scope=("snapshot", "stream"))      # id, token, cameras
    relay = Relay(config, home_id=..., handler=router.handle)
    router.requests                                                  # every CityRequest seen
    router.end_unlock(unlock, StreamEnd.ENDED)                       # its streams end
    router.hold_snapshots(); router.release()                       # requests kept busy

The paths and answers follow PROTOCOL.md section 3: unknown paths `404 not_found`, known paths
with another method `405 method_not_allowed` (with `Allow`), a wrong token `401 invalid_token`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from rtcc_hub.carriage import (
    Answer,
    CityRequest,
    FrameStream,
    Reply,
    SendFrame,
    SinkGone,
    SinkSlow,
    StreamEnd,
)
from tests.support.receipts import ReceiptHome

UNLOCK = re.compile(r"^/api/v1/unlocks/(?P<unlock>[^/]+)$")
CAMERA = re.compile(r"^/api/v1/unlocks/(?P<unlock>[^/]+)/cameras/(?P<camera>[^/]+)/(?P<what>snapshot|stream)$")  # fmt: skip

MESSAGES = {
    "invalid_request": "The request must be a JSON object with a token, at most 16 KiB.",
    "invalid_token": "The token or credentials were not accepted.",
    "quota_exceeded": "Too many unlocks from this hub in the last 7 days; retry later.",
    "not_active": "This unlock does not allow this access now.",
    "not_found": "Not found.",
    "gone": "This unlock has ended.",
    "method_not_allowed": "Method not allowed.",
}


def error(status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": code, "message": MESSAGES[code]}).encode()
    return Reply(status=status, body=body, headers=headers or {})


def json_reply(status: int, document: Any) -> Reply:
    return Reply(status=status, body=json.dumps(document).encode())


def fake_jpeg(size: int, seed: int = 0) -> bytes:
    """`size` bytes that start and end like a JPEG (SOI ... EOI); the middle is deterministic."""
    size = max(size, 4)
    body = hashlib.shake_256(f"{seed}".encode()).digest(size - 4)
    return b"\xff\xd8" + body + b"\xff\xd9"


@dataclass
class StandinUnlock:
    unlock_id: str
    access_token: str
    cameras: dict[str, int]  # camera id -> snapshot size in bytes
    scope: tuple[str, ...]
    receipt_key: str
    status: str = "active"
    streams: list[StandinStream] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "unlock_id": self.unlock_id,
            "status": self.status,
            "expires_at": "2099-01-01T00:00:00Z",
            "cameras": [
                {"id": camera, "label": f"Camera {n}", "capabilities": ["snapshot", "stream"]}
                for n, camera in enumerate(self.cameras, start=1)
            ],
            "receipt_key": self.receipt_key,
        }


class StandinStream:
    """A `FrameStream` like the real one: frames at `max_fps` until something ends it."""

    content_type = "image/jpeg"

    def __init__(self, *, max_fps: float, frame_bytes: int, seed: int = 0) -> None:
        self._interval = 1.0 / max_fps
        self._frame_bytes = frame_bytes
        self._seed = seed
        self._reason: StreamEnd | None = None
        self._stopped = asyncio.Event()
        self.frames_sent = 0
        self.sent: list[bytes] = []
        self.ended: StreamEnd | None = None
        self.done = asyncio.Event()

    def frame(self, number: int) -> bytes:
        return fake_jpeg(self._frame_bytes, seed=self._seed * 100_000 + number)

    def stop(self, reason: StreamEnd) -> None:
        if self._reason is None:
            self._reason = reason
        self._stopped.set()

    async def run(self, send: SendFrame) -> StreamEnd:
        try:
            reason = await self._pump(send)
        finally:
            self.done.set()
        self.ended = reason
        return reason

    async def _pump(self, send: SendFrame) -> StreamEnd:
        while self._reason is None:
            frame = self.frame(self.frames_sent + 1)
            sending = asyncio.ensure_future(send(frame))
            stopping = asyncio.ensure_future(self._stopped.wait())
            done, _ = await asyncio.wait({sending, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if sending not in done:
                sending.cancel()
                break
            try:
                sending.result()
            except SinkGone:
                return self._reason or StreamEnd.CLIENT_GONE
            except SinkSlow:
                return self._reason or StreamEnd.SLOW_CLIENT
            self.frames_sent += 1
            self.sent.append(frame)
            try:
                async with asyncio.timeout(self._interval):
                    await self._stopped.wait()
            except TimeoutError:
                pass
        assert self._reason is not None
        return self._reason


class StandinRouter:
    def __init__(self, *, max_fps: float = 5.0, frame_bytes: int = 3000) -> None:
        self.max_fps = max_fps
        self.frame_bytes = frame_bytes
        self.requests: list[CityRequest] = []
        self.unlocks: dict[str, StandinUnlock] = {}
        self.unlock_answers: dict[str, Reply] = {}  # token -> the answer to POST /unlocks
        self.streams: list[StandinStream] = []
        self._held: asyncio.Event | None = None
        self.holding = 0  # requests waiting in hold_snapshots()
        self.home = ReceiptHome.generate()  # signs the snapshots' receipts

    # -- scripting ----------------------------------------------------------------------------

    def add_unlock(
        self,
        *,
        cameras: dict[str, int] | None = None,
        scope: tuple[str, ...] = ("snapshot", "stream"),
    ) -> StandinUnlock:
        unlock = StandinUnlock(
            unlock_id=secrets.token_hex(8),
            access_token=secrets.token_urlsafe(24),
            cameras=cameras or {"cam-" + secrets.token_hex(4): 5000},
            scope=scope,
            receipt_key=self.home.public_pem,
        )
        self.unlocks[unlock.unlock_id] = unlock
        return unlock

    def accept_token(self, token: str, unlock: StandinUnlock) -> None:
        document = {**unlock.view(), "access_token": unlock.access_token}
        document.pop("receipt_key")
        self.unlock_answers[token] = json_reply(201, document)

    def decline_token(self, token: str) -> None:
        self.unlock_answers[token] = json_reply(
            201,
            {"unlock_id": secrets.token_hex(8), "status": "declined", "expires_at": "2099-01-01T00:00:00Z"},
        )  # fmt: skip

    def end_unlock(self, unlock: StandinUnlock, reason: StreamEnd = StreamEnd.ENDED) -> None:
        unlock.status = "ended"
        for stream in unlock.streams:
            stream.stop(reason)

    def hold_snapshots(self) -> None:
        """Snapshot requests wait until `release()` (to keep requests busy)."""
        self._held = asyncio.Event()

    def release(self) -> None:
        if self._held is not None:
            self._held.set()
            self._held = None

    # -- the router ---------------------------------------------------------------------------

    async def handle(self, request: CityRequest) -> Answer:
        self.requests.append(request)
        path, method = request.path, request.method
        if path == "/api/v1/health":
            return (
                json_reply(200, {"status": "ok"}) if method == "GET" else self._not_allowed("GET")
            )
        if path == "/api/v1/unlocks":
            return self._unlock(request) if method == "POST" else self._not_allowed("POST")
        if match := UNLOCK.match(path):
            if method not in {"GET", "DELETE"}:
                return self._not_allowed("GET, DELETE")
            unlock = self._authenticate(match["unlock"], request)
            if unlock is None:
                return error(401, "invalid_token")
            if method == "DELETE":
                self.end_unlock(unlock)
                return Reply(status=204, body=b"", content_type="")
            return json_reply(200, unlock.view())
        if match := CAMERA.match(path):
            if method != "GET":
                return self._not_allowed("GET")
            unlock = self._authenticate(match["unlock"], request)
            if unlock is None:
                return error(401, "invalid_token")
            if unlock.status == "ended":
                return error(410, "gone")
            if match["camera"] not in unlock.cameras:
                return error(404, "not_found")
            if match["what"] == "snapshot":
                return await self._snapshot(unlock, match["camera"])
            return self._stream(unlock)
        return error(404, "not_found")

    def _not_allowed(self, allow: str) -> Reply:
        return error(405, "method_not_allowed", {"Allow": allow})

    def _authenticate(self, unlock_id: str, request: CityRequest) -> StandinUnlock | None:
        unlock = self.unlocks.get(unlock_id)
        if unlock is None or not secrets.compare_digest(request.bearer or "", unlock.access_token):
            return None
        return unlock

    def _unlock(self, request: CityRequest) -> Reply:
        try:
            document = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            return error(400, "invalid_request")
        if len(request.body) > 16 * 1024 or not isinstance(document, dict):
            return error(400, "invalid_request")
        token = document.get("token")
        if not isinstance(token, str):
            return error(400, "invalid_request")
        if token == "quota":
            return error(429, "quota_exceeded", {"Retry-After": "3600"})
        return self.unlock_answers.get(token) or error(401, "invalid_token")

    async def _snapshot(self, unlock: StandinUnlock, camera: str) -> Reply:
        if self._held is not None:
            held = self._held
            self.holding += 1
            try:
                await held.wait()
            finally:
                self.holding -= 1
        body = fake_jpeg(unlock.cameras[camera], seed=len(self.requests))
        headers = self.home.headers(body, unlock_id=unlock.unlock_id, camera_id=camera)
        return Reply(status=200, body=body, content_type="image/jpeg", headers=headers)

    def _stream(self, unlock: StandinUnlock) -> Answer:
        if "stream" not in unlock.scope:
            return error(403, "not_active")
        stream = StandinStream(
            max_fps=self.max_fps, frame_bytes=self.frame_bytes, seed=len(self.streams) + 1
        )
        unlock.streams.append(stream)
        self.streams.append(stream)
        answer: FrameStream = stream
        return answer
