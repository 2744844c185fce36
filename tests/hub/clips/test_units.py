"""Small pure pieces: the recorder registry, windows, orientation and mask rectangles."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from rtcc_hub.clipmaker.planes import (
    Orientation,
    OrientationError,
    mask_rects,
    orientation_from_matrix,
    output_size,
)
from rtcc_hub.policy import Recorder, RecorderSource
from rtcc_hub.recorders import (
    FootageWindow,
    FrigateRecorder,
    RecorderFailed,
    Recorders,
    UnifiProtectRecorder,
)
from tests.support import footage as ft
from tests.support.standin_frigate import StandinFrigate

from .conftest import EPOCH


async def test_registry_dispatches_by_source(
    frigate: StandinFrigate, session: aiohttp.ClientSession, workdir: Path
) -> None:
    standard = Recorders.standard(
        session, frigate_url=frigate.url, ha_url="http://ha", ha_token="t"
    )
    assert standard.supports(RecorderSource.FRIGATE)
    assert standard.supports(RecorderSource.UNIFIPROTECT)
    footage = await standard.fetch(
        Recorder(RecorderSource.FRIGATE, "front_door"),
        "camera.front_door",
        FootageWindow(EPOCH + 1, EPOCH + 5),
        workdir,
    )
    assert footage.source is RecorderSource.FRIGATE
    without = Recorders.standard(session, frigate_url=None, ha_url="http://ha", ha_token="t")
    assert not without.supports(RecorderSource.FRIGATE)
    with pytest.raises(RecorderFailed, match="no frigate recorder"):
        await without.fetch(
            Recorder(RecorderSource.FRIGATE, "front_door"),
            "camera.x",
            FootageWindow(EPOCH, EPOCH + 9),
            workdir,
        )
    with pytest.raises(ValueError, match="two recorder clients"):
        Recorders([FrigateRecorder(session, "http://a"), FrigateRecorder(session, "http://b")])
    with pytest.raises(RecorderFailed, match="not a unifiprotect"):
        await UnifiProtectRecorder(session, "http://ha", "t").fetch(
            Recorder(RecorderSource.FRIGATE, "x"),
            "camera.x",
            FootageWindow(EPOCH, EPOCH + 60),
            workdir,
        )


@pytest.mark.parametrize(
    ("start", "end"), [(1.0, 1.0), (2.0, 1.0), (float("nan"), 1.0), (0, float("inf"))]
)
def test_bad_windows(start: float, end: float) -> None:
    with pytest.raises(ValueError, match="window"):
        FootageWindow(start, end)


def test_orientations() -> None:
    assert orientation_from_matrix((1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)).identity
    assert orientation_from_matrix(ft.ROTATE_90_CW) == Orientation(True, True, False)
    assert orientation_from_matrix(ft.ROTATE_90_CCW) == Orientation(True, False, True)
    assert orientation_from_matrix(ft.ROTATE_180) == Orientation(False, True, True)
    for bad in (ft.ROTATE_45, (0,) * 9, (1 << 16, 1 << 16, 0, 0, 1 << 16, 0, 0, 0, 1 << 30), (1,)):
        with pytest.raises(OrientationError):
            orientation_from_matrix(bad)


def test_output_sizes_and_rects() -> None:
    assert output_size(1920, 1080, 1280) == (1280, 720)
    assert output_size(1, 1, None) == (2, 2)
    assert mask_rects((), 64, 64) == ((), ())
    luma, chroma = mask_rects((((0.0, 0.0), (0.1, 0.0), (0.1, 0.1), (0.0, 0.1)),), 320, 240)
    # 32 x 24 px: two macroblock rows; the right edge lies on x = 32, a block boundary, which
    # also takes the next block (grow, never shrink): three macroblocks wide.
    assert luma == ((0, 16, 0, 48), (16, 32, 0, 48))
    # The same blocks in 4:2:0 chroma, one sample more on each side (clipped at 0).
    assert chroma == ((0, 9, 0, 25), (7, 17, 0, 25))
