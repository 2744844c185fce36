"""The relay's pure decisions: response topics, request reading, parts, end names, repeats."""

from __future__ import annotations

import pytest

from rtcc_hub.carriage import CityRequest, Method, Reply, StreamEnd
from rtcc_hub.relay.exchanges import Repeat, classify_repeat
from rtcc_hub.relay.observer import DropReason
from rtcc_hub.relay.topics import HomeTopics
from rtcc_hub.relay.wire import (
    Accepted,
    Answered,
    Dropped,
    Incoming,
    end_name,
    frame_messages,
    read_request,
    reply_messages,
)

TOPICS = HomeTopics("rtcc/v1", "h1")


def incoming(**kw: object) -> Incoming:
    base: dict[str, object] = {
        "response_topic": "rtcc/v1/homes/h1/responses/x",
        "correlation": b"c",
        "user_properties": [("method", "GET"), ("path", "/api/v1/health")],
        "payload": b"",
    }
    base.update(kw)
    return Incoming(**base)  # type: ignore[arg-type]


def test_topics() -> None:
    assert TOPICS.status == "rtcc/v1/homes/h1/status"
    assert TOPICS.requests == "rtcc/v1/homes/h1/requests"
    assert TOPICS.responses == "rtcc/v1/homes/h1/responses/"


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("rtcc/v1/homes/h1/responses/a", True),
        ("rtcc/v1/homes/h1/responses/a/b/c", True),
        ("rtcc/v1/homes/h1/responses/", False),
        ("rtcc/v1/homes/h1/responses", False),
        ("rtcc/v1/homes/h1/responses/+", False),
        ("rtcc/v1/homes/h1/responses/a/#", False),
        ("rtcc/v1/homes/h1/responses/a\x00", False),
        ("rtcc/v1/homes/h2/responses/a", False),
        ("rtcc/v1/homes/h1x/responses/a", False),
        ("rtcc/v1/homes/h1/status", False),
        ("rtcc/v1/homes/h1/responses/" + "x" * 1024, False),
        (None, False),
    ],
)
def test_response_topic_must_be_strictly_under_the_homes_responses(
    topic: str | None, ok: bool
) -> None:
    assert TOPICS.is_response_topic(topic) is ok


def test_accepted_request_carries_client_and_hub() -> None:
    decision = read_request(
        incoming(
            user_properties=[
                ("method", "POST"),
                ("path", "/api/v1/unlocks"),
                ("authorization", "Bearer t"),
            ],
            payload=b"{}",
        ),
        TOPICS,
        client="relay:k",
        hub="hub-a",
    )
    assert isinstance(decision, Accepted)
    assert decision.request == CityRequest(
        method=Method.POST,
        path="/api/v1/unlocks",
        body=b"{}",
        authorization="Bearer t",
        client="relay:k",
        only_hub="hub-a",
    )


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"response_topic": None}, DropReason.NO_RESPONSE_TOPIC),
        ({"retained": True}, DropReason.RETAINED),
        ({"response_topic": "x"}, DropReason.FOREIGN_RESPONSE_TOPIC),
        ({"correlation": None}, DropReason.NO_CORRELATION_DATA),
        ({"correlation": b""}, DropReason.BAD_CORRELATION_DATA),
        ({"correlation": b"x" * 65}, DropReason.BAD_CORRELATION_DATA),
    ],
)
def test_drops(kw: dict[str, object], reason: DropReason) -> None:
    assert read_request(incoming(**kw), TOPICS, client="k", hub="h") == Dropped(reason)


@pytest.mark.parametrize(
    ("user", "status"),
    [
        ([("method", "GET"), ("path", "/api/v1/\x01")], 400),
        ([("method", "GET"), ("path", "/api/v1/health"), ("authorization", "a\r\nb")], 400),
        ([("method", "GET"), ("path", "/a\u00e9")], 400),
        ([("method", "OPTIONS"), ("path", "/api/v1/health")], 405),
    ],
)
def test_answered_by_the_relay(user: list[tuple[str, str]], status: int) -> None:
    decision = read_request(incoming(user_properties=user), TOPICS, client="k", hub="h")
    assert isinstance(decision, Answered)
    assert decision.reply.status == status
    assert decision.correlation == b"c"


def test_reply_split_in_parts_and_headers_lower_case() -> None:
    reply = Reply(
        200,
        b"abcdefghij",
        "image/jpeg",
        {"Repr-Digest": "d", "RTCC-Receipt": "r", "Allow": "GET", "Retry-After": "5"},
    )
    messages = reply_messages(reply, 4)
    assert [m.payload for m in messages] == [b"abcd", b"efgh", b"ij"]
    assert messages[0].user_properties == (
        ("status", "200"), ("retry-after", "5"), ("repr-digest", "d"), ("rtcc-receipt", "r"), ("part", "1"), ("parts", "3"),
    )  # fmt: skip
    assert all(m.content_type == "image/jpeg" for m in messages)
    assert reply_messages(Reply(204, b"", ""), 4)[0].content_type is None
    assert reply_messages(Reply(200, b"abcd"), 4)[0].user_properties == (("status", "200"),)


def test_frame_messages() -> None:
    [one] = frame_messages(b"xy", 7, "image/jpeg", 10)
    assert one.user_properties == (("status", "200"), ("frame", "7"))
    parts = frame_messages(b"x" * 25, 2, "image/jpeg", 10)
    assert [dict(m.user_properties)["part"] for m in parts] == ["1", "2", "3"]
    assert {dict(m.user_properties)["frame"] for m in parts} == {"2"}


def test_end_names() -> None:
    named = {
        StreamEnd.EXPIRED: "expired", StreamEnd.ENDED: "ended", StreamEnd.SUSPENDED: "suspended",
        StreamEnd.CAMERA_REMOVED: "camera_removed", StreamEnd.CANCELLED: "cancelled",
        StreamEnd.UNWATCHED: "unwatched", StreamEnd.LEASE_EXPIRED: "lease_expired",
    }  # fmt: skip
    for reason, name in named.items():
        assert end_name(reason) == name
    assert end_name(StreamEnd.CLIENT_GONE) is None
    assert end_name(StreamEnd.SHUTDOWN) == "shutdown"
    assert all(end_name(reason) != "" for reason in StreamEnd)


def test_repeats() -> None:
    get = CityRequest(method=Method.GET, path="/s", authorization="Bearer a")
    assert classify_repeat(get, get) == Repeat.RENEWAL
    assert classify_repeat(get, CityRequest(method=Method.DELETE, path="/s")) == Repeat.CANCEL
    assert classify_repeat(get, CityRequest(method=Method.DELETE, path="/t")) == Repeat.CONFLICT
    assert (
        classify_repeat(get, CityRequest(method=Method.GET, path="/s", authorization="Bearer b"))
        == Repeat.CONFLICT
    )
    post = CityRequest(method=Method.POST, path="/s")
    assert classify_repeat(post, CityRequest(method=Method.DELETE, path="/s")) == Repeat.CONFLICT
