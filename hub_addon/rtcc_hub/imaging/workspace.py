"""Per-thread buffers that outlive a frame.

A 1080p frame through the scaled path needs some 14 MB of planes and temporaries. Fresh
numpy arrays of that size are fresh mmaps: thousands of page faults and a few milliseconds
of system time per frame, which is most of what the scaled path costs beyond the codec
itself (benchmarks/imaging.py measures it against allocator settings). Each worker thread
owns one `Workspace`; its buffers grow to the largest frame seen and are then reused.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class Buffer:
    """One grow-only, C-contiguous buffer."""

    def __init__(self) -> None:
        self._raw: npt.NDArray[np.uint8] = np.empty(0, dtype=np.uint8)

    def bytes(self, size: int) -> npt.NDArray[np.uint8]:
        """The first `size` bytes (contents undefined)."""
        if self._raw.size < size:
            # Headroom, so that frames growing by a few bytes do not reallocate every time.
            self._raw = np.empty(size + size // 8, dtype=np.uint8)
        return self._raw[:size]

    def array[T: np.generic](self, shape: tuple[int, ...], dtype: type[T]) -> npt.NDArray[T]:
        """A C-contiguous array of `shape` over this buffer (contents undefined)."""
        itemsize = np.dtype(dtype).itemsize
        count = 1
        for side in shape:
            count *= side
        raw = self.bytes(count * itemsize + itemsize)
        # Align to the item size (np.empty's own alignment is only guaranteed at offset 0).
        offset = (-raw.ctypes.data) % itemsize
        return raw[offset : offset + count * itemsize].view(dtype).reshape(shape)


class Workspace:
    """Named buffers of one thread: each name is one buffer, reused frame after frame."""

    def __init__(self) -> None:
        self._buffers: dict[str, Buffer] = {}

    def array[T: np.generic](
        self, name: str, shape: tuple[int, ...], dtype: type[T]
    ) -> npt.NDArray[T]:
        buffer = self._buffers.get(name)
        if buffer is None:
            buffer = self._buffers[name] = Buffer()
        return buffer.array(shape, dtype)

    def u8(self, name: str, shape: tuple[int, ...]) -> npt.NDArray[np.uint8]:
        return self.array(name, shape, np.uint8)
