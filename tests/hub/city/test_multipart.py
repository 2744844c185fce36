"""The MJPEG parser: parts survive any split of the byte stream, with or without lengths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcc_hub.city.multipart import MultipartError, MultipartParser, parse_boundary

BOUNDARY = "frame"
# Bodies that contain boundary look-alikes and CRLFs, as binary JPEG data may.
BODIES = [
    b"\xff\xd8first\xff\xd9",
    b"--frame is not at a line start\r\n-",
    b"\xff\xd8" + bytes(300),
]


def _stream(bodies: list[bytes], *, lengths: bool, closing: bool = True) -> bytes:
    out = b"preamble\r\n"
    for body in bodies:
        out += f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n".encode()
        if lengths:
            out += f"Content-Length: {len(body)}\r\n".encode()
        out += b"\r\n" + body + b"\r\n"
    if closing:
        out += f"--{BOUNDARY}--\r\n".encode()
    return out


def _feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[bytes], MultipartParser]:
    parser = MultipartParser(BOUNDARY)
    bodies: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        bodies.extend(part.body for part in parser.feed(data[start:cut]))
        start = cut
    return bodies, parser


@pytest.mark.parametrize("lengths", [True, False])
def test_byte_by_byte(lengths: bool) -> None:
    data = _stream(BODIES, lengths=lengths)
    bodies, parser = _feed_in_pieces(data, list(range(1, len(data))))
    assert bodies == BODIES
    assert parser.finished


@settings(max_examples=200, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    lengths=st.booleans(),
)
def test_any_split_gives_the_same_parts(cuts: list[int], lengths: bool) -> None:
    data = _stream(BODIES, lengths=lengths)
    bodies, parser = _feed_in_pieces(data, [c for c in cuts if c <= len(data)])
    assert bodies == BODIES
    assert parser.finished


def test_boundary_split_across_reads_emits_only_when_complete() -> None:
    parser = MultipartParser(BOUNDARY)
    assert parser.feed(b"--fra") == []
    assert parser.feed(b"me\r\nContent-Type: image/jpeg\r\n\r\nAB\r\n--fr") == []
    parts = parser.feed(b"ame\r\n")
    assert [(p.content_type, p.body) for p in parts] == [("image/jpeg", b"AB")]


def test_unterminated_stream_keeps_waiting() -> None:
    parser = MultipartParser(BOUNDARY)
    parts = parser.feed(_stream([b"one", b"two"], lengths=False, closing=False))
    # The last part has no following delimiter yet: it is not complete.
    assert [p.body for p in parts] == [b"one"]
    assert not parser.finished


def test_headers_are_parsed_case_insensitively() -> None:
    parser = MultipartParser(BOUNDARY)
    parts = parser.feed(b"--frame\r\nCONTENT-TYPE: Image/JPEG; q=1\r\nX-A: b\r\n\r\nZ\r\n--frame--")
    assert parts[0].headers == {"content-type": "Image/JPEG; q=1", "x-a": "b"}
    assert parts[0].content_type == "image/jpeg"


def test_bare_lf_line_endings_are_tolerated() -> None:
    parser = MultipartParser(BOUNDARY)
    parts = parser.feed(b"--frame\nContent-Length: 3\n\nabc\n--frame--\n")
    assert [p.body for p in parts] == [b"abc"]


def test_oversized_parts_are_refused() -> None:
    parser = MultipartParser(BOUNDARY, max_part_bytes=10)
    with pytest.raises(MultipartError, match="limit"):
        parser.feed(b"--frame\r\nContent-Length: 11\r\n\r\n")
    parser = MultipartParser(BOUNDARY, max_part_bytes=10)
    with pytest.raises(MultipartError, match="limit"):
        parser.feed(b"--frame\r\n\r\n" + bytes(20))


@pytest.mark.parametrize(
    "data", [b"--frame\r\nContent-Length: -1\r\n\r\n", b"--frame\r\nno colon here\r\n\r\n"]
)
def test_malformed_headers(data: bytes) -> None:
    with pytest.raises(MultipartError):
        MultipartParser(BOUNDARY).feed(data)


@pytest.mark.parametrize(
    ("header", "boundary"),
    [
        ("multipart/x-mixed-replace; boundary=frame", "frame"),
        ('multipart/x-mixed-replace;boundary="a b"', "a b"),
        ("Multipart/X-Mixed-Replace; charset=x; BOUNDARY=xyz", "xyz"),
    ],
)
def test_parse_boundary(header: str, boundary: str) -> None:
    assert parse_boundary(header) == boundary


@pytest.mark.parametrize(
    "header", ["image/jpeg", "multipart/x-mixed-replace", "multipart/x; boundary="]
)
def test_parse_boundary_refuses(header: str) -> None:
    with pytest.raises(MultipartError):
        parse_boundary(header)
