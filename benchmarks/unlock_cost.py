"""Unlock cost against the number of unlocks held: one POST at 0, 1,000 and 5,000 open.

The real add-on services in this process (no HTTP, so nothing but the add-on's own work is
timed: token verification, the replay and quota look-ups, the decision, the transaction with
its audit entries), tokens signed beforehand (signing is the city's cost). Prints CPU per POST
(all threads of the process: the database work runs on the writer and reader threads),
wall time per POST, and the ratios against the 0-open baseline measured in the same run. Then
the same over HTTP on loopback with the add-on as a subprocess, for scale. Goal (issue 8): a
POST at 5,000 open unlocks costs at most 1.5x one at 0.

    .venv/bin/python benchmarks/unlock_cost.py [--posts 300] [--held 0 1000 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rtcc_hub.app import AddOn
from rtcc_hub.carriage import CityRequest, Reply
from rtcc_hub.options import parse_options
from tests.support.city import CityHub, area_at

POLICY = {
    "consent": True,
    "home": {"lat": 32.2988, "lon": -90.1848},
    "max_unlocks_per_week": 10000,
    "require_case_number": False,
    "cameras": [{"entity_id": f"camera.c{i}", "label": f"C{i}", "share": True} for i in range(4)],
}


class _NoImages:
    """The benchmark never serves images."""

    async def process_async(self, jpeg: bytes, spec: object) -> bytes:
        raise AssertionError("not used")

    def close(self) -> None:
        return None


async def _fetch(entity_id: str) -> bytes:
    raise AssertionError("not used")


def _tokens(city: CityHub, home_id: str, count: int) -> list[bytes]:
    return [
        json.dumps(
            {"token": city.token(home_id, area=area_at(100), duration_s=3600, scope=["snapshot"])}
        ).encode()
        for _ in range(count)
    ]


async def _post(addon: AddOn, body: bytes) -> None:
    answer = await addon.router.handle(CityRequest("POST", "/api/v1/unlocks", body, client="b"))
    assert isinstance(answer, Reply), answer
    assert answer.status == 201, answer
    assert json.loads(answer.body)["status"] == "active"


async def measure(held: int, posts: int, city: CityHub) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        options = parse_options(
            {
                "hubs": [city.hub_config()],
                "city_port": 0,
                "control_port": 0,
                "control_token": "bench-control-token-0123456789",
                "ha_url": "http://127.0.0.1:9",
                "ha_token": "x",
            }
        )
        addon = await AddOn.create(
            options,
            Path(tmp),
            image_processor=_NoImages(),  # type: ignore[arg-type]
            fetch_still=_fetch,
        )
        try:
            await addon.owner.put_policy(POLICY)
            for _ in range(held):  # signed one by one: a token's iat must be within 60 s
                await _post(addon, _tokens(city, addon.home_id, 1)[0])
            assert len(addon.state.ledger.open_unlocks()) == held
            bodies = _tokens(city, addon.home_id, posts)
            walls: list[float] = []
            cpu0 = time.process_time()
            for body in bodies:
                start = time.perf_counter()
                await _post(addon, body)
                walls.append(time.perf_counter() - start)
            cpu = (time.process_time() - cpu0) / posts
        finally:
            await addon.stop()
    walls.sort()
    return {
        "cpu_ms": cpu * 1000,
        "p50_ms": statistics.median(walls) * 1000,
        "p99_ms": walls[int(len(walls) * 0.99) - 1] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--held", type=int, nargs="+", default=[0, 1000, 5000])
    args = parser.parse_args()
    city = CityHub.generate("bench-rtcc", "Bench RTCC")
    results = {held: await measure(held, args.posts, city) for held in args.held}
    base = results[args.held[0]]
    print(f"one POST /api/v1/unlocks through the add-on's services ({args.posts} per row)")
    print(f"{'held open':>10} {'CPU ms':>8} {'ratio':>6} {'wall p50':>9} {'wall p99':>9}")
    for held, row in results.items():
        ratio = row["cpu_ms"] / base["cpu_ms"]
        print(
            f"{held:>10} {row['cpu_ms']:>8.3f} {ratio:>6.2f} "
            f"{row['p50_ms']:>8.3f}ms {row['p99_ms']:>8.3f}ms"
        )
    largest = results[args.held[-1]]["cpu_ms"] / base["cpu_ms"]
    verdict = "met" if largest <= 1.5 else "NOT met"
    print(f"goal: at {args.held[-1]} open at most 1.5x the cost at {args.held[0]}: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
