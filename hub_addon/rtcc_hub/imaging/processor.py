"""`ImageProcessor`: every frame the city receives passes through here.

1. `read_jpeg` walks the camera frame's markers: structure, completeness, EXIF orientation.
2. libjpeg-turbo reads the header; `max_pixels`, 8-bit precision and the colour space are
   checked before any pixel is decoded.
3. `plan` picks the route (see `plan.py`): the lossless transform whenever no scaling is
   needed and the frame allows it, else a decode route.
4. `check_clean` confirms the output holds only what libjpeg-turbo wrote for us.

libjpeg-turbo warnings (corrupt data, premature end, extraneous bytes) are errors on every
route: such a frame is refused. CPU work runs in a thread pool; each thread owns one
TurboJPEG handle and one workspace (`threading.local`), created on its first frame and freed
with the thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..maskgeom import MaskError, Polygon, validated_masks
from . import decoded, lossless
from .clean import check_clean
from .jpegfile import LOSSLESS_OR_HIERARCHICAL, SCAN_LIMIT, JpegFile, read_jpeg
from .native import Native
from .plan import Plan, Route, plan
from .spec import ImageError, OutputSpec
from .turbo import Colorspace, Handle, Header, load_library
from .workspace import Workspace


@dataclass(frozen=True, slots=True)
class _Worker:
    """What one thread needs: its own handle and buffers."""

    handle: Handle
    work: Workspace


class ImageProcessor:
    """Masks, scales, turns upright and re-serialises camera frames; sync or thread-pool async."""

    def __init__(
        self,
        *,
        max_pixels: int = 40_000_000,
        quality: int = 85,
        lib_path: str | None = None,
        workers: int = 2,
    ) -> None:
        if max_pixels < 1:
            raise ValueError("max_pixels must be positive")
        if not 1 <= quality <= 100:
            raise ValueError("quality must be 1..100")
        if workers < 1:
            raise ValueError("workers must be positive")
        self._max_pixels = max_pixels
        self._quality = quality
        # A missing or too old library, or an unbuilt filter, fails here, at start-up.
        self._lib: ctypes.CDLL = load_library(lib_path)
        self._native = Native()
        self._local = threading.local()
        self._closed = False
        self._worker()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rtcc-imaging")

    def process(self, jpeg: bytes, spec: OutputSpec) -> bytes:
        """The frame as the city may see it; `ImageError` for anything that cannot be checked."""
        if self._closed:
            raise ImageError("image processor is closed")
        masks = _checked_masks(spec)
        max_width = _checked_max_width(spec.max_width)
        frame = read_jpeg(jpeg)
        if frame.frame_marker in LOSSLESS_OR_HIERARCHICAL:
            raise ImageError("lossless and hierarchical JPEGs are not supported")
        worker = self._worker()
        header = self._checked_header(worker.handle, frame)
        chosen = plan(frame, header, max_width)
        return check_clean(self._run(worker, frame, header, chosen, masks))

    def route(self, jpeg: bytes, spec: OutputSpec) -> Route:
        """Which route `process` would take for this frame (for tests and benchmarks)."""
        frame = read_jpeg(jpeg)
        header = self._checked_header(self._worker().handle, frame)
        return plan(frame, header, _checked_max_width(spec.max_width)).route

    async def process_async(self, jpeg: bytes, spec: OutputSpec) -> bytes:
        """`process` in the worker pool: JPEG work never runs on the event loop."""
        try:
            future = self._executor.submit(self.process, jpeg, spec)
        except RuntimeError as err:  # shut down
            raise ImageError("image processor is closed") from err
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Refuse new work; frames already queued still finish. Does not block."""
        self._closed = True
        self._executor.shutdown(wait=False)

    # -- internals

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            handle = Handle(self._lib, max_pixels=self._max_pixels, scan_limit=SCAN_LIMIT)
            worker = self._local.worker = _Worker(handle, Workspace())
        return worker

    def _checked_header(self, handle: Handle, frame: JpegFile) -> Header:
        header = handle.header(frame.data)
        if header.width * header.height > self._max_pixels:
            raise ImageError(f"JPEG has more than {self._max_pixels} pixels")
        if header.precision != 8 or frame.precision != 8:
            raise ImageError(f"{header.precision}-bit JPEGs are not supported")
        if header.lossless:
            raise ImageError("lossless and hierarchical JPEGs are not supported")
        if header.colorspace not in (Colorspace.YCBCR, Colorspace.GRAY, Colorspace.RGB):
            raise ImageError("CMYK and YCCK JPEGs are not supported")
        if (header.width, header.height) != (frame.width, frame.height):
            raise ImageError("JPEG frame header is inconsistent")
        return header

    def _run(
        self,
        worker: _Worker,
        frame: JpegFile,
        header: Header,
        chosen: Plan,
        masks: tuple[Polygon, ...],
    ) -> bytes:
        if chosen.route == Route.LOSSLESS:
            return lossless.transform(worker.handle, self._native, frame, chosen, masks)
        decode = decoded.via_planes if chosen.route == Route.PLANES else decoded.via_pixels
        return decode(
            worker.handle,
            native=self._native,
            work=worker.work,
            jpeg=frame.data,
            header=header,
            plan=chosen,
            masks=masks,
            quality=self._quality,
        )


def _checked_masks(spec: OutputSpec) -> tuple[Polygon, ...]:
    try:
        return validated_masks(spec.masks)
    except MaskError as err:
        raise ImageError(str(err)) from err


def _checked_max_width(max_width: object) -> int | None:
    if max_width is None:
        return None
    if isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 1:
        raise ImageError("max_width must be a positive integer")
    return max_width
