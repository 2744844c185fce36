"""process_async: JPEG work in the worker pool, safe under many concurrent frames."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rtcc_hub.imaging import ImageError, ImageProcessor, OutputSpec

from .jpegs import encode_frame, make_jpeg, picture, size

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


def test_many_threads_one_handle_each() -> None:
    """Sixteen threads share a processor: every thread gets its own TurboJPEG handle and
    buffers, and every result equals the single-threaded one (no state leaks between
    frames of different structure handled on one handle, nor between threads)."""
    frames = [
        make_jpeg(640, 360, "420"),
        make_jpeg(320, 240, "444", progressive=True),
        make_jpeg(200, 100, "gray"),
        encode_frame(picture(300, 200), "422", arithmetic=True, restart_rows=2),
    ]
    processor = ImageProcessor(workers=1)
    try:
        expected = {
            (i, j): processor.process(f, s)
            for i, f in enumerate(frames)
            for j, s in enumerate(SPECS)
        }
        handles: dict[int, int] = {}
        failures: list[BaseException] = []
        start = threading.Barrier(16)

        def work(seed: int) -> None:
            try:
                start.wait()
                handles[threading.get_ident()] = id(processor._worker().handle)
                for step in range(24):
                    i, j = (seed + step) % len(frames), (seed * 3 + step) % len(SPECS)
                    assert processor.process(frames[i], SPECS[j]) == expected[(i, j)]
            except BaseException as err:  # reported below
                failures.append(err)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures[0]
        assert len(set(handles.values())) == 16  # one handle per thread
    finally:
        processor.close()
