"""Stream fan-out: what more city viewers cost the home.

Runs the real add-on (subprocess) against the stand-in Home Assistant and opens 1, then N,
viewers on one shared camera (spread over two unlocks). For each run it prints frames delivered,
upstream camera_proxy requests, and the add-on's CPU time per delivered frame, and the ratios
against the single-viewer baseline measured in the same run. The design goal — one upstream poll
and one mask/scale per frame however many viewers — shows as upstream requests staying flat
and CPU per delivered frame falling as viewers grow.

    .venv/bin/python benchmarks/streaming.py [--viewers 1 4 16] [--seconds 6] [--fps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.city import DEFAULT_HOME, CityHub, area_at
from tests.support.hub_process import HubProcess
from tests.support.standin_ha import Camera, StandinHA
from tests.support.streams import mjpeg_parts

CAMERA = "camera.front_door"
HA_TOKEN = "bench-ha-token"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    hub: HubProcess, city: CityHub, ha: StandinHA, viewers: int, seconds: float
) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        unlocks = []
        for _ in range(2):
            token = city.token(
                hub.home_id, area=area_at(50), scope=["snapshot", "stream"], duration_s=600
            )
            async with session.post(f"{hub.city_url}/api/v1/unlocks", json={"token": token}) as r:
                body = await r.json()
                assert body["status"] == "active", body
                unlocks.append(body)
        ha.reset_counters()
        assert hub.proc is not None
        cpu0, t0 = cpu_seconds(hub.proc.pid), time.monotonic()
        frames = 0
        nbytes = 0

        async def viewer(index: int) -> None:
            nonlocal frames, nbytes
            unlock = unlocks[index % 2]
            url = (
                f"{hub.city_url}/api/v1/unlocks/{unlock['unlock_id']}/cameras/"
                f"{unlock['cameras'][0]['id']}/stream"
            )
            headers = {"Authorization": f"Bearer {unlock['access_token']}"}
            async with session.get(url, headers=headers) as resp:
                assert resp.status == 200, resp.status
                async for part in mjpeg_parts(resp):
                    if part.at - t0 >= seconds:
                        break
                    frames += 1
                    nbytes += len(part.body)

        await asyncio.gather(*(viewer(i) for i in range(viewers)))
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(hub.proc.pid) - cpu0
        for unlock in unlocks:
            headers = {"Authorization": f"Bearer {unlock['access_token']}"}
            async with session.delete(
                f"{hub.city_url}/api/v1/unlocks/{unlock['unlock_id']}", headers=headers
            ):
                pass
    upstream = ha.requests(CAMERA)
    return {
        "viewers": viewers,
        "frames": frames,
        "fps_per_viewer": frames / viewers / elapsed,
        "upstream": upstream,
        "upstream_per_s": upstream / elapsed,
        "cpu_ms_per_frame": 1000 * cpu / max(frames, 1),
        "kb_per_frame": nbytes / max(frames, 1) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, default=10.0)
    args = parser.parse_args()

    city = CityHub.generate("bench-rtcc", "Bench RTCC")
    camera = Camera(CAMERA, width=1920, height=1080, noise=True)
    with (
        StandinHA(token=HA_TOKEN, cameras=[camera]).running() as ha,
        tempfile.TemporaryDirectory() as data,
        HubProcess(Path(data), hubs=[city.hub_config()], ha_url=ha.url, ha_token=HA_TOKEN) as hub,
    ):
        hub.put_policy(
            {
                "consent": True,
                "home": DEFAULT_HOME,
                "allow_live": True,
                "max_unlocks_per_week": 1000,
                "cameras": [
                    {
                        "entity_id": CAMERA,
                        "label": "Front door",
                        "share": True,
                        "masks": [[[0.0, 0.0], [0.35, 0.0], [0.35, 0.6], [0.0, 0.6]]],
                        "max_width": 1280,
                        "max_fps": args.fps,
                    }
                ],
            }
        )
        results = [asyncio.run(run(hub, city, ha, n, args.seconds)) for n in args.viewers]

    base = results[0]
    print(
        "1920x1080 noisy camera -> max_width 1280, one mask,"
        f" max_fps {args.fps:g}, {args.seconds:g} s per run"
    )
    columns = ("viewers", "frames", "fps/viewer", "upstream/s", "CPU ms/frame", "KiB/frame")
    print(" ".join(f"{c:>12}" for c in (*columns, "upstream x", "CPU/frame x")))
    for r in results:
        row = (
            f"{r['viewers']:>12.0f}",
            f"{r['frames']:>12.0f}",
            f"{r['fps_per_viewer']:>12.1f}",
            f"{r['upstream_per_s']:>12.1f}",
            f"{r['cpu_ms_per_frame']:>12.1f}",
            f"{r['kb_per_frame']:>12.0f}",
            f"{r['upstream_per_s'] / base['upstream_per_s']:>12.2f}",
            f"{r['cpu_ms_per_frame'] / base['cpu_ms_per_frame']:>12.2f}",
        )
        print(" ".join(row))


if __name__ == "__main__":
    main()
