"""Hostile and unusual input: refused with ImageError before it costs much, never a crash."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import turbojpeg as tj
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcc_hub.imaging import LIB_ENV, ImageError, ImageProcessor, OutputSpec

from .jpegs import CODEC, decode_rgb, make_jpeg, metadata_markers, picture, segment, size

REAL_LIB = os.environ.get(LIB_ENV)
MASKED = OutputSpec(masks=(((0.1, 0.1), (0.6, 0.1), (0.6, 0.6)),))
SPECS = [OutputSpec(), OutputSpec(max_width=100), MASKED]
SPEC_IDS = ["strip-only", "scaled", "masked"]


def with_dimensions(jpeg: bytes, width: int, height: int) -> bytes:
    """The same bytes with the frame header claiming another size (a decompression bomb)."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_max_pixels_enforced_in_every_path(spec: OutputSpec) -> None:
    source = make_jpeg(640, 480)
    tight = ImageProcessor(max_pixels=640 * 480 - 1)
    exact = ImageProcessor(max_pixels=640 * 480)
    try:
        with pytest.raises(ImageError, match="pixels"):
            tight.process(source, spec)
        assert exact.process(source, spec)
    finally:
        tight.close()
        exact.close()


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_header_bomb_refused_without_decoding(processor: ImageProcessor, spec: OutputSpec) -> None:
    bomb = with_dimensions(make_jpeg(64, 64), 60_000, 60_000)
    with pytest.raises(ImageError, match="pixels"):
        processor.process(bomb, spec)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not a jpeg at all",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        make_jpeg(200, 100)[:-2],
        make_jpeg(200, 100)[:600],
        make_jpeg(200, 100, progressive=True)[:900],
        with_dimensions(make_jpeg(64, 64), 0, 64),
    ],
)
def test_corrupt_input_refused(processor: ImageProcessor, spec: OutputSpec, bad: bytes) -> None:
    with pytest.raises(ImageError):
        processor.process(bad, spec)


def test_scan_and_marker_bombs_refused_in_every_path(processor: ImageProcessor) -> None:
    """Thousands of scans or segments cost time per segment: refused before any decode."""
    progressive = make_jpeg(64, 64, progressive=True)
    last_scan = progressive[progressive.rindex(b"\xff\xda") : -2]
    many_scans = progressive[:-2] + last_scan * 120 + b"\xff\xd9"
    many_markers = progressive[:2] + segment(0xFE, b"x") * 2500 + progressive[2:]
    for bomb, reason in ((many_scans, "scans"), (many_markers, "markers")):
        for spec in SPECS:
            with pytest.raises(ImageError, match=reason):
                processor.process(bomb, spec)


def test_bytearray_input_is_processed_like_bytes(processor: ImageProcessor) -> None:
    source = bytearray(make_jpeg(64, 64))
    out = processor.process(source, MASKED)  # type: ignore[arg-type]
    assert out == processor.process(bytes(source), MASKED)


def test_corrupt_entropy_data_refused_when_decoding(processor: ImageProcessor) -> None:
    source = make_jpeg(256, 256)
    start = source.index(b"\xff\xda") + 20
    garbled = bytearray(source)
    garbled[start : start + 400] = bytes(range(200)) * 2  # no 0xFF: still well-formed markers
    with pytest.raises(ImageError):
        processor.process(bytes(garbled), MASKED)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_frames_are_refused_or_clean(data: st.DataObject) -> None:
    source = bytearray(make_jpeg(96, 64, data.draw(st.sampled_from(["420", "444", "gray"]))))
    for _ in range(data.draw(st.integers(1, 6))):
        source[data.draw(st.integers(0, len(source) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del source[data.draw(st.integers(0, len(source))) :]
    spec = data.draw(st.sampled_from(SPECS))
    proc = ImageProcessor(workers=1)
    try:
        out = proc.process(bytes(source), spec)
    except ImageError:
        return
    finally:
        proc.close()
    assert metadata_markers(out) == []
    width, _height = size(out)
    assert spec.max_width is None or width <= spec.max_width


def test_cmyk_refused(processor: ImageProcessor) -> None:
    cmyk = np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    jpeg: bytes = CODEC.encode(cmyk, pixel_format=tj.TJPF_CMYK, jpeg_subsample=tj.TJSAMP_444)
    for spec in SPECS:
        with pytest.raises(ImageError, match="CMYK"):
            processor.process(jpeg, spec)


def test_twelve_bit_and_lossless_refused(processor: ImageProcessor) -> None:
    deep = (picture(64, 64).astype(np.uint16) * 16).astype(np.uint16)
    twelve: bytes = CODEC.encode_12bit(deep, pixel_format=tj.TJPF_RGB)
    lossless: bytes = CODEC.encode(picture(64, 64), pixel_format=tj.TJPF_RGB, lossless=True)
    for jpeg in (twelve, lossless):
        for spec in SPECS:
            with pytest.raises(ImageError):
                processor.process(jpeg, spec)


def test_rgb_coded_jpeg_is_reencoded_with_true_colours(processor: ImageProcessor) -> None:
    """An RGB-coded JPEG depends on its Adobe APP14 segment: never copied without it."""
    rgb = np.zeros((192, 256, 3), dtype=np.uint8)
    rgb[:] = (200, 30, 90)
    jpeg: bytes = CODEC.encode(
        rgb, pixel_format=tj.TJPF_RGB, jpeg_subsample=tj.TJSAMP_444, jpeg_colorspace=tj.TJCS_RGB
    )
    assert CODEC.decode_header(jpeg)[3] == tj.TJCS_RGB
    for spec in SPECS:
        out = processor.process(jpeg, spec)
        assert metadata_markers(out) == []
        assert CODEC.decode_header(out)[3] == tj.TJCS_YCbCr
        decoded = decode_rgb(out).astype(int)
        assert decoded.shape[1] == min(256, spec.max_width or 256)
        assert np.abs(decoded[-30:, -30:] - (200, 30, 90)).max() < 6


@pytest.mark.parametrize("max_width", [0, -5, True, 1.5, "640"])
def test_bad_max_width_shares_nothing(processor: ImageProcessor, max_width: object) -> None:
    with pytest.raises(ImageError, match="max_width"):
        processor.process(make_jpeg(64, 64), OutputSpec(max_width=max_width))  # type: ignore[arg-type]


def test_library_path_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageError, match="libjpeg-turbo"):
        ImageProcessor(lib_path="/nonexistent/libturbojpeg.so.0")
    monkeypatch.setenv(LIB_ENV, "/nonexistent/libturbojpeg.so.0")
    with pytest.raises(ImageError, match="libjpeg-turbo"):
        ImageProcessor()
    if REAL_LIB:
        ImageProcessor(lib_path=REAL_LIB).close()  # an explicit path wins over the environment


@pytest.mark.parametrize(
    "kwargs", [{"max_pixels": 0}, {"quality": 0}, {"quality": 101}, {"workers": 0}]
)
def test_bad_configuration_is_a_programming_error(kwargs: dict[str, int]) -> None:
    settings = {"max_pixels": 1000, "quality": 85, "workers": 1} | kwargs
    with pytest.raises(ValueError):
        ImageProcessor(
            max_pixels=settings["max_pixels"],
            quality=settings["quality"],
            workers=settings["workers"],
        )


def test_unknown_app0_and_com_only_segments(processor: ImageProcessor) -> None:
    source = make_jpeg(64, 64)
    dirty = source[:2] + segment(0xE0, b"AVI1\x00junk") + source[2:]
    out = processor.process(dirty, OutputSpec())
    assert b"AVI1" not in out
