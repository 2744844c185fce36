"""Command line: run the add-on, or verify its audit chain.

python -m rtcc_hub --options FILE --data DIR      run standalone
python -m rtcc_hub                                 run under the Supervisor (SUPERVISOR_TOKEN)
python -m rtcc_hub audit verify --data DIR         exit 0 with the entry count, 1 if broken
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp

from . import __version__
from .app import AddOn, Runtime
from .audit import verify_rows
from .identity import HomeKeyError
from .imaging import ImageError
from .options import Options, OptionsError, load_options
from .storage import DB_FILENAME, UnusableDataDir

_LOGGER = logging.getLogger("rtcc_hub")

SUPERVISOR_URL = "http://supervisor"
SUPERVISOR_DATA = Path("/data")
DISCOVERY_ATTEMPTS = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rtcc_hub",
        description="Resident-controlled camera sharing: the add-on the city hub calls.",
    )
    parser.add_argument("--version", action="version", version=f"rtcc_hub {__version__}")
    parser.add_argument(
        "--options", type=Path, help="options.json (default under Supervisor: /data/options.json)"
    )
    parser.add_argument(
        "--data", type=Path, help="data directory (default under Supervisor: /data)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command")
    audit = commands.add_parser("audit", help="audit log tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="verify the hash chain of the audit log")
    verify.add_argument(
        "--data", type=Path, required=True, dest="verify_data", help="data directory"
    )
    return parser


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open the database without writing anything to it (it may be an evidence copy).

    With a `-wal` file beside it SQLite needs its `-shm` to read the WAL: `mode=ro` uses (or
    creates) that. Without one, `immutable=1` reads the main file alone and creates nothing.
    """
    base = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        conn = sqlite3.connect(f"{base}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            conn.close()
            print(
                "warning: cannot read the -wal file read-only; verifying the main file alone",
                file=sys.stderr,
            )
        else:
            return conn
    return sqlite3.connect(f"{base}?mode=ro&immutable=1", uri=True)


def audit_verify(data_dir: Path) -> int:
    """Exit 0 (chain holds), 1 (chain broken, or no audit table), 2 (no database: usage)."""
    path = data_dir / DB_FILENAME
    if not path.is_file():
        print(f"no audit log: {path} does not exist", file=sys.stderr)
        return 2
    try:
        conn = _open_read_only(path)
        try:
            rows = [
                (int(seq), str(entry))
                for seq, entry in conn.execute("SELECT seq, entry FROM audit ORDER BY seq")
            ]
        finally:
            conn.close()
    except sqlite3.Error as err:
        print(f"cannot read the audit log in {path}: {err}", file=sys.stderr)
        return 1
    result = verify_rows(rows)
    if result.ok:
        print(f"ok: {result.entries} entries, head {result.head}")
        return 0
    print(f"audit chain broken: first bad seq {result.first_bad_seq} ({result.entries} entries)")
    return 1


async def _announce(addon: AddOn, token: str) -> None:
    """Supervisor discovery so the integration's hassio step can set itself up."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        host = socket.gethostname()
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            async with session.get(f"{SUPERVISOR_URL}/addons/self/info") as response:
                info = await response.json()
                host = info["data"].get("hostname") or host
        payload = {
            "service": "rtcc_share",
            "config": {"host": host, "port": addon.control_port, "token": addon.control_token},
        }
        for attempt in range(DISCOVERY_ATTEMPTS):
            try:
                async with session.post(f"{SUPERVISOR_URL}/discovery", json=payload) as response:
                    response.raise_for_status()
                    _LOGGER.info("announced to the Supervisor as %s:%s", host, addon.control_port)
                    return
            except (aiohttp.ClientError, TimeoutError) as err:
                _LOGGER.warning("Supervisor discovery failed (%s), retrying", err)
                await asyncio.sleep(2**attempt)
    _LOGGER.error("could not announce the add-on to the Supervisor")


def runtime_from_environment() -> Runtime:
    """The environment, read here only: the services get it as a value."""
    return Runtime(
        supervisor_token=os.environ.get("SUPERVISOR_TOKEN") or None,
        turbojpeg_lib=os.environ.get("RTCC_TURBOJPEG_LIB") or None,
    )


async def run(options: Options, data_dir: Path, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or until `stop` is set, for tests)."""
    runtime = runtime_from_environment()
    addon = await AddOn.create(options, data_dir, runtime=runtime)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    announce: asyncio.Task[None] | None = None
    try:
        await addon.start()
        line = addon.listening_line()
        _LOGGER.info(line)
        print(line, flush=True)
        if options.supervisor:
            announce = asyncio.create_task(_announce(addon, runtime.supervisor_token or ""))
        await stop.wait()
        _LOGGER.info("stopping")
    finally:
        if announce is not None:
            announce.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announce
        await addon.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "audit":
        return audit_verify(args.verify_data)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    supervisor = bool(os.environ.get("SUPERVISOR_TOKEN")) and args.options is None
    if args.options is None and not supervisor:
        print("--options FILE is required outside the Supervisor", file=sys.stderr)
        return 2
    options_path = args.options or SUPERVISOR_DATA / "options.json"
    data_dir = args.data or (SUPERVISOR_DATA if supervisor else None)
    if data_dir is None:
        print("--data DIR is required outside the Supervisor", file=sys.stderr)
        return 2
    try:
        options = load_options(options_path, supervisor=supervisor)
    except OptionsError as err:
        print(str(err), file=sys.stderr)
        return 2
    try:
        asyncio.run(run(options, data_dir))
    except (ImageError, OSError, UnusableDataDir, HomeKeyError) as err:
        # No JPEG library, a port in use, an unreadable data dir or TLS file: say so plainly.
        print(f"rtcc_hub cannot start: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
