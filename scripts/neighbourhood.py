"""Many neighbour homes in one process, each the real add-on, reached only through a relay.

For the demo's 50-home broadcast and benchmarks/city_scale.py. Every home is a real
`rtcc_hub.app.AddOn` (`AddOn.create(options, data_dir, fetch_still=..., image_processor=...)`
then `start()`) with its own data dir (its own SQLite store, home id, home key, audit log),
`city_http: false` (no city listener, nothing opened to the city), one relay to the city's
broker with its own credentials, and a policy put through its owner service (what the
integration's `PUT /control/v1/policy` calls) with a location scattered around a centre.
Declines happen for the add-on's own reasons: some homes keep consent off, some share no
camera, some live outside the incident's circle.

    from tests.support.broker import Broker         # the documented Mosquitto configuration
    broker = Broker(tmp / "broker"); broker.start()
    hub = HubEntry("jackson-rtcc", "Jackson RTCC", public_key_pem)
    async with Neighbourhood(base_dir, broker=broker, hub=hub, centre=(32.2988, -90.1848),
                             count=50, seed=1, radius_m=500) as hood:
        hood.homes                  # [Neighbour(home_id, lat, lon, profile, distance_m, addon)]
        hood.write_registry(path)   # the city's homes file (rtcc_hub.city.registry format)
        hood.expected_accepting()   # the home ids that answer with cameras (all others
                                    # decline alike) an unlock for an area at `centre` of
                                    # `radius_m` (at most 1000 m), at most 1 h long, with a case
                                    # number and an offense the default policy does not exclude

How a home comes to be, as a resident's would: the add-on's first start makes its home id
(`rtcc_hub.app.open_state`, the same code `AddOn.create` runs), the city enrols that id on the
broker (`broker.add_homes(ids)` -> passwords; `tests.support.broker.Broker` does it for
thousands at once with one reload), then the add-on starts with its `relays` entry and the
owner sets the policy. `__aenter__` returns once every home's relay is connected.

`broker` is anything with `url("mqtt") -> str` and `add_homes(ids) -> {id: password}`
(`Enrolment`): `Broker`, or the line protocol of `python scripts/neighbourhood.py serve`, which
runs a neighbourhood in a process of its own for a city elsewhere (the benchmark's parent).

Profiles cycle through `PROFILES` (shuffled with `seed`): `sharing` (consent on, cameras
shared, inside the circle), `no_consent`, `not_sharing` (consent on, no camera shared) and
`outside` (consent on, sharing, 1.3 to 6 radii from the centre). Locations and profiles depend
only on `seed` and `count`. All homes share one image processor and one still source (the
demo's street scene, `scripts/demo_scene.py`, unless `fetch_still` is given): no Home Assistant
is needed.

`light=True` makes every home a `LightHome` instead: the add-on's real relay (`rtcc_hub.relay.
Relay`, the same MQTT carriage) in front of the add-on's real token verification and policy
decision, with nothing stored (no SQLite store and its two threads, no audit log, no replay
or quota look-up, no control listener). The benchmark uses it only where real add-ons do not
fit this machine, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import os
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

_REPO = Path(__file__).resolve().parents[1]
# tests.support (the broker), the demo's scene; the add-on from the checkout unless installed.
for _path in (_REPO, _REPO / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
if importlib.util.find_spec("rtcc_hub") is None:
    sys.path.insert(0, str(_REPO / "hub_addon"))

from rtcc_hub.app import AddOn, open_state  # noqa: E402
from rtcc_hub.carriage import Answer, CityRequest  # noqa: E402
from rtcc_hub.city.registry import EnrolledHome, save_homes  # noqa: E402
from rtcc_hub.city_routes import error_reply, json_reply  # noqa: E402
from rtcc_hub.errors import DomainError, ErrorCode  # noqa: E402
from rtcc_hub.geofence import distance_m  # noqa: E402
from rtcc_hub.imaging import ImageProcessor  # noqa: E402
from rtcc_hub.intake import new_unlock, read_token, unlock_answer  # noqa: E402
from rtcc_hub.options import Options, parse_options  # noqa: E402
from rtcc_hub.policy import Policy, decide, parse_policy  # noqa: E402
from rtcc_hub.relay import Relay  # noqa: E402
from rtcc_hub.timefmt import rfc3339  # noqa: E402
from rtcc_hub.tokens import TokenError, verify_unlock_token  # noqa: E402

type Fetch = Callable[[str], Awaitable[bytes]]

EARTH_RADIUS_M = 6371008.8
# AddOn.create and start() wait on their store's threads: a few at once overlap those waits
# without a thousand databases opening together.
STARTING_AT_ONCE = 16
CONNECT_TIMEOUT_S = 120.0


class Profile(StrEnum):
    SHARING = "sharing"  # consent on, cameras shared, inside the circle: answers with cameras
    NO_CONSENT = "no_consent"  # the owner never opted in
    NOT_SHARING = "not_sharing"  # consent on, but no camera shared
    OUTSIDE = "outside"  # consent on and sharing, but farther than the incident's radius


# Two in five homes answer with cameras; every reason to decline appears in any five homes.
PROFILES = (
    Profile.SHARING,
    Profile.NO_CONSENT,
    Profile.SHARING,
    Profile.OUTSIDE,
    Profile.NOT_SHARING,
)

CAMERAS = (
    ("camera.front_door", "Front door"),
    ("camera.driveway", "Driveway"),
    ("camera.porch", "Porch"),
    ("camera.garage", "Garage"),
)
# The demo scene's neighbour's window, masked on every camera (the stills are that scene).
WINDOW_MASK = [[0.10, 0.20], [0.32, 0.20], [0.32, 0.48], [0.10, 0.48]]


class Enrolment(Protocol):
    """The city's broker as far as the neighbourhood needs it (`tests.support.broker.Broker`)."""

    def url(self, kind: str) -> str: ...

    def add_homes(self, home_ids: Sequence[str]) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class HubEntry:
    """The city hub every home trusts: its `hubs` option entry."""

    id: str
    name: str
    public_key_pem: str

    def option(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "public_key": self.public_key_pem}


@dataclass(slots=True)
class Neighbour:
    home_id: str
    lat: float
    lon: float
    profile: Profile
    distance_m: float  # from the neighbourhood's centre
    addon: AddOn | None = None  # None for a LightHome
    light: LightHome | None = None

    @property
    def consent(self) -> bool:
        return self.profile is not Profile.NO_CONSENT

    @property
    def sharing(self) -> bool:
        return self.profile is not Profile.NOT_SHARING

    @property
    def connected(self) -> bool:
        if self.addon is not None:
            return all(relay.connected for relay in self.addon.relays.relays)
        return self.light is not None and self.light.relay.connected


def offset_point(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


@dataclass(frozen=True, slots=True)
class Placement:
    profile: Profile
    lat: float
    lon: float
    cameras: tuple[tuple[str, str], ...]


def placements(
    count: int, *, centre: tuple[float, float], radius_m: float, seed: int
) -> list[Placement]:
    """Where each home is and what its owner chose: a function of count, centre, radius, seed.

    Inside homes sit within 0.9 radii of the centre, outside ones 1.3 to 6 radii away: no home
    is near enough to the edge for the add-on's great-circle distance to tell otherwise."""
    rng = random.Random(seed)
    profiles = [PROFILES[i % len(PROFILES)] for i in range(count)]
    rng.shuffle(profiles)
    out = []
    for profile in profiles:
        if profile is Profile.OUTSIDE:
            distance = radius_m * rng.uniform(1.3, 6.0)
        else:
            distance = radius_m * 0.9 * math.sqrt(rng.random())  # uniform over the disc
        bearing = rng.uniform(0.0, 2 * math.pi)
        lat, lon = offset_point(
            centre[0], centre[1], distance * math.cos(bearing), distance * math.sin(bearing)
        )
        cameras = tuple(rng.sample(CAMERAS, rng.randint(1, 2)))
        out.append(Placement(profile, lat, lon, cameras))
    return out


def policy_for(placement: Placement, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The owner's policy document (PROTOCOL.md section 2) for one placement."""
    share = placement.profile is not Profile.NOT_SHARING
    policy: dict[str, Any] = {
        "consent": placement.profile is not Profile.NO_CONSENT,
        "mode": "auto",
        "home": {"lat": placement.lat, "lon": placement.lon},
        "max_radius_m": 1000,
        "max_duration_s": 3600,
        # Benchmarks broadcast to the same homes again and again: the quota is not under test.
        "max_unlocks_per_week": 10_000,  # the most a policy allows
        "require_case_number": True,
        "cameras": [
            {"entity_id": entity, "label": label, "share": share, "masks": [WINDOW_MASK]}
            for entity, label in placement.cameras
        ],
    }
    policy.update(extra or {})
    return policy


class SharedProcessor(ImageProcessor):
    """One image processor for every home: an add-on's stop() closes its processor, so this
    one ignores that and closes when the neighbourhood does (`close_shared`)."""

    def close(self) -> None:
        return None

    def close_shared(self) -> None:
        super().close()


def turbojpeg_lib() -> str | None:
    if os.environ.get("RTCC_TURBOJPEG_LIB"):
        return os.environ["RTCC_TURBOJPEG_LIB"]
    import demo_scene  # noqa: PLC0415 - numpy only when the scene is needed

    lib: str | None = demo_scene.turbojpeg_lib()
    return lib


def scene_still() -> Fetch:
    """Every camera shows the demo's street scene (one JPEG, encoded once)."""
    import demo_scene  # noqa: PLC0415

    still: bytes = demo_scene.street_frame(0.0)

    async def fetch(entity_id: str) -> bytes:
        return still

    return fetch


class LightHome:
    """A lighter stand-in home: the real relay, the real token check and decision, no storage.

    What it leaves out, and so what a figure measured with it leaves out: the SQLite store
    (its writer and reader threads, the replay and quota look-ups, the transaction of each
    unlock), the audit log, the control listener, snapshots and streams (only
    `POST /api/v1/unlocks` and `GET /api/v1/health` are answered; anything else `404`)."""

    def __init__(self, options: Options, home_id: str, policy: Policy) -> None:
        self.home_id = home_id
        self._hubs = options.hubs
        self._policy = policy
        self.relay = Relay(options.relays[0], home_id=home_id, handler=self.handle)

    async def handle(self, request: CityRequest) -> Answer:
        if request.path == "/api/v1/health" and request.method == "GET":
            return json_reply(200, {"status": "ok"})
        if request.path != "/api/v1/unlocks" or request.method != "POST":
            return error_reply(DomainError(ErrorCode.NOT_FOUND))
        token = read_token(request.body)
        if token is None:
            return error_reply(DomainError(ErrorCode.INVALID_REQUEST))
        now = time.time()
        try:
            claims = verify_unlock_token(token, self._hubs, self.home_id, now)
        except TokenError:
            return error_reply(DomainError(ErrorCode.INVALID_TOKEN))
        if request.only_hub is not None and claims.iss != request.only_hub:
            return error_reply(DomainError(ErrorCode.INVALID_TOKEN))
        decision = decide(self._policy, claims, now)
        hub = next((h.name for h in self._hubs if h.id == claims.iss), claims.iss)
        unlock, access_token = new_unlock(claims, decision, self._policy, hub, now)
        return json_reply(201, unlock_answer(unlock, access_token))


@dataclass
class Neighbourhood:
    base_dir: Path
    broker: Enrolment
    hub: HubEntry
    centre: tuple[float, float]
    count: int = 50
    seed: int = 1
    radius_m: float = 500.0
    light: bool = False
    fetch_still: Fetch | None = None
    policy_extra: Mapping[str, Any] | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    homes: list[Neighbour] = field(default_factory=list, init=False)
    _processor: SharedProcessor | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> Self:
        if self.count < 1:
            raise ValueError("count must be at least 1")
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- start ------------------------------------------------------------------------------

    def _options(self, home_id: str, password: str) -> Options:
        return parse_options(
            {
                "hubs": [self.hub.option()],
                "city_http": False,
                "city_port": 0,
                "control_port": 0,
                "control_token": secrets.token_hex(16),
                # Standalone options need them; images come from `fetch_still` instead.
                "ha_url": "http://127.0.0.1:9",
                "ha_token": "unused",
                "relays": [
                    {
                        "hub": self.hub.id,
                        "url": self.broker.url("mqtt"),
                        "username": home_id,
                        "password": password,
                    }
                ],
            }
        )

    async def _first_start(self, data_dir: Path) -> str:
        """The add-on's first start (home id, consent off), before the city enrolled it."""
        if self.light:
            return await asyncio.to_thread(_light_home_id, data_dir)
        state = await open_state(data_dir, time.time)
        await state.store.close()
        return state.home_id

    async def _start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        places = placements(self.count, centre=self.centre, radius_m=self.radius_m, seed=self.seed)
        dirs = [self.base_dir / f"home-{i:05d}" for i in range(self.count)]
        ids = await _bounded(self._first_start(d) for d in dirs)
        passwords = self.broker.add_homes(ids)
        if not self.light:
            self._processor = SharedProcessor(lib_path=turbojpeg_lib())
        fetch = self.fetch_still or (None if self.light else scene_still())
        centre = self.centre

        async def start(index: int) -> None:
            place, home_id = places[index], ids[index]
            options = self._options(home_id, passwords[home_id])
            neighbour = Neighbour(
                home_id=home_id,
                lat=place.lat,
                lon=place.lon,
                profile=place.profile,
                distance_m=distance_m(centre[0], centre[1], place.lat, place.lon),
            )
            document = policy_for(place, self.policy_extra)
            if self.light:
                neighbour.light = LightHome(options, home_id, parse_policy(document))
                self.homes.append(neighbour)
                await neighbour.light.relay.start()
                return
            addon = await AddOn.create(
                options, dirs[index], fetch_still=fetch, image_processor=self._processor
            )
            neighbour.addon = addon
            self.homes.append(neighbour)
            await addon.owner.put_policy(document)
            await addon.start()

        await _bounded(start(i) for i in range(self.count))
        order = {home_id: i for i, home_id in enumerate(ids)}
        self.homes.sort(key=lambda n: order[n.home_id])
        await self._wait_connected()

    async def _wait_connected(self) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        while not all(home.connected for home in self.homes):
            if time.monotonic() > deadline:
                missing = sum(1 for home in self.homes if not home.connected)
                raise TimeoutError(f"{missing} of {self.count} homes did not connect in time")
            await asyncio.sleep(0.05)

    # -- use --------------------------------------------------------------------------------

    def expected_accepting(self) -> set[str]:
        """The homes that answer an incident at `centre` within `radius_m` with cameras."""
        return {
            home.home_id
            for home in self.homes
            if home.consent and home.sharing and home.distance_m <= self.radius_m
        }

    def write_registry(self, path: Path) -> None:
        """The city's homes file (`rtcc_hub.city.registry`): every home, enrolled now."""
        now = rfc3339(time.time())
        save_homes(
            path,
            [
                EnrolledHome(home.home_id, f"neighbour {i + 1}", now)
                for i, home in enumerate(self.homes)
            ],
        )

    # -- stop -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        homes, self.homes = self.homes, []

        async def stop(home: Neighbour) -> None:
            if home.addon is not None:
                await home.addon.stop()
            if home.light is not None:
                await home.light.relay.stop()

        await _bounded((stop(home) for home in homes), limit=64)
        processor, self._processor = self._processor, None
        if processor is not None:
            processor.close_shared()


def _light_home_id(data_dir: Path) -> str:
    """A light home's id, kept in its data dir like the add-on's (a random UUID)."""
    import uuid  # noqa: PLC0415

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "home_id"
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="utf-8").strip()
    home_id = str(uuid.uuid4())
    path.write_text(home_id, encoding="utf-8")
    return home_id


async def _bounded[T](jobs: Iterable[Awaitable[T]], limit: int = STARTING_AT_ONCE) -> list[T]:
    """Run the jobs with at most `limit` at once; their results in order. The first failure
    cancels the others and is raised as itself (not in an ExceptionGroup)."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(job)) for job in jobs]
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return [task.result() for task in tasks]


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
