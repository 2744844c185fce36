"""strip_metadata: a marker walker that copies bytes and drops APP1..APP15 and COM."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcc_hub.imaging import ImageError, OutputSpec, strip_metadata

from .jpegs import (
    COMMENT,
    EXIF_GPS,
    decode_rgb,
    jfif_with_thumbnail,
    make_jpeg,
    markers,
    metadata_markers,
    segment,
    splice_after_soi,
    with_metadata,
)

BASE = make_jpeg(64, 48)
PROGRESSIVE = make_jpeg(64, 48, progressive=True)


@pytest.mark.parametrize("jpeg", [BASE, PROGRESSIVE], ids=["baseline", "progressive"])
def test_drops_every_metadata_segment_and_keeps_the_image(jpeg: bytes) -> None:
    dirty = with_metadata(jpeg) + b"trailing GPS 32.2988N"
    assert metadata_markers(dirty[: dirty.rfind(b"\xff\xd9") + 2])  # the fixture is dirty

    clean = strip_metadata(dirty)

    assert metadata_markers(clean) == []
    for secret in (EXIF_GPS[6:20], COMMENT, b"Jane Doe", b"ICC_PROFILE", b"32.2988"):
        assert secret not in clean
    np.testing.assert_array_equal(decode_rgb(clean), decode_rgb(jpeg))


def test_clean_input_is_unchanged() -> None:
    assert strip_metadata(BASE) == BASE
    assert strip_metadata(PROGRESSIVE) == PROGRESSIVE


def test_jfif_kept_once_and_without_thumbnail() -> None:
    jfxx = segment(0xE0, b"JFXX\x00\x10" + b"\xff\xd8thumbnail")
    dirty = BASE[:2] + jfif_with_thumbnail() + jfxx + BASE[2 + 18 :]  # replace the 16-byte APP0
    clean = strip_metadata(dirty)
    assert markers(clean).count(0xE0) == 1
    app0 = clean[2 : 2 + 18]
    assert app0[:4] == b"\xff\xe0\x00\x10" and app0[4:9] == b"JFIF\x00"
    assert app0[16:18] == b"\x00\x00"  # no thumbnail
    assert b"thumbnail" not in clean
    np.testing.assert_array_equal(decode_rgb(clean), decode_rgb(BASE))


def test_fill_bytes_and_standalone_markers_are_handled() -> None:
    sos = BASE.index(b"\xff\xda")
    eoi = BASE.rindex(b"\xff\xd9")
    padded = (
        BASE[:sos] + b"\xff\xff\xff\x01" + b"\xff\xd3" + BASE[sos:eoi] + b"\xff\xff" + BASE[eoi:]
    )
    clean = strip_metadata(padded)
    assert clean == BASE


def test_stuffing_and_restart_markers_inside_a_scan_are_copied() -> None:
    """The walker does not decode: a synthetic stream shows what it does with scan bytes."""
    frame = segment(0xC0, b"\x08\x00\x10\x00\x10\x01\x01\x11\x00")
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    entropy = b"\x12\xff\x00\x34\xff\xd0\x56\xff\xd7\x78"
    jpeg = b"\xff\xd8" + frame + scan + entropy + b"\xff\xd9"
    assert strip_metadata(jpeg) == jpeg
    dirty = b"\xff\xd8" + frame + scan + entropy + segment(0xFE, COMMENT) + b"\xff\xd9"
    assert strip_metadata(dirty) == jpeg


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\xff",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"\xff\xd8",
        b"\xff\xd8\xff\xd9",  # no frame, no scan
        BASE[:-2],  # no EOI
        BASE[: len(BASE) // 2],  # truncated in the scan
        BASE[:30],  # truncated in a segment
        BASE[:2] + b"garbage" + BASE[2:],
        BASE[:2] + b"\xff\x00" + BASE[2:],
        BASE[:2] + b"\xff\xe1\x00\x01" + BASE[2:],  # length below 2
        BASE[:2] + b"\xff\xe1\xff\xff" + BASE[2:],  # length beyond the end
        BASE[:2] + segment(0xF7, b"JPEG-LS") + BASE[2:],  # unknown marker
        BASE[:2] + b"\xff\xd8" + BASE[2:],  # second SOI
        BASE[:2] + BASE[BASE.index(b"\xff\xda") :],  # scan without a frame header
        BASE[:2] + b"\xff\xff",  # ends in fill bytes
        BASE[:2] + b"\xff\xe1\x00",  # ends inside a length field
        # a second frame header
        BASE[: BASE.index(b"\xff\xda")]
        + BASE[BASE.index(b"\xff\xc0") : BASE.index(b"\xff\xc0") + 19]
        + BASE[BASE.index(b"\xff\xda") :],
    ],
)
def test_malformed_input_is_refused(bad: bytes) -> None:
    with pytest.raises(ImageError):
        strip_metadata(bad)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutations_never_crash(data: st.DataObject) -> None:
    """Random truncation and byte flips: a clean JPEG or ImageError, nothing else."""
    jpeg = bytearray(with_metadata(BASE))
    cut = data.draw(st.integers(0, len(jpeg)))
    del jpeg[cut:]
    for _ in range(data.draw(st.integers(0, 4))):
        if jpeg:
            jpeg[data.draw(st.integers(0, len(jpeg) - 1))] = data.draw(st.integers(0, 255))
    try:
        clean = strip_metadata(bytes(jpeg))
    except ImageError:
        return
    assert metadata_markers(clean) == []


@pytest.mark.parametrize("not_bytes", [None, "\xff\xd8 text", 42, [0xFF, 0xD8]])
def test_only_bytes_are_accepted(not_bytes: object) -> None:
    with pytest.raises(ImageError, match="bytes"):
        strip_metadata(not_bytes)  # type: ignore[arg-type]


def test_output_spec_is_hashable() -> None:
    spec = OutputSpec(masks=(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),), max_width=640)
    assert {spec: 1}[OutputSpec(masks=spec.masks, max_width=640)] == 1


def test_splice_helper_really_splices() -> None:
    dirty = splice_after_soi(BASE, segment(0xE1, EXIF_GPS))
    assert metadata_markers(dirty) == [0xE1]
