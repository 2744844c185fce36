"""A real Mosquitto 2 for the relay tests, configured exactly as docs/city-relay.md says.

    broker = Broker(tmp_path, homes=[home_id])     # password file, ACL, a test CA, certificates
    broker.start()                                  # waits until every listener accepts
    broker.url("mqtt"), broker.url("mqtts"), broker.url("wss"), broker.url("mtls")
    broker.password(home_id), broker.city_username, broker.password(broker.city_username)
    broker.restart(); broker.stop(); broker.log()   # the broker's own log
    passwords = broker.add_homes(home_ids)          # enrol thousands at once (one reload)
    broker.pid                                      # the mosquitto process (its /proc/PID/stat)

The configuration files are the two blocks of docs/city-relay.md marked `<!-- mosquitto.conf -->`
and `<!-- acl -->`, with only paths, ports, the listening address, `user`, the topic prefix and
the city accounts replaced, each replacement required to match exactly once: change the
documented configuration and these tests run the new one (or fail loudly).

Accounts given to the constructor or to `add_home` are written with `mosquitto_passwd` (its
default hash). `add_homes` enrols many homes without one `mosquitto_passwd` process each: it
writes their entries itself in the tool's `sha512-pbkdf2` format (`$7$ITERATIONS$SALT$HASH`,
what `mosquitto_passwd -H sha512-pbkdf2` writes) and reloads the broker once. The neighbourhood
of scripts/neighbourhood.py and benchmarks/city_scale.py enrol their homes that way.

The broker binary comes from `scripts/mosquitto.sh` (Debian's package in .cache/, or
$RTCC_MOSQUITTO); tests that need it fail with the reason when it cannot be had.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.hub_process import free_ports
from tests.support.tls import TestCA

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "city-relay.md"
CITY_USERNAME = "rtcc-city"
# mosquitto_passwd's sha512-pbkdf2 parameters (Mosquitto 2.1: 1000 iterations, 64-byte salt).
PBKDF2_ITERATIONS = 1000
PBKDF2_SALT_BYTES = 64


class BrokerUnavailable(RuntimeError):
    """No Mosquitto binary could be found or fetched."""


class PortTaken(RuntimeError):
    """Mosquitto could not bind a port chosen for it (someone else took it meanwhile)."""


_KINDS = ("mqtt", "ws", "mqtts", "wss", "mtls")


def _fresh_ports() -> dict[str, int]:
    return dict(zip(_KINDS, free_ports(len(_KINDS)), strict=True))


def mosquitto_binary() -> Path:
    """The broker (cached after the first call in a process)."""
    cached = os.environ.get("_RTCC_MOSQUITTO_RESOLVED")
    if cached and Path(cached).exists():
        return Path(cached)
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "mosquitto.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise BrokerUnavailable(result.stderr.strip() or "scripts/mosquitto.sh failed")
    path = result.stdout.strip().splitlines()[-1]
    os.environ["_RTCC_MOSQUITTO_RESOLVED"] = path
    return Path(path)


def documented_block(marker: str) -> str:
    """The fenced block following `<!-- marker -->` in docs/city-relay.md."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {re.escape(marker)} -->\n```conf\n(.*?)```", text, re.DOTALL)
    if match is None:
        raise AssertionError(f"docs/city-relay.md has no `{marker}` block")
    return match.group(1)


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    if count != 1:
        raise AssertionError(f"documented config: {old!r} appears {count} times, not once")
    return text.replace(old, new)


class Broker:
    def __init__(
        self,
        directory: Path,
        *,
        homes: Sequence[str] = (),
        city_accounts: Sequence[str] = (CITY_USERNAME, "rtcc-city-2"),
        prefix: str = "rtcc/v1",
        bind_client_ids: bool = True,
        debug_log: bool = False,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.city_accounts = tuple(city_accounts)
        self.city_username = self.city_accounts[0]
        self.bind_client_ids = bind_client_ids
        self.debug_log = debug_log
        self.ports = _fresh_ports()
        self.ca = TestCA(directory, "rtcc test broker CA")
        self.cert_file, self.key_file = self.ca.issue("127.0.0.1", server=True)
        self.homes_ca = TestCA(directory, "rtcc test homes CA")
        self._passwords: dict[str, str] = {}
        # Entries written by `add_homes` (already hashed): kept when the file is rewritten.
        self._hashed: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False
        for username in (*self.city_accounts, *homes):
            self._passwords[username] = secrets.token_hex(16)
        self._write_passwords()
        self._write_acl()
        self._write_config()

    # -- files --------------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "mosquitto.log"

    def config_text(self) -> str:
        text = documented_block("mosquitto.conf")
        d = f"{self.directory}/"
        for old, new in (
            ("user mosquitto\n", f"user {getpass.getuser()}\n"),
            ("/var/log/mosquitto/mosquitto.log", str(self.log_file)),
            ("password_file /etc/mosquitto/rtcc/", f"password_file {d}"),
            ("acl_file /etc/mosquitto/rtcc/", f"acl_file {d}"),
            ("cafile /etc/mosquitto/rtcc/homes-ca.pem", f"cafile {self.homes_ca.cert_file}"),
            ("listener 8883\n", f"listener {self.ports['mqtts']} 127.0.0.1\n"),
            ("listener 8443\n", f"listener {self.ports['wss']} 127.0.0.1\n"),
            ("listener 8884\n", f"listener {self.ports['mtls']} 127.0.0.1\n"),
            ("listener 1883 127.0.0.1\n", f"listener {self.ports['mqtt']} 127.0.0.1\n"),
            ("listener 9001 127.0.0.1\n", f"listener {self.ports['ws']} 127.0.0.1\n"),
        ):
            text = _replace_once(text, old, new)
        text = text.replace("certfile /etc/mosquitto/rtcc/broker.crt", f"certfile {self.cert_file}")
        text = text.replace("keyfile /etc/mosquitto/rtcc/broker.key", f"keyfile {self.key_file}")
        if any("/etc/mosquitto" in line for line in text.splitlines() if not line.startswith("#")):
            raise AssertionError("documented config: a path this broker does not replace")
        if not self.bind_client_ids:
            text = text.replace("use_username_as_clientid true\n", "")
        if self.debug_log:  # test-only: every packet in the log (who published what, where)
            text = _replace_once(text, "log_type error\n", "log_type all\n")
        return text

    def acl_text(self) -> str:
        text = documented_block("acl")
        head, marker, city = text.partition("user rtcc-city\n")
        if not marker:
            raise AssertionError("documented acl: no `user rtcc-city` block")
        blocks = "\n".join(f"user {account}\n{city}" for account in self.city_accounts)
        return (head + blocks).replace("rtcc/v1/", f"{self.prefix}/")

    def _write_config(self) -> None:
        self.config_file.write_text(self.config_text(), encoding="utf-8")

    def _write_acl(self) -> None:
        path = self.directory / "acl"
        path.write_text(self.acl_text(), encoding="utf-8")
        path.chmod(0o600)

    @property
    def password_file(self) -> Path:
        return self.directory / "passwd"

    def _write_passwords(self) -> None:
        path = self.password_file
        path.write_text("".join(self._hashed.values()), encoding="utf-8")
        path.chmod(0o600)
        tool = mosquitto_binary().with_name("mosquitto_passwd")
        for username, password in self._passwords.items():
            if username in self._hashed:
                continue
            subprocess.run(
                [str(tool), "-b", str(path), username, password],
                check=True,
                capture_output=True,
                timeout=30,
            )

    # -- accounts -----------------------------------------------------------------------------

    def password(self, username: str) -> str:
        return self._passwords[username]

    def add_home(self, home_id: str) -> str:
        """Enrol one more home (its password); reloads a running broker (SIGHUP)."""
        self._passwords[home_id] = secrets.token_hex(16)
        self._write_passwords()
        if self.running:
            self.reload()
        return self._passwords[home_id]

    def add_homes(self, home_ids: Sequence[str]) -> dict[str, str]:
        """Enrol many homes at once: {home_id: password}. One write, one reload (SIGHUP) of a
        running broker; ValueError for an id already enrolled or not a plain username."""
        fresh: dict[str, str] = {}
        for home_id in home_ids:
            if home_id in self._passwords or home_id in fresh:
                raise ValueError(f"{home_id!r} is already enrolled")
            if not home_id or any(c in home_id for c in ":\n\r"):
                raise ValueError(f"{home_id!r} cannot be a password file username")
            fresh[home_id] = secrets.token_hex(16)
        lines = {home_id: pbkdf2_entry(home_id, pw) for home_id, pw in fresh.items()}
        with self.password_file.open("a", encoding="utf-8") as out:
            out.write("".join(lines.values()))
        self._hashed.update(lines)
        self._passwords.update(fresh)
        if self.running:
            self.reload()
        return fresh

    def reload(self) -> None:
        """SIGHUP: the broker rereads its password file and ACL (as `add_home` does)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGHUP)
        time.sleep(0.3)

    @property
    def pid(self) -> int:
        """The running mosquitto process's id."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the broker is not running")
        return self._process.pid

    def home_certificate(self, home_id: str) -> tuple[Path, Path]:
        """A client certificate for the `mtls` listener: common name = the home's username."""
        return self.homes_ca.issue(home_id, server=False)

    def url(self, kind: str) -> str:
        port = self.ports[kind]
        return {
            "mqtt": f"mqtt://127.0.0.1:{port}",
            "ws": f"ws://127.0.0.1:{port}/mqtt",
            "mqtts": f"mqtts://127.0.0.1:{port}",
            "wss": f"wss://127.0.0.1:{port}/mqtt",
            "mtls": f"mqtts://127.0.0.1:{port}",
        }[kind]

    # -- process ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        for attempt in range(3):
            try:
                self._start(timeout)
                return
            except PortTaken:
                # Another process (a parallel test, a helper) bound one of the ports between
                # choosing and binding. Only before the first start: a restart keeps its URLs.
                if self._started_once or attempt == 2:
                    raise
                self.ports = _fresh_ports()
                self._write_config()

    def _start(self, timeout: float) -> None:
        self._process = subprocess.Popen(
            [str(mosquitto_binary()), "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "mosquitto.stderr").open("ab"),
        )
        deadline = time.monotonic() + timeout
        for port in self.ports.values():
            while not _accepts(port):
                if self._process.poll() is not None:
                    why = f"mosquitto exited at start:\n{self.log()}{self._stderr()}"
                    raise PortTaken(why) if "Address already in use" in why else RuntimeError(why)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not listen on {port}:\n{self.log()}")
                time.sleep(0.02)
        # Mosquitto binds every listener before it serves, and exits when one is taken: a port
        # that accepts could be someone else's, so the broker must still be there.
        time.sleep(0.05)
        if self._process.poll() is not None:
            why = f"mosquitto exited at start:\n{self.log()}{self._stderr()}"
            raise PortTaken(why) if "Address already in use" in why else RuntimeError(why)
        self._started_once = True

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        return ""

    def _stderr(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "mosquitto.stderr").read_text(errors="replace")
        return ""

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pbkdf2_entry(username: str, password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """One password file line as `mosquitto_passwd -H sha512-pbkdf2` writes it."""
    salt = secrets.token_bytes(PBKDF2_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    encode = base64.b64encode
    return f"{username}:$7${iterations}${encode(salt).decode()}${encode(digest).decode()}\n"


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_broker(directory: Path, **kwargs: object) -> Iterator[Broker]:
    broker = Broker(directory, **kwargs)  # type: ignore[arg-type]
    with broker:
        yield broker
