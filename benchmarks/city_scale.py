"""City scale: one broadcast to K homes on one Mosquitto, and what a relay costs one home.

Three measurements, all in one run so that their ratios share the machine's load:

1. **Broadcast** to K homes (default 100, 1,000 and 5,000). The homes are a neighbourhood of
   scripts/neighbourhood.py in this process (real add-ons: each its own data dir, SQLite
   store, relay connection and policy, 2 in 5 answering with cameras); the broker is
   tests/support/broker.py's Mosquitto (the documented configuration); the city is another
   process (`--city-child`, started by this one) that asks them all with the library's
   `rtcc_hub.city.broadcast_signing`, signing each home's token as its request goes out, as
   `rtcc-city broadcast` does. Per K and
   round: time from the broadcast's start to the last answer, p50/p99 of the homes' answer
   times, messages/s through the broker (requests + answers), the broker's CPU (from
   /proc/PID/stat), the homes' and the city's CPU, and memory per home (this process's RSS
   delta over K). Every answer is checked: the accepting homes are exactly the ones expected.
   A K whose real add-ons would not fit this process's descriptor limit runs light stand-in
   homes (`LightHome`: the real relay, token check and decision, nothing stored) and says so,
   with the numbers that decided it; the largest real K is then run light too, for scale.
2. **Relay vs HTTP**: one real add-on with both its city listener (loopback) and a relay;
   sequential unlocks over each, interleaved; p50/p99 and the ratio of the p99s.
3. **POST cost at 5,000 open vs 0**: benchmarks/unlock_cost.py's `measure`, called as is.

Goals (issue 8, this 2-core machine): 1,000 homes all answered within 3 s (median round);
relay unlock p99 within 2x HTTP's; a POST at 5,000 open at most 1.5x one at 0.

    .venv/bin/python benchmarks/city_scale.py [--homes 100 1000 5000] [--rounds 3]
        [--light] [--pairs 300] [--posts 300] [--skip-relay] [--skip-unlock-cost]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))

from neighbourhood import HubEntry, Neighbourhood, rss_bytes, turbojpeg_lib  # noqa: E402
from unlock_cost import POLICY, measure  # noqa: E402

from rtcc_hub.app import AddOn, open_state  # noqa: E402
from rtcc_hub.city.broadcast import broadcast_signing  # noqa: E402
from rtcc_hub.city.client import CityClient  # noqa: E402
from rtcc_hub.city.keys import load_private_key, write_private_key  # noqa: E402
from rtcc_hub.city.registry import EnrolledHome, load_homes, save_homes  # noqa: E402
from rtcc_hub.city.relay import CityRelay  # noqa: E402
from rtcc_hub.city.tokens import Area, Incident, sign_unlock_token  # noqa: E402
from rtcc_hub.imaging import ImageProcessor  # noqa: E402
from rtcc_hub.options import parse_options  # noqa: E402
from rtcc_hub.timefmt import rfc3339  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.city import CityHub, area_at  # noqa: E402

CENTRE = (32.2988, -90.1848)
RADIUS_M = 500.0
GOAL_HOMES, GOAL_SECONDS = 1000, 3.0
GOAL_RELAY_RATIO = 2.0
GOAL_POST_RATIO = 1.5
# Descriptors this process keeps for everything but the homes (broker client, city, logs...).
RESERVED_DESCRIPTORS = 512
DEFAULT_FDS_PER_HOME = 10  # a real add-on's, measured; replaced by the run's own measurement
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SAMPLE_S = 3.0


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def open_descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# -- the city, in a process of its own ------------------------------------------------------


async def read_json_line(process: subprocess.Popen[str], who: str) -> dict[str, Any]:
    """The next JSON line a child process prints (city and homes report that way)."""
    assert process.stdout is not None
    text = await asyncio.to_thread(process.stdout.readline)
    if not text:
        raise RuntimeError(f"{who} ended (exit {process.wait()})")
    message: dict[str, Any] = json.loads(text)
    return message


def incident() -> Incident:
    return Incident(id="I-SCALE", offense="burglary", case_number="C-2026-SCALE")


async def city_child(config: dict[str, Any]) -> None:
    """Connect as the city; per line `go` on stdin, one broadcast, one JSON line out."""
    key = load_private_key(Path(config["key"]))
    homes = [home.home_id for home in load_homes(Path(config["registry"]))]
    area = Area(lat=CENTRE[0], lon=CENTRE[1], radius_m=RADIUS_M)
    async with CityRelay(
        config["url"], username=config["user"], password=os.environ["RTCC_RELAY_PASSWORD"],
        timeout_s=config["timeout_s"],
    ) as relay:  # fmt: skip
        print(json.dumps({"ready": True}), flush=True)
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "go":
            cpu0 = time.process_time()

            def sign(home_id: str) -> str:
                return sign_unlock_token(
                    key,
                    issuer=config["iss"],
                    audience=home_id,
                    incident=incident(),
                    area=area,
                    scope=["snapshot"],
                    duration_s=600,
                )

            # As `rtcc-city broadcast` does: each token signed as its request goes out.
            result = await broadcast_signing(relay, homes, sign)
            report = {
                "seconds": result.seconds,
                "times": [answer.seconds for answer in result.answers],
                "accepted": sorted(answer.home_id for answer in result.accepted),
                "declined": len(result.declined),
                "no_answer": len(result.no_answer),
                "refused": len(result.refused),
                "cpu_s": time.process_time() - cpu0,
            }
            print(json.dumps(report), flush=True)


class City:
    """The city child process, driven line by line."""

    def __init__(self, broker: Broker, registry: Path, key: Path, iss: str) -> None:
        account = broker.city_username
        config = {
            "url": broker.url("mqtt"), "user": account, "registry": str(registry),
            "key": str(key), "iss": iss, "timeout_s": 120.0,
        }  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--city-child", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "RTCC_RELAY_PASSWORD": broker.password(account)},
        )

    async def line(self) -> dict[str, Any]:
        return await read_json_line(self.process, "the city process")

    async def round(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return await self.line()

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- 1. broadcast ---------------------------------------------------------------------------


@dataclass
class Round:
    seconds: float
    p50: float
    p99: float
    messages_per_s: float
    broker_cpu_s: float
    homes_cpu_s: float
    city_cpu_s: float
    correct: bool


@dataclass
class Scale:
    homes: int
    light: bool
    processes: int
    start_s: float
    rss_per_home: float
    fds_per_home: float
    threads_per_home: float
    idle_cpu: float  # CPU seconds per second of the homes doing nothing
    rounds: list[Round]

    @property
    def median_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.rounds)


class ParentEnrolment:
    """In a homes process: the broker is the parent's; it enrols the homes (line protocol)."""

    def __init__(self, url: str) -> None:
        self._url = url

    def url(self, kind: str) -> str:
        return self._url

    def add_homes(self, home_ids: Sequence[str]) -> dict[str, str]:
        _say({"enrol": list(home_ids)})
        passwords: dict[str, str] = json.loads(sys.stdin.readline())["passwords"]
        return passwords


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def homes_child(config: dict[str, Any]) -> None:
    """One neighbourhood in this process, measured from before its first home to all online."""
    raise_descriptor_limit()
    rss0, fds0, threads0 = rss_bytes(), open_descriptors(), threading.active_count()
    started = time.perf_counter()
    async with Neighbourhood(
        Path(config["dir"]), broker=ParentEnrolment(config["url"]),
        hub=HubEntry(**config["hub"]), centre=CENTRE, count=config["count"],
        seed=config["seed"], radius_m=RADIUS_M, light=config["light"], connect_timeout_s=600.0,
    ) as hood:  # fmt: skip
        _say(
            {
                "ready": {
                    "start_s": time.perf_counter() - started,
                    "rss": rss_bytes() - rss0,
                    "fds": open_descriptors() - fds0,
                    "threads": threading.active_count() - threads0,
                    "homes": [home.home_id for home in hood.homes],
                    "expected": sorted(hood.expected_accepting()),
                }
            }
        )
        await asyncio.to_thread(sys.stdin.readline)  # "stop", or the parent went away
    _say({"stopped": True})


class Homes:
    """A homes process (`--homes-child`), enrolled on the parent's broker as it asks."""

    def __init__(self, broker: Broker, config: dict[str, Any]) -> None:
        self.broker = broker
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--homes-child", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _line(self) -> dict[str, Any]:
        return await read_json_line(self.process, "a homes process")

    def _write(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    async def start(self) -> dict[str, Any]:
        while True:
            message = await self._line()
            if "enrol" in message:
                passwords = self.broker.add_homes(message["enrol"])
                self._write(json.dumps({"passwords": passwords}) + "\n")
            else:
                ready: dict[str, Any] = message["ready"]
                return ready

    async def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._write("stop\n")
        try:
            await asyncio.to_thread(self.process.wait, 120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def shard_sizes(homes: int, processes: int) -> list[int]:
    return [homes // processes + (1 if i < homes % processes else 0) for i in range(processes)]


async def run_scale(
    work: Path,
    broker: Broker,
    hub: CityHub,
    key: Path,
    homes: int,
    rounds: int,
    light: bool,
    processes: int = 1,
) -> Scale:
    base = work / f"{'light' if light else 'real'}-{homes}"
    entry = {"id": hub.hub_id, "name": hub.name, "public_key_pem": hub.public_pem}
    configs = [
        {"dir": str(base / f"homes-{i}"), "url": broker.url("mqtt"), "hub": entry,
         "count": count, "seed": homes * 100 + i, "light": light}
        for i, count in enumerate(shard_sizes(homes, processes))
    ]  # fmt: skip
    children = [Homes(broker, config) for config in configs]
    measured: list[Round] = []
    try:
        started = time.perf_counter()
        readies = await asyncio.gather(*(child.start() for child in children))
        start_s = time.perf_counter() - started
        # What the homes cost doing nothing: their timers (each add-on's scheduler, each
        # relay's MQTT keep-alive loop), measured before the city connects.
        idle0 = sum(cpu_seconds(child.pid) for child in children)
        await asyncio.sleep(IDLE_SAMPLE_S)
        idle = (sum(cpu_seconds(child.pid) for child in children) - idle0) / IDLE_SAMPLE_S
        ids = [home_id for ready in readies for home_id in ready["homes"]]
        expected = sorted(home_id for ready in readies for home_id in ready["expected"])
        registry = base / "homes.json"
        now = rfc3339(time.time())
        enrolled = [EnrolledHome(h, f"neighbour {i + 1}", now) for i, h in enumerate(ids)]
        save_homes(registry, enrolled)
        city = City(broker, registry, key, hub.hub_id)
        try:
            await city.line()  # connected
            for _ in range(rounds):
                broker0 = cpu_seconds(broker.pid)
                homes0 = sum(cpu_seconds(child.pid) for child in children)
                report = await city.round()
                times = report["times"]
                measured.append(
                    Round(
                        seconds=report["seconds"],
                        p50=percentile(times, 0.50),
                        p99=percentile(times, 0.99),
                        messages_per_s=2 * homes / report["seconds"],
                        broker_cpu_s=cpu_seconds(broker.pid) - broker0,
                        homes_cpu_s=sum(cpu_seconds(child.pid) for child in children) - homes0,
                        city_cpu_s=report["cpu_s"],
                        correct=report["accepted"] == expected
                        and report["declined"] == homes - len(expected)
                        and report["no_answer"] == report["refused"] == 0,
                    )
                )
        finally:
            city.close()
    finally:
        await asyncio.gather(*(child.stop() for child in children))
    return Scale(
        homes,
        light,
        processes,
        start_s,
        sum(r["rss"] for r in readies) / homes,
        sum(r["fds"] for r in readies) / homes,
        sum(r["threads"] for r in readies) / homes,
        idle,
        measured,
    )


def print_scale(scale: Scale) -> None:
    kind = "light" if scale.light else "real"
    where = "one process" if scale.processes == 1 else f"{scale.processes} processes"
    print(
        f"{scale.homes:>6} {kind:>5} homes in {where}: started in {scale.start_s:.1f} s,"
        f" {scale.rss_per_home / 1024:.0f} KiB/home (RSS delta / K),"
        f" {scale.fds_per_home:.1f} descriptors and {scale.threads_per_home:.1f} threads per home,"
        f" idle {100 * scale.idle_cpu:.0f} % of a core"
    )
    for number, r in enumerate(scale.rounds, 1):
        broker_share = 100 * r.broker_cpu_s / r.seconds
        print(
            f"         round {number}: last answer {r.seconds:6.3f} s  p50 {r.p50:6.3f} s"
            f"  p99 {r.p99:6.3f} s  {r.messages_per_s:7.0f} msg/s  broker CPU"
            f" {r.broker_cpu_s:5.2f} s ({broker_share:3.0f} %)  homes CPU {r.homes_cpu_s:5.2f} s"
            f"  city CPU {r.city_cpu_s:5.2f} s (signing included)"
            f"  {'answers as expected' if r.correct else 'WRONG ANSWERS'}"
        )


def needs_light(homes: int, fds_per_home: float) -> tuple[bool, str]:
    """Whether `homes` real add-ons would run one process out of descriptors (the hard limit
    cannot be raised here: no CAP_SYS_RESOURCE in this container)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = int(homes * fds_per_home) + RESERVED_DESCRIPTORS
    why = (
        f"{homes} real add-ons in one process need about {needed} descriptors"
        f" ({fds_per_home:.1f} each, measured: the control listener and its spares, two SQLite"
        f" connections with their WAL files, the relay's socket), above the hard limit"
        f" RLIMIT_NOFILE {hard} of this machine"
    )
    return needed > hard, why


def raise_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- 2. relay vs HTTP -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def one_home(work: Path, broker: Broker, hub: CityHub) -> AsyncIterator[AddOn]:
    """A real add-on with its city listener on loopback and a relay, every unlock accepted."""
    state = await open_state(work, time.time)  # first start: the home id to enrol
    await state.store.close()
    password = broker.add_homes([state.home_id])[state.home_id]
    addon = await AddOn.create(
        parse_options(_options(hub, broker.url("mqtt"), (state.home_id, password))),
        work,
        image_processor=ImageProcessor(lib_path=turbojpeg_lib()),
    )
    try:
        await addon.owner.put_policy(POLICY)
        await addon.start()
        deadline = time.monotonic() + 30
        while not all(relay.connected for relay in addon.relays.relays):
            if time.monotonic() > deadline:
                raise TimeoutError("the home's relay did not connect")
            await asyncio.sleep(0.02)
        yield addon
    finally:
        await addon.stop()


def _options(hub: CityHub, url: str | None, account: tuple[str, str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "hubs": [hub.hub_config()], "city_port": 0, "control_port": 0,
        "control_token": "bench-control-token-0123456789", "ha_url": "http://127.0.0.1:9",
        "ha_token": "x",
    }  # fmt: skip
    if url is not None and account is not None:
        options["relays"] = [
            {"hub": hub.hub_id, "url": url, "username": account[0], "password": account[1]}
        ]
    return options


async def relay_vs_http(work: Path, broker: Broker, hub: CityHub, pairs: int) -> dict[str, float]:
    account = broker.city_accounts[1]
    async with (
        one_home(work, broker, hub) as addon,
        CityClient(f"http://127.0.0.1:{addon.city_port}") as http,
        CityRelay(broker.url("mqtt"), username=account, password=broker.password(account)) as relay,
    ):
        over_relay = relay.home(addon.home_id)
        times: dict[str, list[float]] = {"http": [], "relay": []}
        for i in range(pairs + 10):  # the first 10 of each warm up and are not counted
            order = ("http", "relay") if i % 2 == 0 else ("relay", "http")
            for carriage in order:
                token = hub.token(addon.home_id, area=area_at(100), duration_s=600)
                client = http if carriage == "http" else over_relay
                start = time.perf_counter()
                unlock = await client.unlock(token)
                elapsed = time.perf_counter() - start
                assert unlock.status == "active", unlock
                if i >= 10:
                    times[carriage].append(elapsed)
    return {
        f"{carriage}_{name}": percentile(values, fraction) * 1000
        for carriage, values in times.items()
        for name, fraction in (("p50", 0.50), ("p99", 0.99))
    }


# -- main -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "✓" if ok else "✗"


async def main(args: argparse.Namespace) -> None:
    raise_descriptor_limit()
    print(
        f"city_scale on {os.cpu_count()} cores, load {load()} at start"
        f" (other work shares this machine: figures vary run to run)"
    )
    hub = CityHub.generate("scale-rtcc", "Scale RTCC")
    scales: list[Scale] = []
    with tempfile.TemporaryDirectory(prefix="rtcc-scale-") as tmp:
        work = Path(tmp)
        key = work / "hub.key"
        write_private_key(hub.private_key, key)
        broker = Broker(work / "broker", homes=())
        broker.start()
        try:
            fds_per_home = float(DEFAULT_FDS_PER_HOME)
            largest_real: int | None = None
            for homes in args.homes:
                light, why = needs_light(max(shard_sizes(homes, args.processes)), fds_per_home)
                if args.light:
                    light, why = True, "--light"
                if light and not args.light:
                    print(f"  light stand-in homes (LightHome) at K={homes}: {why}")
                    if largest_real is not None:
                        print(f"  the same light stand-ins at K={largest_real}, for scale:")
                        scale = await run_scale(
                            work, broker, hub, key, largest_real, args.rounds, True,
                            args.processes,
                        )  # fmt: skip
                        print_scale(scale)
                        scales.append(scale)
                        largest_real = None
                scale = await run_scale(
                    work, broker, hub, key, homes, args.rounds, light, args.processes
                )
                print_scale(scale)
                scales.append(scale)
                if not light:
                    fds_per_home, largest_real = scale.fds_per_home, homes
            relay = None
            if not args.skip_relay:
                relay = await relay_vs_http(work / "one-home", broker, hub, args.pairs)
                print(
                    f"one home, {args.pairs} unlocks each, interleaved: HTTP on loopback"
                    f" p50 {relay['http_p50']:.2f} ms p99 {relay['http_p99']:.2f} ms; relay"
                    f" p50 {relay['relay_p50']:.2f} ms p99 {relay['relay_p99']:.2f} ms;"
                    f" p99 ratio {relay['relay_p99'] / relay['http_p99']:.2f}"
                )
        finally:
            broker.stop()
    cost = None
    if not args.skip_unlock_cost:
        city = CityHub.generate("bench-rtcc", "Bench RTCC")
        cost = {held: await measure(held, args.posts, city) for held in (0, 5000)}
        print(
            f"one POST through the add-on's services ({args.posts} each, unlock_cost.measure):"
            f" CPU {cost[0]['cpu_ms']:.3f} ms at 0 open, {cost[5000]['cpu_ms']:.3f} ms at"
            f" 5,000 open, ratio {cost[5000]['cpu_ms'] / cost[0]['cpu_ms']:.2f}"
        )
    print(f"load {load()} at the end")
    goal = next((s for s in scales if s.homes == GOAL_HOMES and not s.light), None)
    if goal is not None:
        ok = goal.median_seconds <= GOAL_SECONDS and all(r.correct for r in goal.rounds)
        print(
            f"{verdict(ok)} {GOAL_HOMES:,} real homes all answered within {GOAL_SECONDS:.0f} s:"
            f" median round {goal.median_seconds:.2f} s"
        )
    for scale in scales:
        if scale.light and scale.homes == max(args.homes):
            why = "--light" if args.light else "see above why"
            print(f"  K={scale.homes:,} ran light stand-in homes (LightHome): {why}")
    if relay is not None:
        ratio = relay["relay_p99"] / relay["http_p99"]
        print(
            f"{verdict(ratio <= GOAL_RELAY_RATIO)} relay unlock p99 within"
            f" {GOAL_RELAY_RATIO:.0f}x of HTTP on loopback: {ratio:.2f}x"
        )
    if cost is not None:
        ratio = cost[5000]["cpu_ms"] / cost[0]["cpu_ms"]
        print(
            f"{verdict(ratio <= GOAL_POST_RATIO)} a POST at 5,000 open unlocks at most"
            f" {GOAL_POST_RATIO}x one at 0: {ratio:.2f}x"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rounds", type=int, default=3, help="broadcasts per K (default 3)")
    parser.add_argument("--light", action="store_true", help="light stand-in homes for every K")
    parser.add_argument("--pairs", type=int, default=300, help="relay vs HTTP unlocks (300)")
    parser.add_argument("--posts", type=int, default=300, help="POSTs per unlock_cost row")
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--skip-unlock-cost", action="store_true")
    parser.add_argument(
        "--processes", type=int, default=1, help="homes processes per K (default 1)"
    )
    parser.add_argument("--city-child", metavar="JSON", help=argparse.SUPPRESS)
    parser.add_argument("--homes-child", metavar="JSON", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.city_child:
        asyncio.run(city_child(json.loads(arguments.city_child)))
    elif arguments.homes_child:
        asyncio.run(homes_child(json.loads(arguments.homes_child)))
    else:
        asyncio.run(main(arguments))
