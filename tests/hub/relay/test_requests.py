"""PROTOCOL 6 "Request" and "Response": what is dropped, what is answered by the relay, what
reaches the router; Correlation Data, `status`, the named headers, Content Type, parts; 16 at
once; floods and bad input never crash the relay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiomqtt
import pytest

from rtcc_hub.relay import DropReason, RelaySettings
from tests.support.raw_city import RawCity
from tests.support.relay_fixtures import RecordingObserver, StartRelay, eventually
from tests.support.standin_router import StandinRouter


@pytest.fixture
async def raw(raw_city: aiomqtt.Client, home_id: str) -> AsyncIterator[RawCity]:
    city = RawCity(raw_city, home_id)
    await city.listen()
    yield city
    await city.close()


async def still_answers(raw: RawCity) -> None:
    await raw.send(correlation=b"alive?")
    [answer] = await raw.collect(b"alive?")
    assert answer.get("status") == "200"


async def test_answer_carries_correlation_status_and_content_type(
    start_relay: StartRelay, raw: RawCity
) -> None:
    await start_relay()
    await raw.send(correlation=b"\x00\xffbinary")
    [answer] = await raw.collect(b"\x00\xffbinary")
    assert answer.topic == raw.response_topic
    assert answer.get("status") == "200"
    assert answer.content_type == "application/json"
    assert json.loads(answer.payload) == {"status": "ok"}
    assert "part" not in answer.props


async def test_router_gets_the_request_with_the_relay_as_client_and_its_hub_only(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    relay = await start_relay()
    body = json.dumps({"token": "abc"}).encode()
    await raw.send(
        method="POST",
        path="/api/v1/unlocks",
        body=body,
        content_type="application/json",
        authorization="Bearer xyz",
        correlation=b"p",
    )
    [answer] = await raw.collect(b"p")
    assert answer.get("status") == "401"
    [request] = router.requests
    assert (request.method, request.path, request.body) == ("POST", "/api/v1/unlocks", body)
    assert request.authorization == "Bearer xyz"
    assert request.only_hub == relay.config.hub
    assert request.client == relay.identity.client
    assert relay.config.url in request.client  # one key per relay, the same for every request


async def test_named_headers_are_lower_case_user_properties(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 1000})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    await raw.send(path=path, authorization=f"Bearer {unlock.access_token}", correlation=b"s")
    [snap] = await raw.collect(b"s")
    assert snap.content_type == "image/jpeg"
    assert snap.get(
        "repr-digest",
    ) and snap.get("repr-digest").startswith("sha-256=:")  # type: ignore[union-attr]
    assert (snap.get("rtcc-receipt") or "").count(".") == 2  # a compact JWS, as signed
    assert not any(name != name.lower() for name, _ in snap.user)
    await raw.send(
        method="POST", path="/api/v1/unlocks", body=b'{"token": "quota"}', correlation=b"q"
    )
    [quota] = await raw.collect(b"q")
    assert (quota.get("status"), quota.get("retry-after")) == ("429", "3600")
    assert json.loads(quota.payload)["error"] == "quota_exceeded"


async def test_empty_body_answers_are_one_empty_message(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock()
    await raw.send(
        method="DELETE",
        path=f"/api/v1/unlocks/{unlock.unlock_id}",
        authorization=f"Bearer {unlock.access_token}",
        correlation=b"d",
    )
    [answer] = await raw.collect(b"d")
    assert (answer.get("status"), answer.payload) == ("204", b"")


@pytest.mark.parametrize("size", [1024, 1025, 5000, 4096])
async def test_bodies_larger_than_max_message_bytes_come_in_parts(
    size: int, start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay(max_message_bytes=1024)
    unlock = router.add_unlock(cameras={"cam": size})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    await raw.send(path=path, authorization=f"Bearer {unlock.access_token}", correlation=b"big")
    messages = await raw.collect(b"big")
    expected = -(-size // 1024)
    assert len(messages) == expected
    assert all(len(m.payload) <= 1024 for m in messages)
    body = b"".join(m.payload for m in messages)
    assert len(body) == size and body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9"
    if expected == 1:
        assert "part" not in messages[0].props and "parts" not in messages[0].props
    else:
        assert [m.get("part") for m in messages] == [str(n) for n in range(1, expected + 1)]
        assert {m.get("parts") for m in messages} == {str(expected)}
        assert {m.get("status") for m in messages} == {"200"}
        assert {m.get("repr-digest") for m in messages} == {messages[0].get("repr-digest")}


async def test_default_max_message_bytes_is_131072(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    relay = await start_relay()
    assert relay.config.max_message_bytes == 131072
    unlock = router.add_unlock(cameras={"cam": 131073})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    await raw.send(path=path, authorization=f"Bearer {unlock.access_token}", correlation=b"b")
    messages = await raw.collect(b"b")
    assert [len(m.payload) for m in messages] == [131072, 1]


# -- dropped: not acted on, not answered, reported ---------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"response_topic": None}, DropReason.NO_RESPONSE_TOPIC),
        ({"correlation": None}, DropReason.NO_CORRELATION_DATA),
        ({"correlation": b"x" * 65}, DropReason.BAD_CORRELATION_DATA),
        (
            {"response_topic": "rtcc/v1/homes/other-home/responses/x"},
            DropReason.FOREIGN_RESPONSE_TOPIC,
        ),
        ({"response_topic": "elsewhere/responses"}, DropReason.FOREIGN_RESPONSE_TOPIC),
        ({"response_topic": "HOME/responses/"}, DropReason.FOREIGN_RESPONSE_TOPIC),
        ({"response_topic": "HOME/responses"}, DropReason.FOREIGN_RESPONSE_TOPIC),
        ({"response_topic": "HOME/status"}, DropReason.FOREIGN_RESPONSE_TOPIC),
        ({"response_topic": "HOME/requests"}, DropReason.FOREIGN_RESPONSE_TOPIC),
        # (A Response Topic with a wildcard never arrives: brokers refuse such a PUBLISH as
        # malformed; test_wire covers the home's own check.)
        ({"response_topic": "HOME/responses/" + "x" * 2000}, DropReason.FOREIGN_RESPONSE_TOPIC),
        (
            {"response_topic": "rtcc/v1/homes/HOMEID-not/responses/x"},
            DropReason.FOREIGN_RESPONSE_TOPIC,
        ),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_requests_without_a_valid_response_topic_or_correlation_are_dropped(
    overrides: dict[str, object],
    reason: DropReason,
    start_relay: StartRelay,
    raw: RawCity,
    router: StandinRouter,
    observer: RecordingObserver,
    home_id: str,
) -> None:
    await start_relay()
    topic = overrides.get("response_topic")
    if isinstance(topic, str):
        overrides = {
            **overrides,
            "response_topic": topic.replace("HOMEID", home_id).replace(
                "HOME", f"rtcc/v1/homes/{home_id}"
            ),
        }
    await raw.send(method="DELETE", path="/api/v1/unlocks/x", **overrides)  # type: ignore[arg-type]
    await eventually(lambda: observer.dropped() == [reason])
    await raw.silence(quiet_s=0.5)
    assert router.requests == []
    await still_answers(raw)


@pytest.mark.parametrize("size", [1, 64])
async def test_correlation_data_of_1_to_64_bytes_is_answered(
    size: int, start_relay: StartRelay, raw: RawCity
) -> None:
    await start_relay()
    await raw.send(correlation=b"\x07" * size)
    [answer] = await raw.collect(b"\x07" * size)
    assert answer.get("status") == "200"


# -- answered by the relay itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [
        ([("path", "/api/v1/health")], "400", "invalid_request"),
        ([("method", "GET")], "400", "invalid_request"),
        ([], "400", "invalid_request"),
        ([("method", ""), ("path", "/api/v1/health")], "400", "invalid_request"),
        (
            [("method", "GET"), ("method", "GET"), ("path", "/api/v1/health")],
            "400",
            "invalid_request",
        ),
        (
            [("method", "GET"), ("path", "/api/v1/health"), ("path", "/api/v1/health")],
            "400",
            "invalid_request",
        ),
        ([("method", "GET"), ("path", "/api/v1/health?x=1")], "400", "invalid_request"),
        ([("method", "GET"), ("path", "/api/v1/health#x")], "400", "invalid_request"),
        ([("method", "GET"), ("path", "api/v1/health")], "400", "invalid_request"),
        ([("method", "GET"), ("path", "/api/v1/hea lth")], "400", "invalid_request"),
        ([("method", "GET"), ("path", "/" + "a" * 3000)], "400", "invalid_request"),
        (
            [
                ("method", "GET"),
                ("path", "/api/v1/health"),
                ("authorization", "a"),
                ("authorization", "b"),
            ],
            "400",
            "invalid_request",
        ),
        ([("method", "get"), ("path", "/api/v1/health")], "405", "method_not_allowed"),
        ([("method", "PUT"), ("path", "/api/v1/health")], "405", "method_not_allowed"),
        ([("method", "PATCH"), ("path", "/api/v1/unlocks")], "405", "method_not_allowed"),
        ([("Method", "GET"), ("Path", "/api/v1/health")], "400", "invalid_request"),
    ],
    ids=lambda value: repr(value)[:50],
)
async def test_malformed_user_properties_are_answered_and_never_reach_the_router(
    user: list[tuple[str, str]],
    status: str,
    code: str,
    start_relay: StartRelay,
    raw: RawCity,
    router: StandinRouter,
) -> None:
    await start_relay()
    await raw.send(user=user, correlation=b"bad")
    [answer] = await raw.collect(b"bad")
    assert answer.get("status") == status
    assert answer.content_type == "application/json"
    document = json.loads(answer.payload)
    assert document["error"] == code and isinstance(document["message"], str)
    assert router.requests == []
    await still_answers(raw)


async def test_unknown_user_properties_are_ignored(start_relay: StartRelay, raw: RawCity) -> None:
    await start_relay()
    await raw.send(
        user=[("method", "GET"), ("x-trace", "1"), ("path", "/api/v1/health")], correlation=b"u"
    )
    [answer] = await raw.collect(b"u")
    assert answer.get("status") == "200"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing", "404"),
        ("GET", "/control/v1/state", "404"),
        ("DELETE", "/api/v1/health", "405"),
        ("GET", "/api/v1/unlocks", "405"),
    ],
)
async def test_unknown_paths_and_methods_get_the_routers_answer(
    method: str,
    path: str,
    status: str,
    start_relay: StartRelay,
    raw: RawCity,
    router: StandinRouter,
) -> None:
    await start_relay()
    await raw.send(method=method, path=path, correlation=b"r")
    [answer] = await raw.collect(b"r")
    assert answer.get("status") == status
    assert "allow" not in answer.props  # only the headers section 3 and 7 name are relayed
    assert len(router.requests) == 1


# -- limits -------------------------------------------------------------------------------------


async def test_at_most_16_requests_at_once_then_429_busy(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    router.hold_snapshots()
    for n in range(20):
        await raw.send(
            path=path, authorization=f"Bearer {unlock.access_token}", correlation=b"h%d" % n
        )
    await eventually(lambda: router.holding == 16)
    busy = [await raw.collect(b"h%d" % n) for n in range(16, 20)]
    for [answer] in busy:
        assert answer.get("status") == "429"
        assert json.loads(answer.payload)["error"] == "busy"
    assert router.holding == 16 and len(router.requests) == 16
    router.release()
    for n in range(16):
        [answer] = await raw.collect(b"h%d" % n)
        assert answer.get("status") == "200"
    await still_answers(raw)


async def test_open_streams_do_not_count_against_the_16(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    stream = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/stream"
    for n in range(17):
        await raw.send(
            path=stream, authorization=f"Bearer {unlock.access_token}", correlation=b"s%d" % n
        )
    for n in range(17):
        await raw.wait_for(b"s%d" % n, lambda m: m.get("frame") == "1")
    await raw.send(
        path=f"/api/v1/unlocks/{unlock.unlock_id}",
        authorization=f"Bearer {unlock.access_token}",
        correlation=b"status",
    )
    [answer] = await raw.collect(b"status")
    assert answer.get("status") == "200"


async def test_a_flood_is_answered_or_dropped_never_a_crash(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter, observer: RecordingObserver
) -> None:
    relay = await start_relay(settings=RelaySettings(busy_backlog=8))
    unlock = router.add_unlock(cameras={"cam": 100})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    router.hold_snapshots()
    sends = [
        raw.send(path=path, authorization=f"Bearer {unlock.access_token}", correlation=b"f%d" % n)
        for n in range(300)
    ]
    sends += [raw.send(response_topic=None, correlation=b"n%d" % n) for n in range(300)]
    await asyncio.gather(*sends)
    await eventually(lambda: len(observer.dropped()) >= 300, within=20)
    router.release()
    await asyncio.sleep(1.0)
    answered = {m.correlation for m in raw.received}
    flood = observer.dropped().count(DropReason.FLOOD)
    busy = sum(1 for m in raw.received if m.get("status") == "429")
    assert len(router.requests) == 16
    assert busy + flood == 300 - 16
    assert len([c for c in answered if c and c.startswith(b"f")]) == 300 - flood
    assert relay.connected
    await still_answers(raw)


async def test_oversized_requests_never_reach_the_home(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    relay = await start_relay()
    # Past the relay's Maximum Packet Size the broker does not deliver at all.
    await raw.send(
        method="POST", path="/api/v1/unlocks", body=b"{" * (200 * 1024), correlation=b"huge"
    )
    await raw.silence(quiet_s=1.0)
    assert router.requests == []
    assert relay.connected
    # Below it, a too-large unlock body reaches the router, which refuses it like over HTTP.
    await raw.send(
        method="POST", path="/api/v1/unlocks", body=b" " * (20 * 1024), correlation=b"big"
    )
    [answer] = await raw.collect(b"big")
    assert answer.get("status") in {"400", "413"}
    await still_answers(raw)


async def test_a_router_failure_is_a_500_and_the_relay_goes_on(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    async def broken(request: object) -> object:
        raise RuntimeError("boom")

    relay = await start_relay()
    relay._handler = broken  # type: ignore[assignment]
    await raw.send(correlation=b"x")
    [answer] = await raw.collect(b"x")
    assert answer.get("status") == "500"
    assert json.loads(answer.payload) == {"error": "internal_error", "message": "Internal error."}
    relay._handler = router.handle
    await still_answers(raw)


async def test_a_repeated_request_in_progress_is_answered_once(
    start_relay: StartRelay, raw: RawCity, router: StandinRouter
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 100})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    router.hold_snapshots()
    for _ in range(3):
        await raw.send(path=path, authorization=f"Bearer {unlock.access_token}", correlation=b"dup")
    await eventually(lambda: router.holding == 1)
    router.release()
    await raw.collect(b"dup")
    await raw.silence(quiet_s=0.5)
    assert len(raw.of(b"dup")) == 1 and len(router.requests) == 1


async def test_a_retained_request_is_never_acted_on(
    start_relay: StartRelay,
    raw: RawCity,
    router: StandinRouter,
    observer: RecordingObserver,
    home_id: str,
) -> None:
    """The broker replays a retained request to every new subscription: at each reconnect it
    would be a request delivered late."""
    from paho.mqtt.packettypes import PacketTypes

    from rtcc_hub.relay.mqtt import new_properties

    properties = new_properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = raw.response_topic
    properties.CorrelationData = b"kept"
    properties.UserProperty = [("method", "POST"), ("path", "/api/v1/unlocks")]
    # (A retained message needs a payload: an empty one deletes what the topic retains.)
    body = b'{"token": "quota"}'
    await raw.client.publish(raw.requests_topic, body, qos=1, retain=True, properties=properties)
    try:
        await start_relay()
        await eventually(lambda: observer.dropped() == [DropReason.RETAINED])
        await raw.silence(quiet_s=0.5)
        assert router.requests == []
    finally:
        await raw.client.publish(raw.requests_topic, b"", qos=1, retain=True)  # clears it
