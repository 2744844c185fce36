"""The clip pipeline on real MP4s: masks, no sound, no tags, timing, orientation, sizes, and
every way footage can be odd (each gives `failed` or `no_footage`, and no file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtcc_hub.clipmaker.render import (
    ClipFailed,
    ClipSpec,
    NoFramesInWindow,
    RenderCancelled,
    Timeline,
    render_clip,
)
from tests.support import footage as ft

from .conftest import EPOCH

MASK_A = ((0.05, 0.05), (0.45, 0.05), (0.45, 0.40), (0.05, 0.40))
MASK_B = ((0.60, 0.10), (0.95, 0.30), (0.70, 0.70))  # a triangle, edges off the block grid
ALLOWED_CONTAINER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
ALLOWED_STREAM_TAGS = {"language", "handler_name", "vendor_id", "encoder"}


def _source(tmp_path: Path, recording: ft.Recording, seconds: float, **options: object) -> Path:
    path = tmp_path / "source.mp4"
    ft.write_recording(path, recording, 0, round(seconds * recording.fps), **options)  # type: ignore[arg-type]
    return path


def _timeline(seconds: float, wall_start: float = EPOCH, slack: float = 0.5) -> Timeline:
    return Timeline(((0.0, seconds, wall_start),), seconds, slack)


def test_masks_black_no_audio_no_tags_index_first(tmp_path: Path, recording: ft.Recording) -> None:
    source = _source(tmp_path, recording, 6)
    out = tmp_path / "clip.mp4"
    spec = ClipSpec(EPOCH + 1, EPOCH + 5, masks=(MASK_A, MASK_B))
    stats = render_clip(source, _timeline(6), spec, out)
    clip = ft.decode_clip(out)
    assert clip.stream_types == ["video"]  # sound never leaves
    assert set(clip.container_tags) <= ALLOWED_CONTAINER_TAGS
    for tags in clip.stream_tags:
        assert set(tags) <= ALLOWED_STREAM_TAGS
        assert "Acme" not in " ".join(tags.values())
    raw = out.read_bytes()
    for secret in (b"Front door camera", b"+32.2988", b"Acme", b"Main St", b"2026-05-01"):
        assert secret not in raw
    assert clip.codec == "h264"
    assert clip.pix_fmt == "yuv420p"
    assert clip.moov_before_mdat
    assert stats.frames == len(clip.luma) == 60
    for polygon in (MASK_A, MASK_B):
        inside = ft.inside_polygon(polygon, clip.width, clip.height)
        inside_c = ft.inside_polygon(polygon, clip.width // 2, clip.height // 2)
        for y, (u, v) in zip(clip.luma, clip.chroma, strict=True):
            assert int(y[inside].max()) <= 20, "masked luma not black"
            assert int(np.abs(u[inside_c].astype(int) - 128).max()) <= 3
            assert int(np.abs(v[inside_c].astype(int) - 128).max()) <= 3
    # Outside the masks the picture is still there (the test can fail).
    assert int(clip.luma[0][: clip.height // 2, clip.width // 2].max()) > 150


def test_unmasked_source_is_bright_where_masks_would_be(
    tmp_path: Path, recording: ft.Recording
) -> None:
    """The mask check above means something: without masks those pixels are bright."""
    source = _source(tmp_path, recording, 2)
    out = tmp_path / "clip.mp4"
    render_clip(source, _timeline(2), ClipSpec(EPOCH, EPOCH + 2), out)
    clip = ft.decode_clip(out)
    inside = ft.inside_polygon(MASK_A, clip.width, clip.height)
    assert int(clip.luma[0][inside].min()) > 100


def test_only_frames_inside_the_window_with_their_timing(
    tmp_path: Path, recording: ft.Recording
) -> None:
    source = _source(tmp_path, recording, 10)
    out = tmp_path / "clip.mp4"
    start, end = EPOCH + 2.3, EPOCH + 7.1
    stats = render_clip(source, _timeline(10), ClipSpec(start, end), out)
    clip = ft.decode_clip(out)
    walls = [recording.wall_time(ft.frame_number(ft.gray_of_luma(y))) for y in clip.luma]
    assert all(start <= w < end for w in walls)
    expected = [recording.wall_time(n) for n in range(10 * recording.fps)]
    assert walls == [w for w in expected if start <= w < end]  # none missing either
    # Frame timing kept: presentation times follow the recorded instants.
    assert np.allclose(np.array(clip.times) - clip.times[0], np.array(walls) - walls[0], atol=2e-3)
    assert stats.start == pytest.approx(walls[0])
    assert stats.end == pytest.approx(min(end, walls[-1] + 1 / recording.fps))


def test_timeline_places_frames_across_a_gap(tmp_path: Path, recording: ft.Recording) -> None:
    """Two spans: media 0-4 s is wall 0-4 s, media 4-8 s is wall 20-24 s (a recording gap)."""
    source = _source(tmp_path, recording, 8)
    timeline = Timeline(((0.0, 4.0, EPOCH), (4.0, 8.0, EPOCH + 20)), 8.0, 0.5)
    out = tmp_path / "clip.mp4"
    render_clip(source, timeline, ClipSpec(EPOCH + 2, EPOCH + 22), out)
    clip = ft.decode_clip(out)
    numbers = [ft.frame_number(ft.gray_of_luma(y)) for y in clip.luma]
    assert numbers == list(range(30, 90))  # media 2..6 s
    assert clip.times[30] - clip.times[29] == pytest.approx(16 + 1 / 15, abs=2e-3)


def test_max_fps_thins_but_never_below_five(tmp_path: Path, recording: ft.Recording) -> None:
    source = _source(tmp_path, recording, 4)
    out = tmp_path / "clip.mp4"
    stats = render_clip(source, _timeline(4), ClipSpec(EPOCH, EPOCH + 4, max_fps=5), out)
    clip = ft.decode_clip(out)
    gaps = np.diff(clip.times)
    assert stats.frames == 20
    assert gaps.max() <= 0.2 + 1e-3
    with pytest.raises(ValueError, match="5 frames"):
        ClipSpec(EPOCH, EPOCH + 4, max_fps=4)


@pytest.mark.parametrize(
    ("matrix", "size", "strip"),
    [
        (ft.ROTATE_90_CW, (240, 320), "left"),
        (ft.ROTATE_180, (320, 240), "top"),
        (ft.ROTATE_90_CCW, (240, 320), "right"),
        (ft.MIRROR, (320, 240), "bottom"),
    ],
)
def test_turned_upright(
    tmp_path: Path,
    recording: ft.Recording,
    matrix: tuple[int, ...],
    size: tuple[int, int],
    strip: str,
) -> None:
    plain = _source(tmp_path, recording, 1)
    source = tmp_path / "rotated.mp4"
    source.write_bytes(ft.set_display_matrix(plain.read_bytes(), matrix))
    out = tmp_path / "clip.mp4"
    render_clip(source, _timeline(1), ClipSpec(EPOCH, EPOCH + 1), out)
    clip = ft.decode_clip(out)
    assert (clip.width, clip.height) == size
    assert not clip.has_display_matrix  # turned in the pixels, not by a tag
    y = clip.luma[0].astype(int)
    band = {
        "left": y[:, :8],
        "right": y[:, -8:],
        "top": y[:8, :],
        "bottom": y[-8:, :],
    }
    # The source's bar-code strip (mostly black) ends up on the expected side only.
    means = {side: float(values.mean()) for side, values in band.items()}
    assert min(means, key=lambda side: means[side]) == strip
    if matrix == ft.MIRROR:
        # Mirrored: bit 0 of the bar code sits at the right, so reading it plainly is wrong.
        assert ft.frame_number(ft.gray_of_luma(clip.luma[0][:, ::-1])) == 0


def test_free_rotation_fails(tmp_path: Path, recording: ft.Recording) -> None:
    plain = _source(tmp_path, recording, 1)
    source = tmp_path / "rotated.mp4"
    source.write_bytes(ft.set_display_matrix(plain.read_bytes(), ft.ROTATE_45))
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipFailed, match="90 degrees"):
        render_clip(source, _timeline(1), ClipSpec(EPOCH, EPOCH + 1), out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("source_size", "max_width", "expected"),
    [((321, 239), None, (320, 238)), ((640, 480), 101, (100, 76)), ((35, 17), None, (34, 16))],
)
def test_odd_sizes_become_even(
    tmp_path: Path,
    source_size: tuple[int, int],
    max_width: int | None,
    expected: tuple[int, int],
) -> None:
    rec = ft.Recording(EPOCH, 15, *source_size)
    source = tmp_path / "odd.mp4"
    ft.write_recording(source, rec, 0, 15, audio=False, pix_fmt="yuv444p")
    out = tmp_path / "clip.mp4"
    stats = render_clip(
        source, _timeline(1), ClipSpec(EPOCH, EPOCH + 1, masks=(MASK_A,), max_width=max_width), out
    )
    clip = ft.decode_clip(out)
    assert (clip.width, clip.height) == (stats.width, stats.height) == expected
    inside = ft.inside_polygon(MASK_A, clip.width, clip.height)
    assert all(int(y[inside].max()) <= 20 for y in clip.luma)


def test_scaled_to_max_width(tmp_path: Path) -> None:
    rec = ft.Recording(EPOCH, 15, 640, 360)
    source = tmp_path / "wide.mp4"
    ft.write_recording(source, rec, 0, 15)
    out = tmp_path / "clip.mp4"
    render_clip(source, _timeline(1), ClipSpec(EPOCH, EPOCH + 1, max_width=320), out)
    clip = ft.decode_clip(out)
    assert (clip.width, clip.height) == (320, 180)
    assert ft.frame_number(ft.gray_of_luma(clip.luma[7])) == 7


def test_b_frames_and_fragmented_sources(tmp_path: Path, recording: ft.Recording) -> None:
    source = _source(tmp_path, recording, 3, b_frames=True, fragmented=True)
    out = tmp_path / "clip.mp4"
    render_clip(source, _timeline(3), ClipSpec(EPOCH + 1, EPOCH + 2), out)
    clip = ft.decode_clip(out)
    numbers = [ft.frame_number(ft.gray_of_luma(y)) for y in clip.luma]
    assert numbers == list(range(15, 30))


def test_garbage_fails_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "garbage.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypisom" + np.random.default_rng(1).bytes(50_000))
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipFailed):
        render_clip(source, _timeline(10), ClipSpec(EPOCH, EPOCH + 10), out)
    assert not out.exists()


def test_not_an_mp4_is_never_probed_as_something_else(tmp_path: Path) -> None:
    """A playlist naming a local file must not be followed: only the MP4 demuxer is used."""
    secret = tmp_path / "secret.mp4"
    ft.write_recording(secret, ft.Recording(EPOCH, 15, 64, 64), 0, 15)
    source = tmp_path / "playlist.mp4"
    source.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipFailed):
        render_clip(source, _timeline(1), ClipSpec(EPOCH, EPOCH + 1), out)
    assert not out.exists()


def test_no_frame_in_window_is_no_footage(tmp_path: Path, recording: ft.Recording) -> None:
    source = _source(tmp_path, recording, 2)
    out = tmp_path / "clip.mp4"
    with pytest.raises(NoFramesInWindow):
        render_clip(source, _timeline(2), ClipSpec(EPOCH + 100, EPOCH + 110), out)
    assert not out.exists()


def test_footage_longer_than_announced_fails(tmp_path: Path, recording: ft.Recording) -> None:
    """A recorder whose file runs past what it said cannot be trusted to place frames."""
    source = _source(tmp_path, recording, 6)
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipFailed, match="runs past"):
        render_clip(source, _timeline(3), ClipSpec(EPOCH, EPOCH + 3), out)
    assert not out.exists()


def test_progress_and_stop(tmp_path: Path, recording: ft.Recording) -> None:
    source = _source(tmp_path, recording, 6)
    out = tmp_path / "clip.mp4"
    seen: list[float] = []
    render_clip(source, _timeline(6), ClipSpec(EPOCH, EPOCH + 6), out, progress=seen.append)
    assert seen == sorted(seen)
    assert len(seen) > 10
    assert seen[-1] == 1.0
    with pytest.raises(RenderCancelled):
        render_clip(source, _timeline(6), ClipSpec(EPOCH, EPOCH + 6), out, should_stop=lambda: True)
    assert not out.exists()


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        ClipSpec(EPOCH, EPOCH)
    with pytest.raises(ValueError, match="mask"):
        ClipSpec(EPOCH, EPOCH + 1, masks=((("x", 0),),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_width"):
        ClipSpec(EPOCH, EPOCH + 1, max_width=4)
