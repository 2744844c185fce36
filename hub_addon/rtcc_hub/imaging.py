"""Everything the city receives passes through here: masks, scaling and metadata stripping.

Pipeline (`ImageProcessor.process`):

1. `strip_metadata` walks the JPEG markers of the camera frame. This validates the structure
   (garbage, truncation, unknown markers → `ImageError`) and yields the frame without
   APP1..APP15/COM segments, a canonical JFIF APP0 without thumbnail, nothing after EOI.
2. libjpeg-turbo parses the header; `max_pixels`, 8-bit precision and the colour space are
   checked before any pixel is decoded.
3. No masks and no scaling needed: the stripped bytes are the output (no re-encode, no loss).
4. Otherwise the frame is decoded straight into its YUV planes (no RGB conversion), with
   libjpeg-turbo's DCT-domain scaling to the smallest size that is still at least the target,
   then a two-tap linear resize to the exact target (see `_resize_into`). Masks are painted
   into the planes and the planes are encoded again with the input's chroma subsampling.

Masks grow to whole MCUs of the *output* JPEG (a block is painted if any part of it touches
a polygon): every painted block is constant (Y = 0, Cb = Cr = 128), so its DCT has only a DC
term and it decodes to black without ringing from neighbouring content. Chroma is neutralised
one chroma sample beyond the painted blocks because decoders interpolate ("fancy upsampling")
subsampled chroma from the neighbouring sample; without the margin the border pixels of a
mask could pick up colour. (The margin sample lies in an unmasked block and is quantised
with it, so an RGB decoder may still show a trace of a few levels of the *outside* colour on
a mask's border pixels; nothing of the masked content reaches the encoder at all.) Block
boundaries count as touching: an edge exactly on an MCU boundary also takes the next MCU.

Polygons are filled by the nonzero winding rule, which covers a superset of even-odd for
self-intersecting polygons (the side of caution); degenerate polygons (a point, a line)
still cover the blocks they touch.

Input policy: 8-bit lossy JPEG (baseline, extended, progressive; Huffman or arithmetic).
YCbCr and greyscale are handled in their planes; RGB-coded JPEGs and unusual subsampling are
decoded through RGB and re-encoded as 4:4:4; CMYK/YCCK, 12/16-bit and lossless JPEGs are
refused with `ImageError` (no camera produces them, and fewer paths mean fewer surprises).
libjpeg-turbo warnings (corrupt data, premature end) are errors: the frame is refused.

CPU work runs in a thread pool. PyTurboJPEG 2.x creates a fresh native handle per call and
keeps no mutable per-call state on the `TurboJPEG` object, but that is an implementation
detail; each worker thread gets its own instance (`threading.local`) so we do not rely on it.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import turbojpeg as tj

from .maskgeom import MaskError, Polygon, block_mask, row_runs, validated_masks

type _U8 = npt.NDArray[np.uint8]
type _Rect = tuple[int, int, int, int]  # row start, row stop, column start, column stop

LIB_ENV: Final = "RTCC_TURBOJPEG_LIB"

# A progressive JPEG may carry thousands of tiny scans, each a pass over the whole image:
# a CPU bomb within max_pixels. Real encoders use at most a few dozen. Likewise real JPEGs
# have a few dozen markers; millions of tiny ones would keep the marker walker busy.
_SCAN_LIMIT: Final = 100
_MAX_MARKERS: Final = 2000
_NEUTRAL_CHROMA: Final = 128
_MASK_CACHE_SIZE: Final = 64


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """What the city may see of one camera: hashable, so one encode per distinct output."""

    masks: tuple[Polygon, ...] = ()
    max_width: int | None = None


class ImageError(Exception):
    """The frame cannot be shared: corrupt, not a JPEG, too large, or an unusable spec."""


# --------------------------------------------------------------------------------------------
# Marker walker (no decoding; bytes are copied)

_SOI: Final = 0xD8
_EOI: Final = 0xD9
_SOS: Final = 0xDA
_DNL: Final = 0xDC
_APP0: Final = 0xE0
_COM: Final = 0xFE
_TEM: Final = 0x01
_RST: Final = frozenset(range(0xD0, 0xD8))
_METADATA: Final = frozenset(range(0xE1, 0xF0)) | {_COM}  # APP1..APP15, COM
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_LOSSLESS_OR_HIERARCHICAL: Final = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF})
_TABLES: Final = frozenset({0xC4, 0xCC, 0xDB, 0xDD})  # DHT, DAC, DQT, DRI
_JFIF_ID: Final = b"JFIF\x00"
_JFIF_BODY: Final = 14  # identifier, version, units, densities, thumbnail size
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing), RSTn, or more 0xFF (fill);
# any other byte after 0xFF is the marker that ends the scan.
_SCAN_END: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class _Walked(NamedTuple):
    source: bytes  # a private copy of the input
    jpeg: bytes  # the input without metadata
    frame_marker: int


def strip_metadata(jpeg: bytes) -> bytes:
    """Return `jpeg` without APP1..APP15 and COM segments, by copying bytes (no re-encode).

    APP0 is kept only as one canonical JFIF header without thumbnail (a JFIF/JFXX thumbnail
    is an unprocessed image). Fill bytes and stray RST/TEM markers between segments are
    dropped, entropy-coded data is copied verbatim, anything after EOI is dropped. Raises
    `ImageError` for anything that is not a well-formed JPEG stream. No size check here:
    `ImageProcessor.process` validates the header and `max_pixels` as well.
    """
    return _walk(jpeg).jpeg


def _jpeg_bytes(jpeg: object) -> bytes:
    if not isinstance(jpeg, bytes | bytearray | memoryview):
        raise ImageError("JPEG must be bytes")
    data = bytes(jpeg)  # a private copy: nobody can change it while we work
    if not data.startswith(b"\xff\xd8"):
        raise ImageError("not a JPEG: no SOI marker")
    return data


def _walk(jpeg: bytes) -> _Walked:
    data = _jpeg_bytes(jpeg)
    out = bytearray(b"\xff\xd8")
    pos = 2
    frame_marker: int | None = None
    scans = 0
    jfif_kept = False
    for _ in range(_MAX_MARKERS):
        marker, pos = _next_marker(data, pos)
        if marker == _EOI:
            if not scans:
                raise ImageError("JPEG has no image data")
            out += b"\xff\xd9"
            return _Walked(data, bytes(out), frame_marker if frame_marker is not None else 0)
        if marker in _RST or marker == _TEM:
            continue  # standalone markers, meaningless outside a scan
        if marker == _SOI:
            raise ImageError("JPEG has a second SOI marker")
        end = _segment_end(data, pos)
        if marker == _SOS:
            if frame_marker is None:
                raise ImageError("JPEG scan before its frame header")
            scans += 1
            if scans > _SCAN_LIMIT:
                raise ImageError(f"JPEG has more than {_SCAN_LIMIT} scans")
            end = _scan_end(data, end)
            out += data[pos - 2 : end]
        elif marker in _SOF:
            if frame_marker is not None:
                raise ImageError("JPEG has more than one frame header")
            frame_marker = marker
            out += data[pos - 2 : end]
        else:
            kept = _kept_segment(
                marker, data[pos - 2 : end], scanned=scans > 0, jfif_kept=jfif_kept
            )
            jfif_kept = jfif_kept or (marker == _APP0 and bool(kept))
            out += kept
        pos = end
    raise ImageError(f"JPEG has more than {_MAX_MARKERS} markers")


def _kept_segment(marker: int, segment: bytes, *, scanned: bool, jfif_kept: bool) -> bytes:
    """What of a table or application segment (marker and length included) goes out."""
    if marker in _TABLES or (marker == _DNL and scanned):
        return segment
    if marker in _METADATA:
        return b""
    if marker == _APP0:
        body = segment[4:]
        if not jfif_kept and body.startswith(_JFIF_ID) and len(body) >= _JFIF_BODY:
            return b"\xff\xe0\x00\x10" + body[: _JFIF_BODY - 2] + b"\x00\x00"
        return b""
    raise ImageError(f"unsupported JPEG marker 0x{marker:02X}")


def _next_marker(data: bytes, pos: int) -> tuple[int, int]:
    """Read the marker at `pos` (after optional 0xFF fill); return (code, position after)."""
    if pos >= len(data):
        raise ImageError("JPEG is truncated")
    if data[pos] != 0xFF:
        raise ImageError(f"JPEG has garbage at byte {pos}")
    while pos < len(data) and data[pos] == 0xFF:
        pos += 1
    if pos >= len(data):
        raise ImageError("JPEG is truncated")
    if data[pos] == 0x00:
        raise ImageError(f"JPEG has a stuffed byte outside a scan at byte {pos}")
    return data[pos], pos + 1


def _segment_end(data: bytes, pos: int) -> int:
    """End of the length-prefixed segment whose length field starts at `pos`."""
    if pos + 2 > len(data):
        raise ImageError("JPEG is truncated")
    length = int.from_bytes(data[pos : pos + 2], "big")
    if length < 2 or pos + length > len(data):
        raise ImageError("JPEG segment length is invalid or truncated")
    return pos + length


def _scan_end(data: bytes, start: int) -> int:
    """End of the entropy-coded data starting at `start`, without trailing fill bytes."""
    match = _SCAN_END.search(data, start)
    if match is None:
        raise ImageError("JPEG is truncated inside a scan")
    end = match.start()
    # Entropy-coded data never ends in a bare 0xFF: those are fill bytes before the marker.
    while end > start and data[end - 1] == 0xFF:
        end -= 1
    return end


# --------------------------------------------------------------------------------------------
# Mask geometry


@lru_cache(maxsize=_MASK_CACHE_SIZE)
def _plane_rects(
    masks: tuple[Polygon, ...], width: int, height: int, subsample: int
) -> tuple[tuple[_Rect, ...], ...]:
    """Rectangles to paint per plane (luma first) of a `width` x `height` output frame.

    `subsample` is a TJSAMP value, or -1 for the RGB path (interleaved, 8x8 blocks, no chroma
    planes). Luma (or RGB) rectangles cover whole MCUs; chroma rectangles cover the same MCUs'
    8x8 chroma blocks plus one sample of margin for the decoder's chroma interpolation.
    """
    if subsample < 0:
        mcu_w = mcu_h = 8
    else:
        mcu_w, mcu_h = tj.tjMCUWidth[subsample], tj.tjMCUHeight[subsample]
    runs = row_runs(block_mask(masks, width, height, mcu_w, mcu_h))
    luma = tuple((r * mcu_h, (r + 1) * mcu_h, a * mcu_w, b * mcu_w) for r, a, b in runs)
    if subsample in (-1, tj.TJSAMP_GRAY):
        return (luma,)
    chroma = tuple(
        (max(0, r * 8 - 1), (r + 1) * 8 + 1, max(0, a * 8 - 1), b * 8 + 1) for r, a, b in runs
    )
    return (luma, chroma, chroma)


def _paint(plane: _U8, rects: tuple[_Rect, ...], value: int) -> None:
    for top, bottom, left, right in rects:
        plane[top:bottom, left:right] = value  # numpy clips the far edges to the plane


# --------------------------------------------------------------------------------------------
# Scaling


def _target_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """Output size: at most `max_width` wide, aspect ratio kept, never upscaled."""
    if max_width is None or width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def _scaled(size: int, factor: tuple[int, int]) -> int:
    return -(-size * factor[0] // factor[1])  # libjpeg-turbo's TJSCALED (ceiling)


def _decode_factor(
    width: int, height: int, target: tuple[int, int], factors: frozenset[tuple[int, int]]
) -> tuple[int, int]:
    """Smallest DCT-domain scaling factor (<= 1) whose output still covers `target`.

    Trade-off: the scaled IDCT averages properly and costs about what a full decode costs
    (3/4 is no faster than 1/1 in libjpeg-turbo 3, 1/2 and below are faster), but it only
    comes in steps of 1/8. Decoding to the step at or above the target and resampling the
    rest keeps the allowed width instead of dropping to the step below (1920 -> 1280 would
    otherwise give 1200), and the resample only bridges a small ratio (1440 -> 1280 here;
    at most 5/4 for reductions down to 1/2, at most 2 below that) where two taps suffice.
    """
    usable = [f for f in factors if f[0] <= f[1]]
    fits = [f for f in usable if _scaled(width, f) >= target[0] and _scaled(height, f) >= target[1]]
    return min(fits, key=lambda f: f[0] / f[1], default=(1, 1))


@lru_cache(maxsize=32)
def _taps(
    size_in: int, size_out: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.uint16]]:
    """Source indices and 8-bit weights of a two-tap linear resample (pixel-centre aligned)."""
    source = (np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0.0, size_in - 1)
    first = np.floor(source).astype(np.intp)
    second = np.minimum(first + 1, size_in - 1)
    weight = np.rint((source - first) * 256).astype(np.uint16)
    for array in (first, second, weight):
        array.flags.writeable = False
    return first, second, weight


def _resize_into(source: _U8, target: _U8) -> None:
    """Two-tap linear resample of a 2-D (or 3-D interleaved) uint8 image into `target`.

    Only ever used for the remainder after DCT scaling (see `_decode_factor`), where two taps
    lose little and cost far less than an area filter.
    """
    target[...] = _lerp(_lerp(source, target.shape[0], axis=0), target.shape[1], axis=1)


def _lerp(source: _U8, size_out: int, *, axis: int) -> _U8:
    """Linear interpolation along `axis` in 8-bit fixed point (255 * 256 fits uint16)."""
    if source.shape[axis] == size_out:
        return source
    first, second, weight = _taps(source.shape[axis], size_out)
    shape = [1] * source.ndim
    shape[axis] = size_out
    w_second = weight.reshape(shape)
    acc: npt.NDArray[np.uint16] = np.take(source, first, axis=axis).astype(np.uint16)
    np.multiply(acc, 256 - w_second, out=acc)
    acc += np.take(source, second, axis=axis) * w_second
    acc += 128
    acc >>= 8
    return acc.astype(np.uint8)


# --------------------------------------------------------------------------------------------
# The processor


class _Header(NamedTuple):
    width: int
    height: int
    subsample: int
    colorspace: int
    precision: int


_LIB_ERRORS: Final = (OSError, ValueError, RuntimeError, MemoryError, TypeError)


class ImageProcessor:
    """Masks, scales and strips camera frames; synchronous `process` or thread-pool async."""

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
        self._lib_path = lib_path if lib_path is not None else os.environ.get(LIB_ENV) or None
        self._local = threading.local()
        self._closed = False
        self._codec()  # a missing or too old library fails here, at start-up
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rtcc-imaging")

    def process(self, jpeg: bytes, spec: OutputSpec) -> bytes:
        """The frame as the city may see it; `ImageError` for anything that cannot be checked."""
        if self._closed:
            raise ImageError("image processor is closed")
        try:
            masks = validated_masks(spec.masks)
        except MaskError as err:
            raise ImageError(str(err)) from err
        max_width = spec.max_width
        if max_width is not None and (
            isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 1
        ):
            raise ImageError("max_width must be a positive integer")
        walked = _walk(jpeg)
        if walked.frame_marker in _LOSSLESS_OR_HIERARCHICAL:
            raise ImageError("lossless and hierarchical JPEGs are not supported")
        jpeg = walked.source  # from here on, only the bytes that were walked
        codec = self._codec()
        header = self._header(codec, jpeg)
        target = _target_size(header.width, header.height, max_width)
        if not masks and target == (header.width, header.height):
            stripped = walked.jpeg
            # Without APP14 a decoder could read the colours differently: only pass the
            # stripped bytes on if they still parse as the same image.
            if (
                header.colorspace in (tj.TJCS_YCbCr, tj.TJCS_GRAY)
                and self._header(codec, stripped) == header
            ):
                return stripped
        return self._reencode(codec, jpeg, header, masks, target)

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

    def _codec(self) -> Any:
        codec = getattr(self._local, "codec", None)
        if codec is None:
            try:
                codec = tj.TurboJPEG(
                    lib_path=self._lib_path, max_pixels=self._max_pixels, scan_limit=_SCAN_LIMIT
                )
            except (OSError, RuntimeError) as err:
                raise ImageError(f"cannot load libjpeg-turbo 3.x: {err}") from err
            self._local.codec = codec
        return codec

    def _header(self, codec: Any, jpeg: bytes) -> _Header:
        try:
            raw: tuple[int, int, int, int, int] = codec.decode_header(jpeg, return_precision=True)
        except _LIB_ERRORS as err:
            raise ImageError(f"JPEG header is unreadable: {err}") from err
        header = _Header(*(int(value) for value in raw))
        if header.width < 1 or header.height < 1:
            raise ImageError("JPEG has no pixels")
        if header.width * header.height > self._max_pixels:
            raise ImageError(f"JPEG has more than {self._max_pixels} pixels")
        if header.precision != 8:
            raise ImageError(f"{header.precision}-bit JPEGs are not supported")
        if header.colorspace not in (tj.TJCS_YCbCr, tj.TJCS_GRAY, tj.TJCS_RGB):
            raise ImageError("CMYK and YCCK JPEGs are not supported")
        return header

    def _reencode(
        self,
        codec: Any,
        jpeg: bytes,
        header: _Header,
        masks: tuple[Polygon, ...],
        target: tuple[int, int],
    ) -> bytes:
        factors: frozenset[tuple[int, int]] = codec.scaling_factors
        factor = _decode_factor(header.width, header.height, target, factors)
        try:
            if header.colorspace == tj.TJCS_RGB or header.subsample == tj.TJSAMP_UNKNOWN:
                output = self._via_rgb(
                    codec=codec, jpeg=jpeg, masks=masks, target=target, factor=factor
                )
            else:
                output = self._via_yuv(
                    codec=codec, jpeg=jpeg, header=header, masks=masks, target=target, factor=factor
                )
        except _LIB_ERRORS as err:
            raise ImageError(f"JPEG cannot be processed: {err}") from err
        # The encoder writes only JFIF; walking the output proves it (and costs < 1 ms).
        return strip_metadata(output)

    def _via_yuv(
        self,
        *,
        codec: Any,
        jpeg: bytes,
        header: _Header,
        masks: tuple[Polygon, ...],
        target: tuple[int, int],
        factor: tuple[int, int],
    ) -> bytes:
        decoded: tuple[_U8, list[Any]] = codec.decode_to_yuv(
            jpeg,
            scaling_factor=factor,
            pad=1,
            flags=tj.TJFLAG_STOPONWARNING,
            return_metadata=True,
        )
        buffer, layout = decoded
        subsample = header.subsample
        planes = [
            buffer[p.offset : p.offset + p.stride * p.height].reshape(p.height, p.stride)
            for p in layout
        ]
        width, height = target
        if planes[0].shape != _plane_shape(0, width, height, subsample):
            decoded_size = (_scaled(header.width, factor), _scaled(header.height, factor))
            buffer, planes = _resize_planes(planes, subsample, decoded_size, target)
        for index, rects in enumerate(_plane_rects(masks, width, height, subsample)):
            _paint(planes[index], rects, 0 if index == 0 else _NEUTRAL_CHROMA)
        encoded: bytes = codec.encode_from_yuv(
            buffer, height, width, quality=self._quality, jpeg_subsample=subsample, align=1
        )
        return encoded

    def _via_rgb(
        self,
        *,
        codec: Any,
        jpeg: bytes,
        masks: tuple[Polygon, ...],
        target: tuple[int, int],
        factor: tuple[int, int],
    ) -> bytes:
        pixels: _U8 = codec.decode(
            jpeg, pixel_format=tj.TJPF_RGB, scaling_factor=factor, flags=tj.TJFLAG_STOPONWARNING
        )
        width, height = target
        if pixels.shape[:2] != (height, width):
            resized = np.empty((height, width, 3), dtype=np.uint8)
            _resize_into(pixels, resized)
            pixels = resized
        (rects,) = _plane_rects(masks, width, height, -1)
        _paint(pixels, rects, 0)
        # 4:4:4 so that no chroma is shared between masked and unmasked pixels.
        encoded: bytes = codec.encode(
            pixels, quality=self._quality, pixel_format=tj.TJPF_RGB, jpeg_subsample=tj.TJSAMP_444
        )
        return encoded


def _plane_shape(index: int, width: int, height: int, subsample: int) -> tuple[int, int]:
    """(rows, cols) of a plane in libjpeg-turbo's YUV layout (luma padded to whole samples)."""
    h_factor = tj.tjMCUWidth[subsample] // 8
    v_factor = tj.tjMCUHeight[subsample] // 8
    cols, rows = -(-width // h_factor), -(-height // v_factor)
    if index == 0:
        return rows * v_factor, cols * h_factor
    return rows, cols


def _resize_planes(
    planes: list[_U8], subsample: int, decoded: tuple[int, int], target: tuple[int, int]
) -> tuple[_U8, list[_U8]]:
    """Resample decoded planes into a fresh unified buffer (align 1) of the target size.

    Luma is resampled over the image area only (`decoded` is its width and height), then its
    edge is replicated into the padding; chroma planes have no padding of their own.
    """
    width, height = target
    shapes = [_plane_shape(i, width, height, subsample) for i in range(len(planes))]
    buffer = np.empty(sum(rows * cols for rows, cols in shapes), dtype=np.uint8)
    resized: list[_U8] = []
    offset = 0
    for index, (plane, (rows, cols)) in enumerate(zip(planes, shapes, strict=True)):
        out = buffer[offset : offset + rows * cols].reshape(rows, cols)
        offset += rows * cols
        if index == 0:
            _resize_into(plane[: decoded[1], : decoded[0]], out[:height, :width])
            out[:height, width:] = out[:height, width - 1 : width]
            out[height:, :] = out[height - 1 : height, :]
        else:
            _resize_into(plane, out)
        resized.append(out)
    return buffer, resized
