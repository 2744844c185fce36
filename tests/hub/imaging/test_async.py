"""process_async: JPEG work in the worker pool, safe under many concurrent frames."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rtcc_hub.imaging import ImageError, ImageProcessor, OutputSpec

from .jpegs import make_jpeg, size

SPECS = [
    OutputSpec(),
    OutputSpec(max_width=320),
    OutputSpec(masks=(((0.1, 0.1), (0.5, 0.2), (0.3, 0.7)),)),
    OutputSpec(masks=(((0.6, 0.6), (0.9, 0.6), (0.9, 0.9)),), max_width=200),
]


class RecordingProcessor(ImageProcessor):
    """Remembers which threads did the work."""

    def __init__(self) -> None:
        super().__init__(workers=3)
        self.threads: set[int] = set()

    def process(self, jpeg: bytes, spec: OutputSpec) -> bytes:
        self.threads.add(threading.get_ident())
        return super().process(jpeg, spec)


async def test_many_concurrent_frames_match_the_synchronous_result() -> None:
    frames = [make_jpeg(640, 360, fmt) for fmt in ("420", "422", "444", "gray")]
    processor = RecordingProcessor()
    try:
        jobs = [(frame, spec) for frame in frames for spec in SPECS] * 4
        results = await asyncio.gather(*(processor.process_async(f, s) for f, s in jobs))
        loop_thread = threading.get_ident()
        assert loop_thread not in processor.threads
        assert 1 < len(processor.threads) <= 3
        for (frame, spec), result in zip(jobs, results, strict=True):
            assert result == processor.process(frame, spec)  # libjpeg-turbo is deterministic
            assert size(result)[0] <= (spec.max_width or 640)
    finally:
        processor.close()


async def test_errors_come_back_as_image_error() -> None:
    processor = ImageProcessor()
    try:
        good, bad = await asyncio.gather(
            processor.process_async(make_jpeg(64, 64), SPECS[2]),
            processor.process_async(b"\xff\xd8 broken", SPECS[2]),
            return_exceptions=True,
        )
        assert isinstance(good, bytes)
        assert isinstance(bad, ImageError)
    finally:
        processor.close()


async def test_closed_processor_refuses_work() -> None:
    processor = ImageProcessor()
    processor.close()
    processor.close()  # idempotent
    with pytest.raises(ImageError, match="closed"):
        await processor.process_async(make_jpeg(64, 64), OutputSpec())
    with pytest.raises(ImageError, match="closed"):
        processor.process(make_jpeg(64, 64), OutputSpec())
