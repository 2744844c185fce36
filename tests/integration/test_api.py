"""The control API client: answers a real add-on never gives, from a loopback stand-in.

The client's contract: whatever the add-on (or something else at its address) answers, the
caller gets a typed RtccShareError, never a KeyError or a half-built object.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from custom_components.rtcc_share.api import (
    Policy,
    RtccShareAuthError,
    RtccShareCameraUnavailableError,
    RtccShareClient,
    RtccShareConflictError,
    RtccShareConnectionError,
    RtccShareError,
    RtccShareInvalidPolicyError,
    RtccShareInvalidRequestError,
    RtccShareNotFoundError,
    UnlockStatus,
)
from tests.support.hub_process import free_port

from .fake_addon import FakeAddon, fake_addon, json_answer, state_document, text_answer

TOKEN = "fake-control-token"
TS = "2026-11-23T12:00:00Z"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAddon]:
    """The stand-in add-on."""
    async with fake_addon() as addon:
        yield addon


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session of the test's own."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _client(fake: FakeAddon, session: aiohttp.ClientSession, **kwargs: Any) -> RtccShareClient:
    return RtccShareClient(fake.url, TOKEN, session, **kwargs)


def _malformed_state(**changes: Any) -> dict[str, Any]:
    document = state_document()
    document.update(changes)
    return document


@pytest.mark.parametrize(
    "answer",
    [
        json_answer([]),  # a list, not an object
        json_answer({"home_id": "h"}),  # no policy
        json_answer(_malformed_state(policy={"consent": True, "paused_until": 5})),
        json_answer(_malformed_state(policy={"consent": True, "paused_until": "tomorrow"})),
        json_answer(_malformed_state(unlocks=[{"unlock_id": "u_1"}])),  # no hub, no status
        json_answer(_malformed_state(counters={"bytes_sent": "many"})),
        text_answer("<html>a captive portal</html>", content_type="text/html"),
        text_answer(""),  # 200 without a body
    ],
)
async def test_malformed_state_is_an_error(
    fake: FakeAddon, session: aiohttp.ClientSession, answer: Any
) -> None:
    """A 200 that is not a state document raises the base error, not a KeyError."""
    fake.set("GET", "/state", answer)
    with pytest.raises(RtccShareError) as err:
        await _client(fake, session).state()
    # Not a connection or auth problem: the integration reports it as an unknown answer.
    assert type(err.value) is RtccShareError
    assert err.value.code is None


async def test_well_formed_state_and_bearer_token(
    fake: FakeAddon, session: aiohttp.ClientSession
) -> None:
    """The stand-in's good answer parses, and the token goes in the Authorization header."""
    fake.set("GET", "/state", json_answer(state_document(paused_until=TS)))
    state = await _client(fake, session).state()
    assert state.home_id == "fake-home"
    assert state.policy.paused_until is not None
    assert state.policy.paused_until.isoformat() == "2026-11-23T12:00:00+00:00"
    assert state.counters.bytes_sent == 0
    assert fake.requests == [("GET", "/control/v1/state", f"Bearer {TOKEN}", None)]


async def test_base_url_with_a_path(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """An add-on behind a reverse proxy path keeps the path; unlock ids stay one segment."""
    fake.prefix = "/prefix"
    fake.set("POST", "/unlocks/{id}/revoke", json_answer({}))
    client = RtccShareClient(fake.url + "/prefix/", TOKEN, session)
    with pytest.raises(RtccShareNotFoundError):
        await client.revoke("u_1/../../revoke_all")
    assert fake.requests[0][1] == "/prefix/control/v1/unlocks/u_1%2F..%2F..%2Frevoke_all/revoke"


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "message"),
    [
        (401, {"error": "unauthorized", "message": "Bad token."}, RtccShareAuthError,
         "unauthorized", "Bad token."),
        (403, "Forbidden", RtccShareAuthError, None, "Forbidden"),
        (400, {"error": "invalid_policy", "message": "label: too long"},
         RtccShareInvalidPolicyError, "invalid_policy", "label: too long"),
        (400, {"error": "invalid_request", "message": "Not JSON."}, RtccShareInvalidRequestError,
         "invalid_request", "Not JSON."),
        (400, {"error": "bad", "message": "Odd."}, RtccShareError, "bad", "Odd."),
        (503, {"error": "camera_unavailable", "message": "No image."},
         RtccShareCameraUnavailableError, "camera_unavailable", "No image."),
        (404, {"error": "not_found", "message": "No such unlock."}, RtccShareNotFoundError,
         "not_found", "No such unlock."),
        (409, {"error": "conflict", "message": "The unlock is active."}, RtccShareConflictError,
         "conflict", "The unlock is active."),
        (500, {"error": "internal", "message": "Oops."}, RtccShareConnectionError, "internal",
         "Oops."),
        (502, "Bad gateway", RtccShareConnectionError, None, "Bad gateway"),
        (418, ["not", "an", "object"], RtccShareError, None, '["not", "an", "object"]'),
        (418, {"error": 5, "message": 7}, RtccShareError, None, '{"error": 5, "message": 7}'),
        (418, "", RtccShareError, None, "HTTP 418"),
    ],
)  # fmt: skip
async def test_error_answers(
    fake: FakeAddon,
    session: aiohttp.ClientSession,
    status: int,
    body: Any,
    error: type[RtccShareError],
    code: str | None,
    message: str,
) -> None:
    """Each error status maps to its exception, carrying the add-on's code and message."""
    answer = text_answer(body, status) if isinstance(body, str) else json_answer(body, status)
    fake.set("POST", "/unlocks/u_1/approve", answer)
    with pytest.raises(RtccShareError) as err:
        await _client(fake, session).approve("u_1")
    assert type(err.value) is error
    assert err.value.code == code
    assert err.value.message == message


async def test_unlock_action_answers(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """The unlock comes back typed; anything else is an unexpected answer."""
    unlock = {
        "unlock_id": "u_1",
        "hub": "jackson-rtcc",
        "hub_name": "Jackson RTCC",
        "incident": {"id": "I-1", "offense": "burglary"},
        "status": "declined",
        "cameras": [],
    }
    fake.set("POST", "/unlocks/u_1/decline", json_answer(unlock))
    fake.set("POST", "/unlocks/u_1/revoke", json_answer(["u_1"]))
    client = _client(fake, session)
    declined = await client.decline("u_1")
    assert (declined.unlock_id, declined.status, declined.hub_name) == (
        "u_1",
        UnlockStatus.DECLINED,
        "Jackson RTCC",
    )
    with pytest.raises(RtccShareError) as err:
        await client.revoke("u_1")
    assert type(err.value) is RtccShareError


async def test_malformed_history_and_verify(
    fake: FakeAddon, session: aiohttp.ClientSession
) -> None:
    """History entries and the verify answer are checked too."""
    client = _client(fake, session)
    entry = {"seq": 1, "ts": TS, "event": "service_started", "detail": {"version": "1"}}
    fake.set("GET", "/history", json_answer([entry]))
    page = await client.history(0, 10)
    assert [e.seq for e in page] == [1]
    assert fake.requests[-1][1] == "/control/v1/history?after=0&limit=10"

    for bad in (
        [entry | {"ts": None}],  # an entry without a time
        [entry | {"ts": "2026-11-23T12:00:00"}],  # a time without an offset
        [entry | {"seq": "one"}],
        [entry | {"detail": ["not", "an", "object"]}],
        {"entries": [entry]},  # not the bare array PROTOCOL section 4 describes
        None,
    ):
        fake.set("GET", "/history", json_answer(bad))
        with pytest.raises(RtccShareError) as err:
            await client.history()
        assert type(err.value) is RtccShareError, bad

    fake.set("GET", "/audit/verify", json_answer({"ok": True, "entries": 1, "head": "00"}))
    verified = await client.verify()
    assert (verified.ok, verified.entries, verified.head, verified.first_bad_seq) == (
        True,
        1,
        "00",
        None,
    )
    fake.set("GET", "/audit/verify", json_answer([True]))
    with pytest.raises(RtccShareError) as err:
        await client.verify()
    assert type(err.value) is RtccShareError


async def test_unreachable_and_unusable_urls(session: aiohttp.ClientSession) -> None:
    """Nothing listening, or a URL aiohttp cannot use: a connection error."""
    closed = RtccShareClient(f"http://127.0.0.1:{free_port()}", TOKEN, session)
    with pytest.raises(RtccShareConnectionError):
        await closed.state()
    with pytest.raises(RtccShareConnectionError):
        await closed.events(0)
    with pytest.raises(RtccShareConnectionError):
        await RtccShareClient("http:///no-host", TOKEN, session).revoke_all()


async def test_request_timeout(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """An add-on that does not answer in time is a connection error with a readable reason."""
    answered = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        await answered.wait()
        return web.json_response({})

    fake.set("POST", "/revoke_all", stall)
    with pytest.raises(RtccShareConnectionError) as err:
        await _client(fake, session, request_timeout=0.2).revoke_all()
    answered.set()
    assert err.value.message  # TimeoutError has no text of its own; the type name is used


def _sse_answer(*chunks: bytes, hold: asyncio.Event | None = None) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
        if hold is not None:
            await hold.wait()
        await response.write_eof()
        return response

    return answer


async def test_event_stream_parsing(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """Comments and other events are skipped, data lines join, bad data is an error, EOF ends."""
    fake.set(
        "GET",
        "/events",
        _sse_answer(
            b": connected\n\n",
            b'event: other\ndata: {"seq": 99}\n\n',  # not an audit entry
            b"\n",  # a blank line with nothing collected
            b'id: 1\nevent: audit\ndata: {"seq": 1, "ts": "' + TS.encode() + b'",\n'
            b'data: "event": "policy_changed", "detail": {"revision": 2}}\n\n',
            b': keepalive\r\n\r\ndata:{"seq": 2, "ts": "' + TS.encode() + b'", '
            b'"event": "unlock_status", "unlock_id": "u_1", "hub": "h", "detail": null}\r\n\r\n',
            b"data: not json\n\n",
            b'data: {"seq": 3}\n\n',  # no ts, no event
        ),
    )
    stream = await _client(fake, session).events(7)
    assert fake.requests[0][1] == "/control/v1/events?after=7"
    try:
        first = await anext(stream)
        assert (first.seq, first.event, first.detail) == (1, "policy_changed", {"revision": 2})
        second = await anext(stream)
        assert (second.seq, second.unlock_id, second.hub, second.detail) == (2, "u_1", "h", {})
        for _ in range(2):
            with pytest.raises(RtccShareError) as err:
                await anext(stream)
            assert type(err.value) is RtccShareError
        assert [entry async for entry in stream] == []  # the add-on hung up
    finally:
        stream.close()


async def test_event_stream_errors(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """A refused token is an auth error; a silent stream times out as a connection error."""
    fake.set("GET", "/events", json_answer({"error": "unauthorized", "message": "No."}, 401))
    with pytest.raises(RtccShareAuthError):
        await _client(fake, session).events(0)

    hold = asyncio.Event()
    fake.set("GET", "/events", _sse_answer(b": connected\n\n", hold=hold))
    stream = await _client(fake, session, events_read_timeout=0.2).events(0)
    try:
        with pytest.raises(RtccShareConnectionError):
            await anext(stream)
    finally:
        stream.close()
        hold.set()


def test_policy_round_trip_keeps_what_it_does_not_know() -> None:
    """A newer add-on's keys are written back as they were; labels follow PROTOCOL 2."""
    document = state_document()["policy"] | {"future_key": {"x": 1}, "revision": 7}
    document["cameras"] = [
        {"entity_id": "camera.a", "label": None, "share": True, "max_width": 640},
        {"entity_id": "camera.b", "label": " B ", "recorder": {"source": "frigate", "camera": "b"}},
        {"entity_id": "camera.c", "label": "\u200b\t"},
    ]
    policy = Policy.from_dict(document)
    out = policy.as_document()
    assert out["future_key"] == {"x": 1}
    assert "revision" not in out
    assert out["cameras"][1]["recorder"] == {"source": "frigate", "camera": "b"}
    assert [policy.public_label(c) for c in policy.cameras] == ["Camera 1", "B", "Camera 3"]
    assert policy.label_of("camera.nowhere") is None
    assert Policy.from_dict(out | {"revision": 7}) == policy


async def test_state_names_hubs_and_relays(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """Hub names from the `hubs` list, the relays and the unlocks; relays typed."""
    document = state_document()
    document["hubs"] = [{"id": "a", "name": "A city"}, {"id": "b"}]
    document["relays"] = [
        {"hub": "c", "url": "mqtts://x", "connected": False, "since": TS, "last_error": "down",
         "hub_name": "C city"},
    ]  # fmt: skip
    fake.set("GET", "/state", json_answer(document))
    state = await _client(fake, session).state()
    assert state.hub_names == {"a": "A city", "c": "C city"}
    (relay,) = state.relays
    assert (relay.connected, relay.last_error) == (False, "down")
    assert state.unlock("u_none") is None


async def test_preview(fake: FakeAddon, session: aiohttp.ClientSession) -> None:
    """The body sent, and an answer that is not a JPEG is refused."""

    async def jpeg(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\xff\xd8rest", content_type="image/jpeg")

    fake.set("POST", "/preview", jpeg)
    client = _client(fake, session)
    assert await client.preview("camera.a") == b"\xff\xd8rest"
    masks = (((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),)
    await client.preview("camera.a", masks=masks, max_width=None, max_width_given=True)
    assert fake.requests[0][3] == {"entity_id": "camera.a"}
    assert fake.requests[1][3] == {
        "entity_id": "camera.a",
        "masks": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]],
        "max_width": None,
    }
    fake.set("POST", "/preview", text_answer("not an image"))
    with pytest.raises(RtccShareError) as err:
        await client.preview("camera.a")
    assert type(err.value) is RtccShareError
