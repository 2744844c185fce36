"""rtcc_share end to end: a real Home Assistant, the add-on and a simulated city hub.

    ./scripts/demo.sh            # set up, run the scenario, keep Home Assistant up until Ctrl-C
    ./scripts/demo.sh --once     # run the scenario and exit (what the e2e test does)
    ./scripts/demo.sh --neighbours 10   # fewer neighbour homes for the broadcast (default 50)

or, once set up, ``.venv/bin/python scripts/demo.py [--once] [--dir .demo] [--ha-port 8123]``.

What happens, in order (everything on 127.0.0.1, everything under ``.demo/``, wiped each run):

1. a fresh Home Assistant config dir with the integration linked in; Home Assistant starts and is
   onboarded through its onboarding API with a demo owner account; a long-lived token is made;
2. two cameras from Home Assistant's own integrations: ``mjpeg`` reading a stand-in IP camera
   (a street with a neighbour's window and a running clock) and ``local_file`` (the back yard);
   a stand-in Frigate (Frigate's real routes) starts recording the street camera's own frames
   in 10 s H.264 segments (scripts/demo_recorder.py);
3. the city's broker (a local Mosquitto with the documented configuration) and the add-on
   (``python -m rtcc_hub``) standalone with ``city_http: false``: no city port at home, the
   city reaches it only through one relay to the broker; it trusts a demo city key;
4. the integration set up through its config flow and options flow (share the street camera with
   a mask over the neighbour's window, auto mode, clips allowed), the street camera's recorder
   set to Frigate, consent switched on;
5. the city hub, over the relay, signs an unlock near the home (granted) and one far away
   (declined), saves a masked snapshot and a few stream frames to ``.demo/out/``, asks for a
   clip of the recorded minutes, downloads it, verifies its receipt and checks the mask is
   black in its frames, and ends the unlock;
6. 50 neighbour homes (``--neighbours``; each the real add-on in this process, relayed only,
   scripts/neighbourhood.py) are enrolled, and the city broadcasts one incident to every
   enrolled home: asked / accepted / declined are printed and a masked snapshot from each
   accepting neighbour is saved (``neighbour_NN.jpg``);
7. the share-history sensor and the audit log verification are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import importlib.util
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(REPO / "hub_addon"))
# The stand-ins the tests use (Mosquitto configured as docs/city-relay.md says, Frigate).
sys.path.insert(0, str(REPO))

import demo_scene  # noqa: E402
from demo_ha import HOME_LAT, HOME_LON, HomeAssistant, HomeAssistantError, write_config  # noqa: E402

HUB_ID = "jackson-rtcc"
HUB_NAME = "Jackson Real Time Crime Center"
OWNER_NAME = "Demo Owner"
OWNER_USERNAME = "owner"
STREET_CAMERA_NAME = "Street"
BACKYARD_CAMERA_NAME = "Back yard"
STREET_LABEL = "Street (front of house)"
STREAM_FRAMES = 4
DEMO_DIR_ENV = "RTCC_DEMO_DIR"
PANEL_PATH = "rtcc-share"  # the integration's "Camera sharing" sidebar panel

FRIGATE_CAMERA = "street"  # the street camera's name in (the stand-in) Frigate
CLIP_SCOPE = ("snapshot", "stream", "clip")
NEIGHBOURS = 50  # simulated neighbour homes (scripts/neighbourhood.py) for the broadcast
NEIGHBOURHOOD_SEED = 7  # where they live and what their owners chose: fixed, so runs compare
BROADCAST_INCIDENT = "I-2026-1125"
# The add-on's readiness line; `city=off` when it has no city listener (`city_http: false`).
_LISTENING = re.compile(r"rtcc_hub listening city=(\S+) control=(\S+):(\d+)(?: relays=(\d+))?")


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as s:
            # As Home Assistant binds it: a port left in TIME_WAIT by the last run is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
            except OSError:
                pass
            else:
                return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (held open together while chosen, so never the same)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _refused(port: int) -> bool:
    """Whether a TCP connection to 127.0.0.1:port is refused (nothing listens there)."""
    with socket.socket() as probe:
        probe.settimeout(2)
        try:
            probe.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


def _listening_ports(pid: int) -> list[tuple[str, int]]:
    """The TCP ports a process listens on (from the kernel's socket table, via psutil)."""
    import psutil  # noqa: PLC0415

    found = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    return sorted(found)


# -- child processes -------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Children:
    """Every process the demo starts, each in its own process group, stopped in reverse order.

    Their pids are written to ``<dir>/pids`` so that a later run can end leftovers of a run that
    was killed outright (SIGKILL leaves no chance to clean up).
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pidfile = base / "pids"
        self.items: list[Child] = []

    def reap_leftovers(self) -> None:
        try:
            lines = self.pidfile.read_text().split()
        except OSError:
            return
        for item in lines:
            with contextlib.suppress(ValueError, OSError):
                pid = int(item)
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                # Only a process of ours: the demo marks its children's environment.
                if f"{DEMO_DIR_ENV}={self.base}".encode() in environ:
                    os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> Child:
        log = self.base / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        child = Child(name, proc, log)
        self.items.append(child)
        with self.pidfile.open("a") as f:
            f.write(f"{proc.pid}\n")
        return child

    def stop(self, child: Child, timeout_s: float = 15.0) -> None:
        """Stop one child (SIGTERM, then SIGKILL of its group) and forget it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, signal.SIGTERM)
        try:
            child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait(timeout=5)
        self.items.remove(child)

    def stop_all(self, timeout_s: float = 15.0) -> None:
        for child in reversed(self.items):
            if child.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in reversed(self.items):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left of the group (the child or anything it started) goes now.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
        self.items.clear()
        self.pidfile.unlink(missing_ok=True)


# -- output ----------------------------------------------------------------------------------


class Progress:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.monotonic()
        self._step_started = self.started
        self.timings: dict[str, float] = {}
        self._current = ""

    def step(self, number: int, total: int, title: str) -> None:
        self._finish()
        self._current = title
        self._step_started = time.monotonic()
        self.say(f"\n[{number}/{total}] {title}")

    def _finish(self) -> None:
        if self._current:
            elapsed = time.monotonic() - self._step_started
            self.timings[self._current] = elapsed
            self.say(f"      ({elapsed:.1f} s)")
            self._current = ""

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def info(self, text: str) -> None:
        self.say(f"      {text}")

    def done(self) -> float:
        self._finish()
        return time.monotonic() - self.started


# -- the demo --------------------------------------------------------------------------------


@dataclass
class Unlocked:
    """What the city got back for one unlock request."""

    status: str
    unlock_id: str
    access_token: str | None
    cameras: list[Any]
    http_status: int = 201


@dataclass(frozen=True)
class ClipCheck:
    """What the city can see in the clip it received (decoded with PyAV)."""

    frames: int
    width: int
    height: int
    seconds: float
    streams: list[str]
    mask_max: int  # the brightest pixel inside the mask's probe over every frame
    street_mean: float  # the street stays visible


def write_png(rgb: Any, path: Path) -> None:
    """A decoded frame as PNG (lossless: what the city's player shows, pixel for pixel)."""
    import av  # noqa: PLC0415

    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height = rgb.shape[1], rgb.shape[0]
    codec.pix_fmt = "rgb24"
    packets = codec.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
    packets += codec.encode(None)
    path.write_bytes(b"".join(bytes(packet) for packet in packets))


def check_clip(path: Path, frame_out: Path) -> ClipCheck:
    """Decode every frame of the clip, measure the mask area, save the middle frame (PNG)."""
    import av  # noqa: PLC0415

    with av.open(str(path)) as container:
        streams = [s.type for s in container.streams]
        video = container.streams.video[0]
        frames, mask_max, times = [], 0, []
        for frame in container.decode(video):
            rgb = frame.to_ndarray(format="rgb24")
            mask_max = max(mask_max, int(demo_scene.region(rgb, demo_scene.MASK_PROBE).max()))
            times.append(float(frame.pts * frame.time_base))
            frames.append(rgb)
    if not frames:
        raise DemoError(f"the clip {path} has no video frames")
    middle = frames[len(frames) // 2]
    write_png(middle, frame_out)
    height, width = middle.shape[:2]
    street = demo_scene.region(middle, demo_scene.STREET_PROBE).astype(float).mean()
    return ClipCheck(
        frames=len(frames),
        width=width,
        height=height,
        seconds=max(times) - min(times),
        streams=streams,
        mask_max=mask_max,
        street_mean=float(street),
    )


def incident_area(near: bool) -> Any:
    """The incident's circle: 100 m from the home, or in Ridgeland, 15 km north."""
    from rtcc_hub.city.tokens import Area  # noqa: PLC0415

    if near:  # about 100 m north-east of the home, a 500 m circle: the home is inside
        return Area(lat=HOME_LAT + 0.0007, lon=HOME_LON + 0.0007, radius_m=500)
    return Area(lat=32.4285, lon=-90.1323, radius_m=500)


async def _street_now(_entity_id: str) -> bytes:
    """A neighbour's camera: the demo's street scene with the clock at now (so each snapshot
    shows when the broadcast asked for it)."""
    return await asyncio.to_thread(demo_scene.street_frame)


def fmt_time(unix: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(unix))


@dataclass
class _BrokerEnrolment:
    """The city enrolling homes at its broker (scripts/neighbourhood.py's `Enrolment`): their
    passwords in the broker's file, then Mosquitto (one of the demo's children) reloads it."""

    demo: Demo

    def url(self, kind: str) -> str:
        return str(self.demo.broker.url(kind))

    def add_homes(self, home_ids: list[str]) -> dict[str, str]:
        passwords: dict[str, str] = self.demo.broker.add_homes(home_ids)
        self.demo.reload_broker()
        return passwords


@dataclass
class Demo:
    """The whole demo environment. ``async with Demo(...) as demo: await demo.run()``.

    Leaving the ``async with`` block stops every process the demo started, also on errors and
    on Ctrl-C. The e2e test drives the same object, step by step or through :meth:`run`.
    """

    base: Path = REPO / ".demo"
    ha_port: int | None = None
    quiet: bool = False
    progress: Progress = field(init=False)
    children: Children = field(init=False)
    session: aiohttp.ClientSession = field(init=False)
    ha: HomeAssistant = field(init=False)
    password: str = field(default_factory=lambda: "demo-" + secrets.token_urlsafe(9))
    control_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    env: dict[str, str] = field(default_factory=dict)
    ha_token: str = ""
    camera_url: str = ""
    control_url: str = ""
    # The city port the add-on would have used; with `city_http: false` nothing listens there.
    closed_city_port: int = 0
    relay_url: str = ""
    home_id: str = ""
    entry_id: str = ""
    street_entity: str = ""
    backyard_entity: str = ""
    entities: dict[str, str] = field(default_factory=dict)
    registry_ids: list[str] = field(default_factory=list)
    city_key: Any = None
    results: dict[str, Any] = field(default_factory=dict)
    # Set by the steps that start them (the panel tests skip the recording and the city's
    # relay connection is opened by start_addon).
    frigate: Any = None  # tests.support.standin_frigate.StandinFrigate
    recorder: Any = None  # demo_recorder.CameraRecorder
    broker: Any = None  # tests.support.broker.Broker (its files; the process is a Child)
    relay: Any = None  # rtcc_hub.city.relay.CityRelay, the city's connection to its broker
    neighbours: int = NEIGHBOURS
    hood: Any = None  # neighbourhood.Neighbourhood, the neighbour homes (step 6)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base = self.base.resolve()
        self.progress = Progress(self.quiet)
        self.children = Children(self.base)
        self.ha_dir = self.base / "homeassistant"
        self.media_dir = self.base / "media"
        self.addon_dir = self.base / "addon"
        self.city_dir = self.base / "city"
        self.out_dir = self.base / "out"
        self.frigate_dir = self.base / "frigate"
        self.broker_dir = self.base / "broker"
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env[DEMO_DIR_ENV] = str(self.base)  # marks the demo's children (see Children)
        lib = demo_scene.turbojpeg_lib()
        if lib:
            env["RTCC_TURBOJPEG_LIB"] = lib
        self.env = env

    async def __aenter__(self) -> Self:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        # A safety net should the interpreter exit without leaving the ``async with`` block.
        atexit.register(self.children.stop_all)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        # The city's relay connection and the stand-in Frigate (in this process).
        with contextlib.suppress(Exception):
            await self._stack.aclose()
        with contextlib.suppress(Exception):
            await self.session.close()
        if self.children.items:
            self.progress.say(
                "\nStopping Home Assistant, the add-on, the broker and the demo camera ..."
            )
        await asyncio.to_thread(self.children.stop_all)
        atexit.unregister(self.children.stop_all)

    # -- step 0 -------------------------------------------------------------------------------

    def prepare(self) -> None:
        if importlib.util.find_spec("hass_frontend") is None:
            raise DemoError(
                "Home Assistant's frontend package is missing (pip install "
                "home-assistant-frontend); without it Home Assistant starts in recovery mode"
            )
        try:
            demo_scene.street_frame()
        except Exception as err:
            raise DemoError(
                f"libjpeg-turbo 3 is needed (PyTurboJPEG 2): {err}. Run ./scripts/setup.sh and "
                "point RTCC_TURBOJPEG_LIB at its libturbojpeg.so.0 (scripts/env.sh does)"
            ) from None
        self.base.mkdir(parents=True, exist_ok=True)
        self.children.reap_leftovers()
        subs = ("homeassistant", "media", "addon", "city", "out", "logs", "frigate", "broker")
        for sub in (*subs, "neighbours"):
            shutil.rmtree(self.base / sub, ignore_errors=True)
        for folder in (self.media_dir, self.addon_dir, self.city_dir, self.out_dir):
            folder.mkdir(parents=True)

    # -- step 1 -------------------------------------------------------------------------------

    async def start_home_assistant(self) -> None:
        p = self.progress
        port = free_port(self.ha_port)
        write_config(self.ha_dir, port=port, media_dir=self.media_dir)
        components = self.ha_dir / "custom_components"
        components.mkdir()
        (components / "rtcc_share").symlink_to(REPO / "custom_components" / "rtcc_share")
        p.info(f"config dir {self.ha_dir} (custom_components/rtcc_share -> the repo's)")
        # --skip-pip: everything needed is in the venv already, and Home Assistant's pinned
        # camera requirement (PyTurboJPEG 1.x) must not replace the add-on's PyTurboJPEG 2.
        # Import stand-ins for two voice libraries without Python 3.14 wheels, last on the path
        # so that real ones win (scripts/demo_stubs/README.md); for Home Assistant only.
        ha_env = dict(self.env)
        paths = [p for p in (ha_env.get("PYTHONPATH"), str(SCRIPTS / "demo_stubs")) if p]
        ha_env["PYTHONPATH"] = os.pathsep.join(paths)
        child = self.children.start(
            "homeassistant",
            [sys.executable, "-m", "homeassistant", "-c", str(self.ha_dir), "--skip-pip"],
            env=ha_env,
        )
        self.ha = HomeAssistant(f"http://127.0.0.1:{port}", self.session)
        started = time.monotonic()
        try:
            await self.ha.wait_ready(120, child.alive)
        except HomeAssistantError as err:
            raise DemoError(f"{err}\n--- {child.log} ---\n{child.tail()}") from None
        p.info(f"Home Assistant is up at {self.ha.url} ({time.monotonic() - started:.1f} s)")
        await self.ha.onboard(name=OWNER_NAME, username=OWNER_USERNAME, password=self.password)
        p.info(
            f"onboarded: owner account '{OWNER_USERNAME}' / '{self.password}' "
            f"({time.monotonic() - started:.1f} s)"
        )
        # Home Assistant 2026 takes `http:` from YAML as a trial it reverts (and restarts
        # on 0.0.0.0) after five minutes unless the owner confirms it: confirm, as the UI does.
        await self.ha.websocket({"type": "http/config/promote"})
        http = await self.ha.websocket({"type": "http/config"})
        if http.get("revert_at") or http["stable"].get("server_host") != ["127.0.0.1"]:
            raise DemoError(f"Home Assistant's HTTP settings were not confirmed: {http}")
        p.info("HTTP settings (127.0.0.1 only) confirmed, so Home Assistant keeps them")
        self.ha_token = await self.ha.create_long_lived_token("rtcc_share add-on (demo)")
        p.info("long-lived access token created for the add-on")
        if problem := await self.web_ui_problem():
            p.info(f"WARNING: Home Assistant's web UI will not load: {problem}")

    async def web_ui_problem(self) -> str | None:
        """Why the frontend would hang on "Loading...", or None when it can load.

        The frontend needs ``get_services``, which imports every base platform; a missing
        optional package of Home Assistant (e.g. hassil) breaks it for the whole UI.
        """
        try:
            await self.ha.websocket({"type": "get_services"})
        except HomeAssistantError as err:
            hint = "install Home Assistant's voice packages (see scripts/setup.sh)"
            return f"{err} -- {hint}"
        return None

    # -- step 2 -------------------------------------------------------------------------------

    async def add_cameras(self) -> None:
        p = self.progress
        port = free_port()
        self.children.start(
            "camera",
            [sys.executable, str(SCRIPTS / "demo_camera.py"), "--port", str(port)],
            env=self.env,
        )
        self.camera_url = f"http://127.0.0.1:{port}"
        await self._wait_http(self.camera_url + "/still.jpg", "the demo camera", "camera")
        p.info(f"stand-in IP camera serving MJPEG at {self.camera_url}/stream.mjpg")
        await self.ha.config_flow(
            "mjpeg",
            {
                "name": STREET_CAMERA_NAME,
                "mjpeg_url": self.camera_url + "/stream.mjpg",
                "still_image_url": self.camera_url + "/still.jpg",
                "password": "",
                "verify_ssl": False,
            },
        )
        backyard = self.media_dir / "backyard.jpg"
        backyard.write_bytes(demo_scene.backyard_frame())
        await self.ha.config_flow(
            "local_file", {"name": BACKYARD_CAMERA_NAME, "file_path": str(backyard)}
        )
        self.street_entity = await self._camera_entity(STREET_CAMERA_NAME)
        self.backyard_entity = await self._camera_entity(BACKYARD_CAMERA_NAME)
        p.info(f"{self.street_entity}: Home Assistant's mjpeg integration")
        p.info(f"{self.backyard_entity}: Home Assistant's local_file integration ({backyard.name})")
        original = await self.ha.get_bytes(f"/api/camera_proxy/{self.street_entity}")
        (self.out_dir / "original_street.jpg").write_bytes(original)
        p.info("what the street camera really sees: out/original_street.jpg")

    async def _camera_entity(self, name: str) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for state in await self.ha.states():
                if state["entity_id"].startswith("camera.") and (
                    state["attributes"].get("friendly_name") == name
                ):
                    return str(state["entity_id"])
            await asyncio.sleep(0.25)
        raise DemoError(f"no camera entity named {name!r} appeared in Home Assistant")

    async def _wait_http(self, url: str, what: str, child_name: str) -> None:
        child = next(c for c in self.children.items if c.name == child_name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not child.alive():
                raise DemoError(f"{what} exited\n--- {child.log} ---\n{child.tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise DemoError(f"{what} did not answer at {url}\n{child.tail()}")

    async def start_recording(self) -> None:
        """A stand-in Frigate, and a recorder feeding it the street camera's own frames."""
        from demo_recorder import CameraRecorder  # noqa: PLC0415

        from tests.support.standin_frigate import StandinFrigate  # noqa: PLC0415

        p = self.progress
        self.frigate_dir.mkdir(parents=True, exist_ok=True)
        self.frigate = await self._stack.enter_async_context(StandinFrigate(self.frigate_dir))
        self.recorder = CameraRecorder(
            self.session,
            self.camera_url + "/still.jpg",
            self.frigate,
            FRIGATE_CAMERA,
            self.frigate_dir / "recordings",
        )
        self._tasks.append(asyncio.create_task(self.recorder.run()))
        p.info(
            f"stand-in Frigate at {self.frigate.url} (Frigate's recordings and clip routes) "
            f"recording camera '{FRIGATE_CAMERA}': the demo camera's stills at "
            f"{self.recorder.fps} fps, {self.recorder.segments} H.264 segments of "
            f"{self.recorder.segment_s} s"
        )

    # -- step 3 -------------------------------------------------------------------------------

    async def _run_addon(self, options: dict[str, Any], data_dir: Path) -> tuple[Child, Any]:
        """Start `python -m rtcc_hub` with these options; wait for its readiness line."""
        options_file = self.addon_dir / "options.json"
        options_file.write_text(json.dumps(options, indent=2))
        options_file.chmod(0o600)
        child = self.children.start(
            "addon",
            [
                sys.executable,
                "-m",
                "rtcc_hub",
                "--options",
                str(options_file),
                "--data",
                str(data_dir),
            ],
            env=self.env,
        )
        deadline = time.monotonic() + 30
        match = None
        while match is None:
            if not child.alive():
                raise DemoError(f"the add-on exited\n--- {child.log} ---\n{child.tail()}")
            if time.monotonic() > deadline:
                raise DemoError(f"the add-on did not report listening\n{child.tail()}")
            match = _LISTENING.search(child.log.read_text(errors="replace"))
            await asyncio.sleep(0.1)
        return child, match

    async def start_broker(self, home_ids: list[str]) -> None:
        """The city's Mosquitto, configured exactly as docs/city-relay.md says."""
        from tests.support.broker import Broker, mosquitto_binary  # noqa: PLC0415

        try:
            binary = await asyncio.to_thread(mosquitto_binary)
        except Exception as err:
            raise DemoError(f"no Mosquitto (./scripts/setup.sh fetches one): {err}") from None
        # The documented configuration with this folder's paths and free loopback ports; the
        # process is one of the demo's children (stopped with them, reaped after a kill).
        self.broker = await asyncio.to_thread(Broker, self.broker_dir, homes=home_ids)
        child = self.children.start(
            "broker", [str(binary), "-c", str(self.broker.config_file)], env=self.env
        )
        deadline = time.monotonic() + 15
        for port in self.broker.ports.values():
            while not await asyncio.to_thread(_accepts, port):
                if not child.alive() or time.monotonic() > deadline:
                    raise DemoError(f"Mosquitto did not start:\n{self.broker.log()}{child.tail()}")
                await asyncio.sleep(0.05)

    def reload_broker(self) -> None:
        """Mosquitto rereads its password file on SIGHUP (new homes enrolled)."""
        broker = next(c for c in self.children.items if c.name == "broker")
        os.kill(broker.proc.pid, signal.SIGHUP)
        time.sleep(0.3)  # as Broker.add_home waits: the reload is not acknowledged

    async def start_addon(self) -> None:
        from rtcc_hub.city import keys, registry  # noqa: PLC0415
        from rtcc_hub.city.relay import CityRelay  # noqa: PLC0415

        p = self.progress
        self.city_key = keys.generate_private_key()
        key_file = self.city_dir / "city_key.pem"
        keys.write_private_key(self.city_key, key_file)
        p.info(f"city signing key (Ed25519): {key_file}")
        self.closed_city_port, control_port = free_ports(2)
        options: dict[str, Any] = {
            "hubs": [keys.hub_entry(self.city_key, hub_id=HUB_ID, name=HUB_NAME)],
            # Given, and unused: with city_http false nothing listens on it (shown below).
            "city_port": self.closed_city_port,
            "city_http": False,
            "control_port": control_port,
            "control_token": self.control_token,
            "ha_url": self.ha.url,
            "ha_token": self.ha_token,
            "bind": "127.0.0.1",
        }
        if self.frigate is not None:
            options["frigate_url"] = self.frigate.url
        data_dir = self.addon_dir / "data"
        data_dir.mkdir()
        # First start: the add-on makes its home id, which the city enrols at its broker (the
        # broker username is the home id); then the owner adds the relay entry and restarts.
        child, _ = await self._run_addon(options, data_dir)
        state = await self._control_at(f"http://127.0.0.1:{control_port}", "/control/v1/state")
        self.home_id = str(state["home_id"])
        await asyncio.to_thread(self.children.stop, child)
        p.info(f"first start: home_id {self.home_id}, no relay yet, nothing for the city")
        homes_file = self.city_dir / "homes.json"
        registry.enrol(homes_file, self.home_id, "demo home")
        await self.start_broker([self.home_id])
        broker = self.broker
        self.relay_url = broker.url("mqtts")
        p.info(
            f"the city's broker: Mosquitto at {self.relay_url} (TLS, docs/city-relay.md config);"
            f" home enrolled in {homes_file}"
        )
        options["relays"] = [
            {
                "hub": HUB_ID,
                "url": self.relay_url,
                "username": self.home_id,
                "password": broker.password(self.home_id),
                "ca_file": str(broker.ca.cert_file),
            }
        ]
        child, match = await self._run_addon(options, data_dir)
        line = match[0]
        if match[1] != "off":
            raise DemoError(f"the add-on opened a city port: {line}")
        self.control_url = f"http://{match[2]}:{match[3]}"
        p.info(f"the add-on says: {line}")
        relays = await self._relays_connected()
        p.info(
            f"relay to {relays[0]['url']} connected since {relays[0]['since']} "
            f"(hub '{relays[0]['hub']}')"
        )
        listening = await asyncio.to_thread(_listening_ports, child.proc.pid)
        self.results["addon_listening"] = listening
        p.info(
            "the add-on process listens on: "
            + ", ".join(f"{h}:{port}" for h, port in listening)
            + "  (the control API, for the integration; nothing for the city)"
        )
        refused = await asyncio.to_thread(_refused, self.closed_city_port)
        self.results["city_port_refused"] = refused
        p.info(
            f"connect to 127.0.0.1:{self.closed_city_port} (its city_port) -> "
            + ("refused: no city port open at home" if refused else "ACCEPTED (unexpected)")
        )
        user = broker.city_username
        self.relay = await self._stack.enter_async_context(
            CityRelay(
                self.relay_url,
                username=user,
                password=broker.password(user),
                ca_file=str(broker.ca.cert_file),
            )
        )
        online = await self.relay.online_homes(settle_s=0.5)
        self.results["online"] = online
        p.info(f"the city, connected to its broker as '{user}', sees: {online}")
        p.info(f"control API {self.control_url}   (what the integration talks to)")
        p.info(
            f"home_id {self.home_id}; trusts hub '{HUB_ID}'; consent is off until the owner opts in"
        )

    async def _relays_connected(self, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            relays = list((await self.control("GET", "/control/v1/state")).get("relays") or [])
            if relays and all(r.get("connected") for r in relays):
                return relays
            if time.monotonic() > deadline:
                raise DemoError(f"the add-on's relay did not connect: {relays}")
            await asyncio.sleep(0.1)

    async def _control_at(self, url: str, path: str) -> Any:
        async with self.session.get(
            url + path, headers={"Authorization": f"Bearer {self.control_token}"}
        ) as resp:
            if resp.status != 200:
                raise DemoError(f"control API GET {path} -> {resp.status}: {await resp.text()}")
            return await resp.json()

    def city_home(self) -> Any:
        """This home's city API as the city reaches it: over the relay (a RelayHome)."""
        if self.relay is None:
            raise DemoError("the city is not connected to its broker (start_addon first)")
        return self.relay.home(self.home_id)

    async def control(self, method: str, path: str, json_body: Any = None) -> Any:
        async with self.session.request(
            method,
            self.control_url + path,
            json=json_body,
            headers={"Authorization": f"Bearer {self.control_token}"},
        ) as resp:
            if resp.status >= 300:
                raise DemoError(
                    f"control API {method} {path} -> {resp.status}: {await resp.text()}"
                )
            return await resp.json()

    # -- step 4 -------------------------------------------------------------------------------

    async def setup_integration(self) -> None:
        p = self.progress
        result = await self.ha.config_flow(
            "rtcc_share", {"url": self.control_url, "token": self.control_token}
        )
        self.entry_id = str(result["result"]["entry_id"])
        p.info(f"config flow done: entry '{result['title']}' ({self.entry_id})")
        await self.ha.options_flow(self.entry_id, self._answer_options)
        p.info(
            f"options flow done: share {self.street_entity} as '{STREET_LABEL}' with a mask over "
            f"the neighbour's window, {self.backyard_entity} not shared, auto mode"
        )
        if self.frigate is not None:
            await self._set_recorder()
        await self._find_entities()
        consent = self.entities["consent"]
        await self.ha.call_service("switch", "turn_on", {"entity_id": consent})
        await self.ha.wait_state(consent, lambda s: s["state"] == "on")
        policy = (await self.control("GET", "/control/v1/state"))["policy"]
        if not policy.get("consent"):
            raise DemoError(f"{consent} is on but the add-on's policy has consent off")
        p.info(f"{consent} turned on (switch.turn_on): the add-on now has consent=true")
        shared = [c["entity_id"] for c in policy.get("cameras", []) if c.get("share")]
        p.info(f"the add-on's policy (revision {policy.get('revision')}) shares: {shared}")
        p.info(
            f"the owner's panel: {self.ha.url}/{PANEL_PATH} ('Camera sharing' in the sidebar): "
            "requests, cameras with the mask editor, history, rules"
        )

    async def _set_recorder(self) -> None:
        """The street camera is recorded by Frigate under FRIGATE_CAMERA.

        The demo's Home Assistant has no Frigate integration, so the owner's choice is the
        panel's "Frigate camera by name…" (or the options flow's "Frigate camera name" field);
        the demo makes it with the command the panel's Save sends.
        """
        result = await self.ha.websocket(
            {
                "type": "rtcc_share/camera/save",
                "entity_id": self.street_entity,
                "share": True,
                "label": STREET_LABEL,
                "masks": [demo_scene.NEIGHBOUR_WINDOW_MASK],
                "max_width": 1280,
                "max_fps": 5,
                "recorder": {"source": "frigate", "camera": FRIGATE_CAMERA},
            }
        )
        self.progress.info(
            f"recorder of {self.street_entity}: Frigate camera '{FRIGATE_CAMERA}' "
            f"(panel command rtcc_share/camera/save, policy revision {result['revision']})"
        )

    def _answer_options(self, step: dict[str, Any]) -> dict[str, Any]:
        """The owner's answers to the integration's options flow (init, then one per camera)."""
        if step.get("step_id") == "init":
            return {
                "cameras": [self.street_entity, self.backyard_entity],
                "mode": "auto",
                "ask_timeout_s": 600,
                "max_radius_m": 800,
                "max_duration_s": 3600,
                "max_unlocks_per_week": 20,
                "allow_live": True,
                "require_case_number": True,
                "excluded_offenses": ["protest", "immigration", "reproductive_health"],
                # Recorded clips, at most 30 min of footage from at most a week back.
                "allow_clips": True,
                "max_clip_minutes": 30,
                "max_clip_age_hours": 168,
            }
        if step.get("step_id") == "camera":
            camera = (step.get("description_placeholders") or {}).get("camera")
            if camera == self.street_entity:
                return {
                    "label": STREET_LABEL,
                    "share": True,
                    "masks": json.dumps([demo_scene.NEIGHBOUR_WINDOW_MASK]),
                    "max_width": 1280,
                    "max_fps": 5,
                }
            if camera == self.backyard_entity:
                return {"label": BACKYARD_CAMERA_NAME, "share": False, "masks": "[]"}
        raise DemoError(f"the options flow shows a step the demo does not know: {step}")

    async def _find_entities(self) -> None:
        """The integration's entities, found by what they are (translation key, unique id)."""
        registry: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            registry = [
                e for e in await self.ha.entity_registry() if e.get("platform") == "rtcc_share"
            ]
            keys = {e.get("translation_key") for e in registry}
            if {"consent", "unlocks_shared", "share"} <= keys:
                break
            await asyncio.sleep(0.25)
        self.registry_ids = [str(e["entity_id"]) for e in registry]
        for entry in registry:
            eid, key = str(entry["entity_id"]), entry.get("translation_key")
            if eid.startswith("switch.") and key == "consent":
                self.entities["consent"] = eid
            elif eid.startswith("sensor.") and key == "unlocks_shared":
                self.entities["unlocks_shared"] = eid
            elif eid.startswith("switch.") and key == "share":
                # The switch says which camera it shares (its unique id is the camera's
                # registry id, which survives a rename).
                state = await self.ha.wait_state(eid, lambda s: "camera" in s["attributes"])
                self.entities[f"share:{state['attributes']['camera']}"] = eid
        for needed in ("consent", "unlocks_shared", f"share:{self.street_entity}"):
            if needed not in self.entities:
                found = sorted(e["entity_id"] for e in registry)
                raise DemoError(f"no {needed} entity among the integration's entities: {found}")
        for name, eid in sorted(self.entities.items()):
            self.progress.info(f"entity {eid:45} ({name})")

    # -- step 5 -------------------------------------------------------------------------------

    def sign_unlock(
        self,
        *,
        near: bool = True,
        scope: tuple[str, ...] = ("snapshot", "stream"),
        incident: str = "I-2026-1123",
        footage: tuple[int, int] | None = None,
        audience: str | None = None,
    ) -> str:
        from rtcc_hub.city.tokens import (  # noqa: PLC0415
            Footage,
            Incident,
            sign_unlock_token,
        )

        return str(
            sign_unlock_token(
                self.city_key,
                issuer=HUB_ID,
                audience=audience or self.home_id,
                incident=Incident(
                    id=incident,
                    offense="burglary",
                    case_number="JPD-26-004512",
                    summary="Break-in on the street; looking for a vehicle leaving the scene",
                ),
                area=incident_area(near),
                scope=list(scope),
                duration_s=1800,
                footage=None if footage is None else Footage(start=footage[0], end=footage[1]),
            )
        )

    async def city_unlock(self, **kwargs: Any) -> Unlocked:
        unlock = await self.city_home().unlock(self.sign_unlock(**kwargs))
        return Unlocked(
            status=unlock.status,
            unlock_id=unlock.unlock_id,
            access_token=unlock.access_token,
            cameras=list(unlock.cameras),
        )

    async def footage_window(self) -> tuple[int, int]:
        """The recorded minutes (whole seconds), once the recorder has finished its segments."""
        p = self.progress
        recorder = self.recorder
        if recorder is None:
            raise DemoError("nothing is being recorded (start_recording was not run)")
        while not recorder.finished.is_set():
            p.info(
                f"waiting for the recording: {recorder.recorded_s:.0f} of {recorder.seconds:.0f} s "
                "in Frigate"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorder.finished.wait(), 5)
        if recorder.error is not None or not recorder.rows:
            raise DemoError(f"the recorder failed: {recorder.error!r}")
        rows = recorder.rows
        window = (int(rows[0].start_time), math.ceil(rows[-1].end_time))
        p.info(
            f"Frigate holds {len(rows)} segments of the street camera, "
            f"{fmt_time(window[0])}..{fmt_time(window[1])} ({recorder.missed} stills missed)"
        )
        return window

    async def play_city(self) -> None:
        p = self.progress
        home = self.city_home()
        p.info(f"the city reaches home {self.home_id} over {self.relay_url} (MQTT 5, no port)")
        far = await self.city_unlock(near=False, incident="I-2026-1124")
        p.info(f"unlock for an incident 15 km away        -> {far.status}")
        self.results["far"] = far
        scope: tuple[str, ...] = ("snapshot", "stream")
        footage = None
        if self.recorder is not None:
            footage = await self.footage_window()
            scope = CLIP_SCOPE
        near = await self.city_unlock(near=True, scope=scope, footage=footage)
        p.info(f"unlock for an incident 100 m from home  -> {near.status}  (scope {list(scope)})")
        self.results["near"] = near
        if near.status != "active" or not near.access_token:
            raise DemoError(f"the unlock near the home was not granted: {near}")
        for cam in near.cameras:
            p.info(f"  camera {cam.id} '{cam.label}' {list(cam.capabilities)}")
        camera = near.cameras[0]
        snapshot = await home.snapshot(near.unlock_id, near.access_token, camera.id)
        snap_path = self.out_dir / "snapshot.jpg"
        snap_path.write_bytes(snapshot)
        self.results["snapshot"] = snap_path
        p.info(f"masked snapshot ({len(snapshot)} bytes): {snap_path}")
        compare = self.out_dir / "compare.jpg"
        compare.write_bytes(
            demo_scene.side_by_side((self.out_dir / "original_street.jpg").read_bytes(), snapshot)
        )
        p.info(f"what the camera sees | what the city got: {compare}")
        frames: list[Path] = []
        if "stream" in camera.capabilities:
            stream = home.stream(near.unlock_id, near.access_token, camera.id)
            async with contextlib.aclosing(stream) as frames_in:
                async for frame in frames_in:
                    path = self.out_dir / f"stream_{len(frames) + 1:02d}.jpg"
                    path.write_bytes(frame)
                    frames.append(path)
                    if len(frames) >= STREAM_FRAMES:
                        break
            p.info(f"{len(frames)} stream frames: {self.out_dir}/stream_01.jpg ...")
        else:
            p.info("the unlock is snapshot-only (live streams not allowed by the policy)")
        self.results["frames"] = frames
        if "clip" in camera.capabilities:
            await self.city_clip(near, camera.id)
        await home.close_unlock(near.unlock_id, near.access_token)
        status = await home.status(near.unlock_id, near.access_token)
        p.info(
            f"the city closed the unlock (DELETE): status {status.status} ({status.ended_reason})"
        )
        p.info(f"everything the city received is in {self.out_dir}")
        if frames:  # the add-on writes stream_closed (frames and bytes sent) once it notices
            await self._wait_audit("stream_closed")

    async def city_clip(self, near: Unlocked, camera_id: str) -> None:
        """Ask for the footage window's clip, wait for it, download it, check it."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PublicKey,
        )
        from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
            load_pem_public_key,
        )

        from rtcc_hub.city.receipts import verify_receipt  # noqa: PLC0415

        p = self.progress
        home = self.city_home()
        assert near.access_token is not None
        clip = await home.request_clip(near.unlock_id, near.access_token, camera_id)
        p.info(f"clip {clip.clip_id} asked for, footage {clip.start}..{clip.end}: {clip.status}")
        deadline = time.monotonic() + 120
        shown = -1.0
        while not clip.finished:
            if time.monotonic() > deadline:
                raise DemoError(f"the clip was not made in time: {clip}")
            if clip.progress - shown >= 0.1:
                p.info(f"  preparing ... {clip.progress:.0%}")
                shown = clip.progress
            await asyncio.sleep(0.5)
            clip = await home.clip(near.unlock_id, near.access_token, clip.clip_id)
        p.info(
            f"  {clip.status}"
            + (f": {clip.bytes} bytes, sha256 {clip.sha256}" if clip.bytes else "")
        )
        self.results["clip"] = clip
        if clip.status != "ready":
            raise DemoError(f"the clip could not be made: {clip.status}")
        path = self.out_dir / "clip.mp4"
        download = await home.clip_video(near.unlock_id, near.access_token, clip.clip_id, path)
        p.info(f"clip downloaded: {path} ({download.bytes} bytes, {download.repr_digest})")
        status = await home.status(near.unlock_id, near.access_token)
        receipt_key = load_pem_public_key(str((status.raw or {})["receipt_key"]).encode())
        if not isinstance(receipt_key, Ed25519PublicKey) or download.receipt is None:
            raise DemoError(f"no usable receipt: key {receipt_key!r}, {download.receipt!r}")
        receipt = verify_receipt(receipt_key, path.read_bytes(), download.receipt)
        self.results["clip_receipt"] = receipt
        p.info(f"receipt verified with the unlock's receipt_key: {receipt.summary}")
        check = await asyncio.to_thread(check_clip, path, self.out_dir / "clip_frame.png")
        self.results["clip_check"] = check
        p.info(
            f"clip: {check.frames} frames {check.width}x{check.height}, {check.seconds:.1f} s, "
            f"streams {check.streams}; mask area max {check.mask_max} (0 = black) in every "
            f"frame, street mean {check.street_mean:.0f}"
        )
        p.info(f"one clip frame: {self.out_dir / 'clip_frame.png'}")

    async def _wait_audit(self, event: str, timeout_s: float = 5.0) -> None:
        """Wait until the audit log has an ``event`` entry (the add-on writes some a bit later)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            history = await self.control("GET", "/control/v1/history?after=0&limit=1000")
            if any(e.get("event") == event for e in history):
                return
            await asyncio.sleep(0.1)

    # -- step 6 -------------------------------------------------------------------------------

    async def start_neighbours(self) -> None:
        """`neighbours` more homes, each the real add-on in this process, reached by relay only."""
        from neighbourhood import HubEntry, Neighbourhood  # noqa: PLC0415

        from rtcc_hub.city import keys, registry  # noqa: PLC0415

        p = self.progress
        entry = keys.hub_entry(self.city_key, hub_id=HUB_ID, name=HUB_NAME)
        area = incident_area(near=True)
        started = time.monotonic()
        self.hood = await self._stack.enter_async_context(
            Neighbourhood(
                self.base / "neighbours",
                broker=_BrokerEnrolment(self),
                hub=HubEntry(HUB_ID, HUB_NAME, str(entry["public_key"])),
                centre=(area.lat, area.lon),
                count=self.neighbours,
                seed=NEIGHBOURHOOD_SEED,
                radius_m=area.radius_m,
                fetch_still=_street_now,
            )
        )
        homes_file = self.city_dir / "homes.json"
        for number, home in enumerate(self.hood.homes, start=1):
            registry.enrol(homes_file, home.home_id, f"neighbour {number}")
        profiles: dict[str, int] = {}
        for home in self.hood.homes:
            profiles[str(home.profile)] = profiles.get(str(home.profile), 0) + 1
        p.info(
            f"{len(self.hood.homes)} neighbour homes up in {time.monotonic() - started:.1f} s: "
            "each the real add-on (own data dir, home id, home key, audit log), city_http off, "
            "one relay to the city's broker"
        )
        p.info(
            "what their owners chose: "
            + ", ".join(f"{count} {name}" for name, count in sorted(profiles.items()))
        )
        online = await self.relay.online_homes(settle_s=0.5)
        count = sum(1 for status in online.values() if status == "online")
        p.info(f"the city's broker has {count} homes online; {homes_file} enrols them all")

    async def broadcast(self) -> None:
        """One incident, one signed unlock per enrolled home, all sent at once over the relay."""
        from rtcc_hub.city import registry  # noqa: PLC0415
        from rtcc_hub.city.broadcast import broadcast  # noqa: PLC0415

        p = self.progress
        homes = registry.load_homes(self.city_dir / "homes.json")
        tokens = {
            home.home_id: self.sign_unlock(
                near=True, scope=("snapshot",), incident=BROADCAST_INCIDENT, audience=home.home_id
            )
            for home in homes
        }
        result = await broadcast(self.relay, tokens)
        self.results["broadcast"] = result
        p.info(
            f"incident {BROADCAST_INCIDENT} (500 m around the break-in) sent to every enrolled "
            f"home: asked {result.asked}, accepted {len(result.accepted)}, declined "
            f"{len(result.declined)}, no answer {len(result.no_answer)}, refused "
            f"{len(result.refused)} ({result.seconds:.2f} s)"
        )
        shapes = sorted(
            {tuple(sorted((a.unlock.raw or {}).keys())) for a in result.declined if a.unlock}
        )
        p.info(f"every decline looks alike to the city (status declined, no reason): {shapes}")
        neighbours = self.hood.homes if self.hood is not None else []
        numbers = {home.home_id: n for n, home in enumerate(neighbours, start=1)}
        saved: list[Path] = []
        for answer in result.accepted:
            unlock = answer.unlock
            assert unlock is not None
            assert unlock.access_token is not None
            home = self.relay.home(answer.home_id)
            if answer.home_id in numbers:
                jpeg = await home.snapshot(
                    unlock.unlock_id, unlock.access_token, unlock.cameras[0].id
                )
                path = self.out_dir / f"neighbour_{numbers[answer.home_id]:02d}.jpg"
                path.write_bytes(jpeg)
                saved.append(path)
            await home.close_unlock(unlock.unlock_id, unlock.access_token)
        self.results["broadcast_snapshots"] = saved
        cameras = sum(len(a.unlock.cameras) for a in result.accepted if a.unlock)
        p.info(
            f"{len(result.accepted)} homes answered with {cameras} cameras: a masked snapshot "
            f"from each neighbour in {self.out_dir}/neighbour_NN.jpg ({len(saved)} files); "
            "the city closed every unlock"
        )
        expected = {self.home_id}
        if self.hood is not None:
            expected |= self.hood.expected_accepting()
        accepted = {a.home_id for a in result.accepted}
        if accepted != expected:
            raise DemoError(
                f"the broadcast's answers are not the homes inside the circle with consent and "
                f"cameras: accepted {sorted(accepted)}, expected {sorted(expected)}"
            )

    # -- step 7 -------------------------------------------------------------------------------

    async def share_history(
        self, predicate: Callable[[list[dict[str, Any]]], bool] = lambda _r: True
    ) -> list[dict[str, Any]]:
        """The panel's History records (newest first), once `predicate` holds for them."""
        deadline = time.monotonic() + 15
        while True:
            page = await self.ha.websocket({"type": "rtcc_share/history", "limit": 100})
            records = list(page["records"])
            if predicate(records) or time.monotonic() > deadline:
                return records
            await asyncio.sleep(0.25)

    async def audit_verify(self) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
        api = await self.control("GET", "/control/v1/audit/verify")
        cli = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "rtcc_hub",
                "audit",
                "verify",
                "--data",
                str(self.addon_dir / "data"),
            ],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        return api, cli

    async def report(self) -> None:
        p = self.progress
        near = self.results["near"].unlock_id

        def settled(records: list[dict[str, Any]]) -> bool:
            # The history follows the add-on's event stream: wait until it has the whole story.
            return any(r["unlock_id"] == near and r["status"] == "ended" for r in records)

        records = await self.share_history(settled)
        if not settled(records):
            p.info("(the history has not caught up with the add-on yet)")
        shared = await self.ha.state(self.entities["unlocks_shared"])
        p.info(
            f"{self.entities['unlocks_shared']} = {shared and shared['state']}  (unlocks shared)"
        )
        p.info("the panel's History (rtcc_share/history), newest first:")
        for record in records:
            p.info(
                f"  {record['incident_id']!s:12} {record['offense']!s:9} {record['status']!s:8} "
                f"{record['reason'] or ''!s:16} cameras={record['cameras']} "
                f"snapshots={record['snapshots']} frames={record['frames']} bytes={record['bytes']}"
            )
        entries = await self.control("GET", "/control/v1/history?after=0&limit=1000")
        p.info(f"audit log ({len(entries)} entries, each hash-chained to the one before):")
        for entry in entries:
            detail = entry.get("detail") or {}
            extra = ", ".join(
                f"{k}={detail[k]}"
                for k in ("status", "reason", "entity_id", "frames", "bytes", "changed")
                if detail.get(k) not in (None, "", [])
            )
            if isinstance(incident := detail.get("incident"), dict):
                extra = f"incident={incident.get('id')} offense={incident.get('offense')} " + extra
            p.info(f"  #{entry['seq']:<3} {entry['event']:16} {extra}"[:150])
        api, cli = await self.audit_verify()
        self.results["audit_api"] = api
        self.results["audit_cli"] = cli
        p.info(f"GET /control/v1/audit/verify -> {json.dumps(api)}")
        out = (cli.stdout + cli.stderr).strip()
        p.info(f"python -m rtcc_hub audit verify --data ... -> exit {cli.returncode}: {out}")

    # -- all of it ------------------------------------------------------------------------------

    async def run(self) -> None:
        p = self.progress
        total = 7
        p.say(
            "rtcc_share demo: a real Home Assistant with two cameras, the rtcc_share add-on and\n"
            "integration, and a simulated city Real Time Crime Center asking for access over\n"
            "its MQTT broker (no port open at home).\n"
            f"Everything runs on 127.0.0.1; working folder {self.base} (wiped on each run)."
        )
        self.prepare()
        p.step(1, total, "Home Assistant: fresh config, start, onboard the owner")
        await self.start_home_assistant()
        p.step(2, total, "Two cameras from Home Assistant's own integrations (mjpeg, local_file)")
        await self.add_cameras()
        await self.start_recording()
        p.step(3, total, "The city's broker, and the add-on with no open port: one relay to it")
        await self.start_addon()
        p.step(4, total, "The integration: config flow, options flow (share + mask), consent on")
        await self.setup_integration()
        p.step(5, total, "The city hub over the relay: unlock near / far, snapshot, stream, clip")
        await self.play_city()
        p.step(6, total, f"The neighbourhood: {self.neighbours} more homes, one broadcast")
        if self.neighbours:
            await self.start_neighbours()
        await self.broadcast()
        p.step(7, total, "What the owner sees: share history and the audit log")
        await self.report()
        self.results["wall_s"] = p.done()

    def summary(self) -> list[str]:
        """What happened, in a few lines (from the results of the steps that ran)."""
        r = self.results
        lines = ["", "What happened"]
        if "city_port_refused" in r:
            ports = ", ".join(f"{h}:{port}" for h, port in r["addon_listening"])
            closed = "refused" if r["city_port_refused"] else "NOT refused"
            lines.append(
                f"  no port at home   the add-on listens on {ports} only (control API); "
                f"its city port: {closed}"
            )
            lines.append(f"  relay             the city reached the home over {self.relay_url}")
        if "near" in r:
            lines.append(
                f"  unlocks           15 km away: {r['far'].status}; 100 m away: {r['near'].status}"
                f" (snapshot, {len(r.get('frames', []))} stream frames)"
            )
        if "clip_check" in r:
            check, receipt = r["clip_check"], r["clip_receipt"]
            lines.append(
                f"  clip              {check.frames} frames, {check.seconds:.0f} s of recorded "
                f"footage; mask black (max {check.mask_max}); receipt verified (audit entry "
                f"{receipt.claims['audit_seq']})"
            )
        if "broadcast" in r:
            b = r["broadcast"]
            lines.append(
                f"  broadcast         asked {b.asked} homes: {len(b.accepted)} accepted, "
                f"{len(b.declined)} declined alike, {len(b.no_answer)} no answer; "
                f"{len(r['broadcast_snapshots'])} neighbour snapshots saved"
            )
        if "audit_api" in r:
            lines.append(
                f"  audit log         {r['audit_api']['entries']} entries, chain ok: "
                f"{r['audit_api']['ok']}"
            )
        return lines

    def banner(self) -> str:
        rel = os.path.relpath
        key = rel(self.city_dir / "city_key.pem", REPO)
        ca = rel(self.broker.ca.cert_file, REPO)
        lat, lon = HOME_LAT + 0.0007, HOME_LON + 0.0007
        return "\n".join(
            [
                *self.summary(),
                "",
                f"Home Assistant  {self.ha.url}",
                f"  log in as     {OWNER_USERNAME} / {self.password}   ({OWNER_NAME})",
                "  the Camera sharing panel: requests, masks, history, rules; the device",
                "  'Camera sharing' (Settings > Devices & services > RTCC Share) has the entities",
                f"  panel         {self.ha.url}/{PANEL_PATH}   ('Camera sharing' in the sidebar)",
                f"City API        none at home (city_http: false); the city's broker "
                f"{self.relay_url}",
                f"Control API     {self.control_url}   (bearer {self.control_token})",
                f"City output     {rel(self.out_dir, REPO)}/   (compare.jpg: camera | city;"
                " clip.mp4, clip_frame.png)",
                f"Logs            {rel(self.base / 'logs', REPO)}/",
                "",
                "Play the city hub yourself (from the repository folder):",
                f"  RTCC_RELAY_PASSWORD={self.broker.password(self.broker.city_username)} \\",
                f"  .venv/bin/python -m rtcc_hub.city unlock --relay {self.relay_url} \\",
                f"    --relay-user {self.broker.city_username} --relay-ca {ca} \\",
                f"    --home {self.home_id} --key {key} \\",
                f"    --iss {HUB_ID} --aud {self.home_id} --incident-id I-42 --offense burglary \\",
                f"    --case-number C-42 --lat {lat:.4f} --lon {lon:.4f} --radius-m 500 \\",
                "    --duration-s 600 --scope snapshot,stream",
            ]
        )


async def amain(args: argparse.Namespace) -> int:
    # Ctrl-C and SIGTERM cancel the scenario, and leaving `async with` stops every child.
    # (Installed explicitly: a shell that starts us in the background ignores SIGINT.)
    task = asyncio.current_task()
    if task is not None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
    async with Demo(base=Path(args.dir), ha_port=args.ha_port, neighbours=args.neighbours) as demo:
        await demo.run()
        print(demo.banner())
        print(f"\nScenario finished in {demo.results['wall_s']:.1f} s.")
        if args.once:
            return 0
        print("Home Assistant keeps running; press Ctrl-C to stop everything.")
        while True:  # until Ctrl-C, or until one of the processes dies
            if not all(c.alive() for c in demo.children.items):
                break
            await asyncio.sleep(1)
        dead = [c.name for c in demo.children.items if not c.alive()]
        print(f"stopped: {', '.join(dead)} exited")
        return 1


def main() -> int:
    parser = argparse.ArgumentParser(description="rtcc_share end-to-end demo")
    parser.add_argument("--once", action="store_true", help="exit after the scenario")
    parser.add_argument("--dir", default=str(REPO / ".demo"), help="working folder (wiped)")
    parser.add_argument("--ha-port", type=int, default=8123, help="preferred Home Assistant port")
    parser.add_argument(
        "--neighbours",
        type=int,
        default=NEIGHBOURS,
        help=f"simulated neighbour homes for the broadcast (default {NEIGHBOURS})",
    )
    args = parser.parse_args()
    try:
        return asyncio.run(amain(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\nInterrupted; everything the demo started has been stopped.")
        return 130
    except (DemoError, HomeAssistantError) as err:
        print(f"\nDEMO FAILED: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
