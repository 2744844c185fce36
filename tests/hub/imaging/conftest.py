"""Fixtures for the imaging tests (no Home Assistant; real libjpeg-turbo)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtcc_hub.imaging import ImageProcessor


@pytest.fixture
def processor() -> Iterator[ImageProcessor]:
    proc = ImageProcessor()
    yield proc
    proc.close()
