"""Test doubles: a deterministic image processor, a camera source and a movable clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeProcessor:
    """Stands in for imaging.ImageProcessor: output names the input and the spec applied."""

    def __init__(self) -> None:
        self.calls: Counter[Any] = Counter()
        self.fail = False
        self.closed = False

    def process(self, jpeg: bytes, spec: Any) -> bytes:
        from rtcc_hub.imaging import ImageError

        if self.fail:
            raise ImageError("bad image")
        self.calls[spec] += 1
        return b"\xff\xd8" + jpeg + b"|" + repr(spec).encode() + b"\xff\xd9"

    async def process_async(self, jpeg: bytes, spec: Any) -> bytes:
        await asyncio.sleep(0)
        return self.process(jpeg, spec)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeCameras:
    """Camera stills by entity id; counts upstream fetches; can fail or hang."""

    fetches: Counter[str] = field(default_factory=Counter)
    failing: set[str] = field(default_factory=set)
    delay_s: float = 0.0

    async def __call__(self, entity_id: str) -> bytes:
        from rtcc_hub.ha_client import CameraUnavailable

        self.fetches[entity_id] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if entity_id in self.failing:
            raise CameraUnavailable(entity_id)
        return f"RAW {entity_id} #{self.fetches[entity_id]}".encode()
