"""Byte-cleanliness (PROTOCOL 3.2): no camera byte reaches the city, on any route.

Every route re-serialises the frame, so metadata, thumbnails, unused tables, fill bytes,
restart markers and trailing data are gone, and a frame whose scans carry bytes a decoder
would skip, or that was cut short with an EOI appended, is refused.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcc_hub.imaging import ImageError, ImageProcessor, OutputSpec
from rtcc_hub.imaging.clean import check_clean
from rtcc_hub.imaging.jpegfile import read_jpeg
from rtcc_hub.imaging.plan import Route

from .jpegs import (
    COMMENT,
    EXIF_GPS,
    SECRET,
    decode_rgb,
    encode_frame,
    jfif_with_thumbnail,
    make_jpeg,
    markers,
    metadata_markers,
    picture,
    segment,
    with_metadata,
    with_unused_tables,
)

BASE = make_jpeg(64, 48)
PROGRESSIVE = make_jpeg(64, 48, progressive=True)
ROUTES = {
    "lossless": OutputSpec(masks=(((0.1, 0.1), (0.5, 0.1), (0.5, 0.5)),)),
    "unmasked": OutputSpec(),
    "planes": OutputSpec(max_width=32),
}
# Only what libjpeg-turbo writes for a baseline frame.
ALLOWED = {0xD8, 0xE0, 0xDB, 0xC4, 0xC0, 0xC1, 0xDA, 0xD9}


def assert_clean(out: bytes) -> None:
    assert set(markers(out)) <= ALLOWED
    assert metadata_markers(out) == []
    for secret in (
        SECRET,
        EXIF_GPS[6:20],
        COMMENT,
        b"Jane Doe",
        b"ICC_PROFILE",
        b"32.2988",
        b"thumb",
    ):
        assert secret not in out
    assert out[2:20] == b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("jpeg", [BASE, PROGRESSIVE], ids=["baseline", "progressive"])
def test_metadata_thumbnails_tables_and_trailing_data_never_reach_the_output(
    processor: ImageProcessor, jpeg: bytes, route: str
) -> None:
    jfxx = segment(0xE0, b"JFXX\x00\x10" + b"\xff\xd8thumb" + SECRET)
    assert jpeg[2:4] == b"\xff\xe0"
    dirty = jpeg[:2] + jfif_with_thumbnail() + jfxx + jpeg[2 + 18 :]
    dirty = with_unused_tables(with_metadata(dirty)) + b"GPS 32.2988N" + SECRET
    out = processor.process(dirty, ROUTES[route])
    assert_clean(out)
    if route == "unmasked":
        np.testing.assert_array_equal(decode_rgb(out), decode_rgb(jpeg))


def test_camera_density_is_not_copied(processor: ImageProcessor) -> None:
    """JFIF density fields are 5 camera-chosen bytes: ours replace them."""
    dirty = BASE[:2] + segment(0xE0, b"JFIF\x00\x01\x02\x01\x12\x34\x56\x78\x00\x00") + BASE[20:]
    for spec in ROUTES.values():
        out = processor.process(dirty, spec)
        assert_clean(out)
        assert b"\x12\x34\x56\x78" not in out


def test_fill_bytes_and_stray_markers_are_dropped(processor: ImageProcessor) -> None:
    sos, eoi = BASE.index(b"\xff\xda"), BASE.rindex(b"\xff\xd9")
    padded = (
        BASE[:sos] + b"\xff\xff\xff\x01" + b"\xff\xd3" + BASE[sos:eoi] + b"\xff\xff" + BASE[eoi:]
    )
    out = processor.process(padded, OutputSpec())
    assert_clean(out)
    assert b"\xff\xff" not in out
    np.testing.assert_array_equal(decode_rgb(out), decode_rgb(BASE))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "where", ["after-last-scan", "between-restart-intervals", "between-progressive-scans"]
)
def test_bytes_hidden_in_a_scan_are_refused(
    processor: ImageProcessor, route: str, where: str
) -> None:
    """Bytes a decoder skips ("extraneous bytes before marker") carry data: refused."""
    if where == "after-last-scan":
        eoi = BASE.rindex(b"\xff\xd9")
        hidden = BASE[:eoi] + SECRET + BASE[eoi:]
    elif where == "between-restart-intervals":
        jpeg = encode_frame(picture(64, 48), "420", restart_rows=1)
        rst = jpeg.index(b"\xff\xd0")
        hidden = jpeg[:rst] + SECRET + jpeg[rst:]
    else:
        second = PROGRESSIVE.index(b"\xff\xda", PROGRESSIVE.index(b"\xff\xda") + 2)
        hidden = PROGRESSIVE[:second] + SECRET + PROGRESSIVE[second:]
    with pytest.raises(ImageError):
        processor.process(hidden, ROUTES[route])


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "jpeg",
    [BASE, PROGRESSIVE, encode_frame(picture(64, 48), "444", restart_rows=1)],
    ids=["baseline", "progressive", "restarts"],
)
def test_truncated_frames_with_an_eoi_appended_are_refused(
    processor: ImageProcessor, route: str, jpeg: bytes
) -> None:
    cut_in_scan = jpeg[: len(jpeg) - 40] + b"\xff\xd9"
    with pytest.raises(ImageError):
        processor.process(cut_in_scan, ROUTES[route])


@pytest.mark.parametrize("route", ROUTES)
def test_progressive_frames_cut_at_a_scan_boundary_are_refused(
    processor: ImageProcessor, route: str
) -> None:
    """libjpeg-turbo decodes these without a warning (a blurry partial picture)."""
    scans = [i for i in range(len(PROGRESSIVE) - 1) if PROGRESSIVE[i : i + 2] == b"\xff\xda"]
    assert len(scans) > 3
    for cut in scans[1:]:
        with pytest.raises(ImageError, match="incomplete"):
            processor.process(PROGRESSIVE[:cut] + b"\xff\xd9", ROUTES[route])


def test_sequential_frames_missing_a_component_scan_are_refused() -> None:
    frame = segment(0xC0, b"\x08\x00\x10\x00\x10\x03\x01\x11\x00\x02\x11\x01\x03\x11\x01")
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    with pytest.raises(ImageError, match="incomplete"):
        read_jpeg(b"\xff\xd8" + frame + scan + b"\x12\x34" + b"\xff\xd9")


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
def test_malformed_input_is_refused(processor: ImageProcessor, bad: bytes) -> None:
    with pytest.raises(ImageError):
        read_jpeg(bad)
    for spec in ROUTES.values():
        with pytest.raises(ImageError):
            processor.process(bad, spec)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutations_are_refused_or_clean(data: st.DataObject) -> None:
    """Random truncation and byte flips: a clean JPEG or ImageError, nothing else."""
    jpeg = bytearray(with_metadata(data.draw(st.sampled_from([BASE, PROGRESSIVE]))))
    cut = data.draw(st.integers(0, len(jpeg)))
    del jpeg[cut:]
    for _ in range(data.draw(st.integers(0, 4))):
        if jpeg:
            jpeg[data.draw(st.integers(0, len(jpeg) - 1))] = data.draw(st.integers(0, 255))
    proc = ImageProcessor(workers=1)
    try:
        out = proc.process(bytes(jpeg), data.draw(st.sampled_from(list(ROUTES.values()))))
    except ImageError:
        return
    finally:
        proc.close()
    assert set(markers(out)) <= ALLOWED
    assert metadata_markers(out) == []


@pytest.mark.parametrize("not_bytes", [None, "\xff\xd8 text", 42, [0xFF, 0xD8]])
def test_only_bytes_are_accepted(processor: ImageProcessor, not_bytes: object) -> None:
    with pytest.raises(ImageError, match="bytes"):
        processor.process(not_bytes, OutputSpec())  # type: ignore[arg-type]


def test_the_output_check_refuses_anything_unexpected(processor: ImageProcessor) -> None:
    out = processor.process(BASE, OutputSpec())
    assert check_clean(out) == out
    sos = out.index(b"\xff\xda")
    for bad in (
        out + b"x",  # after EOI
        out[:sos] + segment(0xE1, EXIF_GPS) + out[sos:],
        out[:sos] + segment(0xFE, COMMENT) + out[sos:],
        out[:2] + out[20:],  # no JFIF header
        out[:sos] + segment(0xDD, b"\x00\x01") + out[sos:],  # restart interval
    ):
        with pytest.raises(ImageError, match="output check"):
            check_clean(bad)


def test_output_spec_is_hashable() -> None:
    spec = OutputSpec(masks=(((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),), max_width=640)
    assert {spec: 1}[OutputSpec(masks=spec.masks, max_width=640)] == 1


def test_rgb_coded_and_arithmetic_frames(processor: ImageProcessor) -> None:
    rgb_coded = encode_frame(picture(64, 48), "444", rgb_coded=True)
    assert processor.route(rgb_coded, OutputSpec()) == Route.PIXELS
    arithmetic = encode_frame(picture(64, 48), "420", arithmetic=True)
    assert processor.route(arithmetic, OutputSpec()) == Route.LOSSLESS
    for jpeg in (rgb_coded, arithmetic):
        for spec in ROUTES.values():
            assert_clean(processor.process(jpeg, spec))
