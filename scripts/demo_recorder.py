"""Records the demo camera into a stand-in Frigate, as Frigate records a real camera.

Frigate keeps a camera's recording as 10 s MP4 segments (H.264, named by their start second)
and lists them on `GET /api/{camera}/recordings`; the add-on asks it for a clip of an
incident's footage window (PROTOCOL.md section 7). The demo has no Frigate, so this pulls the
demo camera's own stills at a steady rate, encodes each 10 s with PyAV (libx264) and registers
the finished segment with `tests.support.standin_frigate.StandinFrigate`, which serves Frigate's
real routes from them. The clip the city later receives is therefore made from exactly what the
street camera showed (the neighbour's window and the clock included) during the demo.

    recorder = CameraRecorder(session, camera_url + "/still.jpg", frigate, "street", folder)
    task = asyncio.create_task(recorder.run())   # ~20 s: two segments
    await recorder.finished.wait()
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import demo_scene

from tests.support.standin_frigate import SegmentRow, StandinFrigate


def encode_segment(path: Path, jpegs: list[bytes], fps: int) -> None:
    """The stills as one H.264 MP4 at `fps`, timestamps from 0 (a Frigate segment)."""
    first = demo_scene.decode(jpegs[0])
    height, width = first.shape[:2]
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        # A keyframe every 2 s, no B-frames: what camera firmware typically sends Frigate.
        video.codec_context.options = {"preset": "ultrafast", "g": str(fps * 2), "bf": "0"}
        for number, jpeg in enumerate(jpegs):
            frame = av.VideoFrame.from_ndarray(demo_scene.decode(jpeg), format="rgb24")
            frame.pts = number
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)


@dataclass
class CameraRecorder:
    session: aiohttp.ClientSession
    still_url: str
    frigate: StandinFrigate
    camera: str
    directory: Path
    fps: int = 5
    segment_s: int = 10
    segments: int = 2
    clock: Callable[[], float] = time.time
    rows: list[SegmentRow] = field(default_factory=list)
    missed: int = 0  # stills the camera did not give in time (the last one is repeated)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None

    @property
    def seconds(self) -> float:
        return float(self.segments * self.segment_s)

    @property
    def recorded_s(self) -> float:
        return sum(row.duration for row in self.rows)

    async def run(self) -> list[SegmentRow]:
        """Record `segments` back-to-back segments; encode each while the next is captured."""
        self.directory.mkdir(parents=True, exist_ok=True)
        encoding: list[asyncio.Task[None]] = []
        try:
            # Frigate's segments start on whole seconds (their file names carry the second).
            start = float(math.ceil(self.clock()))
            for _ in range(self.segments):
                jpegs = await self._capture(start)
                encoding.append(asyncio.create_task(self._store(start, jpegs)))
                start += self.segment_s
            await asyncio.gather(*encoding)
        except BaseException as err:
            self.error = err
            for task in encoding:
                task.cancel()
            raise
        finally:
            self.finished.set()
        return self.rows

    async def _capture(self, start: float) -> list[bytes]:
        jpegs: list[bytes] = []
        for number in range(self.segment_s * self.fps):
            due = start + number / self.fps
            await asyncio.sleep(max(0.0, due - self.clock()))
            jpeg = await self._still()
            if jpeg is None:
                self.missed += 1
                if not jpegs:
                    continue
                jpeg = jpegs[-1]
            jpegs.append(jpeg)
        if not jpegs:
            raise RuntimeError(f"the camera gave no still at {self.still_url} for a whole segment")
        return jpegs

    async def _still(self) -> bytes | None:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            timeout = aiohttp.ClientTimeout(total=1.0 / self.fps * 0.9)
            async with self.session.get(self.still_url, timeout=timeout) as resp:
                if resp.status == 200:
                    return await resp.read()
        return None

    async def _store(self, start: float, jpegs: list[bytes]) -> None:
        path = self.directory / f"{self.camera}-{int(start)}.mp4"
        await asyncio.to_thread(encode_segment, path, jpegs, self.fps)
        self.rows.append(
            await asyncio.to_thread(self.frigate.add_segment, self.camera, path, start)
        )
        self.rows.sort(key=lambda row: row.start_time)
