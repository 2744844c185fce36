"""Run the add-on (`python -m rtcc_hub --options FILE --data DIR`) as a subprocess.

    hub = HubProcess(tmp_path / "data", hubs=[city.hub_config()], ha_url=ha.url,
                     ha_token=ha.token)
    hub.start()                   # waits for "rtcc_hub listening ..." and /api/v1/health
    hub.city_url, hub.control_url, hub.control_token, hub.home_id
    hub.restart()                 # clean stop (SIGTERM, rc 0) + start on the same data dir/ports
    hub.stop()                    # SIGTERM; raises HubProcessError unless rc == 0 within timeout
    hub.output                    # captured stdout+stderr lines

or as a context manager (`with HubProcess(...) as hub:`), which stops it (and kills it if it
does not exit cleanly) at the end. `await hub.async_wait_healthy()` is the async wait.
`HubProcess(..., nofile=(soft, hard))` starts the child with that RLIMIT_NOFILE.
The child's environment carries COVERAGE_PROCESS_START and RTCC_TURBOJPEG_LIB through (the
whole parent environment is inherited) and has PYTHONUNBUFFERED=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

_LISTENING = re.compile(
    r"rtcc_hub listening city=(?:(?P<city>\S+):(?P<cport>\d+)|off) "
    r"control=(?P<ctrl>\S+):(?P<ctport>\d+)"
)
HUB_ADDON_DIR = Path(__file__).resolve().parents[2] / "hub_addon"


class HubProcessError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen (one after
    the other, the kernel may hand out a port it just gave back)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # Only the repository root (for `tests.support`): the add-on itself must come from the
    # environment it is installed in, so the clean add-on env tests the package users get.
    paths = [str(HUB_ADDON_DIR.parent)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    # Explicitly carried through (they are inherited anyway when set).
    for key in ("COVERAGE_PROCESS_START", "RTCC_TURBOJPEG_LIB"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return env


class HubProcess:
    def __init__(
        self,
        data_dir: str | Path,
        *,
        hubs: list[dict[str, Any]] | None = None,
        ha_url: str = "http://127.0.0.1:9",
        ha_token: str = "standin-ha-token",
        control_token: str = "test-control-token",
        city_port: int | None = None,
        control_port: int | None = None,
        bind: str = "127.0.0.1",
        extra_options: dict[str, Any] | None = None,
        options_path: str | Path | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
        nofile: tuple[int, int] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        city_port = city_port or free_port(bind)
        if not control_port:
            # Two free_port() calls may give the same port (the first socket is closed by then);
            # the same port twice is only ever what a test asks for.
            control_port = free_port(bind)
            while control_port == city_port:
                control_port = free_port(bind)
        self.options: dict[str, Any] = {
            "hubs": hubs or [],
            "city_port": city_port,
            "control_port": control_port,
            "control_token": control_token,
            "ha_url": ha_url,
            "ha_token": ha_token,
            "bind": bind,
        }
        self.options.update(extra_options or {})
        self.options_path = (
            Path(options_path)
            if options_path
            else self.data_dir.parent / f"{self.data_dir.name}-options.json"
        )
        self.env = env
        self.startup_timeout = startup_timeout
        self.nofile = nofile
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self._home_id: str | None = None
        self.announced: tuple[str, int, str, int] | None = None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def bind(self) -> str:
        return str(self.options.get("bind", "127.0.0.1"))

    @property
    def city_scheme(self) -> str:
        """`https` when the options configure TLS for the city API (certfile/keyfile)."""
        return "https" if self.options.get("certfile") else "http"

    @property
    def city_url(self) -> str:
        return f"{self.city_scheme}://{self.bind}:{self.options['city_port']}"

    @property
    def control_url(self) -> str:
        return f"http://{self.bind}:{self.options['control_port']}"

    @property
    def control_token(self) -> str:
        return str(self.options["control_token"])

    @property
    def control_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.control_token}"}

    @property
    def home_id(self) -> str:
        if self._home_id is None:
            self._home_id = str(self.control_get("/control/v1/state")["home_id"])
        return self._home_id

    # -- lifecycle ------------------------------------------------------------------------------
    def write_options(self) -> None:
        self.options_path.write_text(json.dumps(self.options, indent=2), encoding="utf-8")

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "rtcc_hub",
            "--options", str(self.options_path),
            "--data", str(self.data_dir),
        ]  # fmt: skip
        if self.nofile is not None:
            soft, hard = self.nofile
            launcher = [sys.executable, "-m", "tests.support.with_nofile", str(soft), str(hard)]
            command = [*launcher, "--", *command]
        return command

    def start(self) -> HubProcess:
        if self.proc is not None and self.proc.poll() is None:
            raise HubProcessError("already running")
        self.write_options()
        self._ready.clear()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=child_env(self.env),
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        try:
            self.wait_ready(self.startup_timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            self.output.append(line)
            m = _LISTENING.search(line)
            if m:
                # Trust the announced ports (they must be the configured ones).
                city_port = int(m["cport"]) if m["cport"] else 0  # 0: city=off (relays only)
                self.announced = (m["city"] or "off", city_port, m["ctrl"], int(m["ctport"]))
                self._ready.set()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the listening line (or, failing that, a healthy /api/v1/health)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                break
            if self.proc is None or self.proc.poll() is not None:
                raise HubProcessError(
                    f"rtcc_hub exited with {self.proc and self.proc.returncode} before it was "
                    f"ready:\n{self.log_tail()}"
                )
            if self._health_ok():
                break
        else:
            raise HubProcessError(f"rtcc_hub not ready within {timeout} s:\n{self.log_tail()}")
        self.wait_healthy(max(1.0, deadline - time.monotonic()))

    def _health_ok(self) -> bool:
        if self.options.get("city_http", True) is False:  # no city listener: ask the owner's
            try:
                return self.control_request("GET", "/control/v1/state")[0] == 200
            except OSError:
                return False
        context = None
        if self.city_scheme == "https":  # readiness probe only: the tests check the cert
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(
                f"{self.city_url}/api/v1/health", timeout=1, context=context
            ) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._health_ok():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise HubProcessError(f"rtcc_hub exited:\n{self.log_tail()}")
            time.sleep(0.05)
        raise HubProcessError(f"/api/v1/health not OK within {timeout} s:\n{self.log_tail()}")

    async def async_wait_healthy(self, wait_s: float = 10.0) -> None:
        await asyncio.to_thread(self.wait_healthy, wait_s)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0, *, check: bool = True) -> int:
        """SIGTERM and wait; returns the exit code. With `check`, rc != 0 or a hang raises."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                if check:
                    raise HubProcessError(
                        f"rtcc_hub did not exit within {timeout} s of SIGTERM:\n{self.log_tail()}"
                    ) from None
                return -9
        if self._reader is not None:
            self._reader.join(5)
        rc = int(proc.returncode)
        self.proc = None
        if check and rc != 0:
            raise HubProcessError(f"rtcc_hub exited with {rc}:\n{self.log_tail()}")
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        self.proc = None

    def restart(self, timeout: float = 10.0) -> HubProcess:
        self.stop(timeout)
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.output[-lines:])

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop(check=False)
        finally:
            self.kill()

    # -- small sync HTTP helpers (control API) --------------------------------------------------
    def control_request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.control_url}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.control_token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def control_get(self, path: str) -> Any:
        status, body = self.control_request("GET", path)
        if status != 200:
            raise HubProcessError(f"GET {path} -> {status} {body!r}")
        return body

    def put_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        status, body = self.control_request("PUT", "/control/v1/policy", policy)
        if status != 200:
            raise HubProcessError(f"PUT policy -> {status} {body!r}")
        return dict(body)
