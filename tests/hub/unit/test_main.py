"""Command line: run, Supervisor mode and discovery, audit verify."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rtcc_hub import __main__ as cli
from rtcc_hub.options import load_options, parse_options
from rtcc_hub.storage import DB_FILENAME
from tests.hub.unit.conftest import options_dict
from tests.support.audit_db import state_with_entries
from tests.support.city import CityHub


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    assert "audit" in capsys.readouterr().out


def test_options_required_outside_supervisor(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SUPERVISOR_TOKEN", raising=False)
    assert cli.main(["--data", str(tmp_path)]) == 2
    assert "--options" in capsys.readouterr().err
    options = tmp_path / "o.json"
    options.write_text("{}")
    assert cli.main(["--options", str(options)]) == 2
    assert cli.main(["--options", str(options), "--data", str(tmp_path)]) == 2
    assert "invalid options" in capsys.readouterr().err


def test_audit_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str], city: CityHub) -> None:
    assert cli.main(["audit", "verify", "--data", str(tmp_path)]) == 2

    async def make_entries() -> None:
        from rtcc_hub.app import AddOn as Hub
        from rtcc_hub.options import parse_options
        from tests.hub.unit.fakes import FakeProcessor

        hub = await Hub.create(
            parse_options(options_dict(city)),
            tmp_path,
            image_processor=FakeProcessor(),  # type: ignore[arg-type]
        )
        for radius in (500, 600, 700):
            await hub.owner.put_policy({"max_radius_m": radius})
        await hub.stop()

    asyncio.run(make_entries())
    assert cli.main(["audit", "verify", "--data", str(tmp_path)]) == 0
    assert "ok: 4 entries" in capsys.readouterr().out

    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    entry = json.loads(conn.execute("SELECT entry FROM audit WHERE seq = 3").fetchone()[0])
    entry["detail"]["revision"] = 42
    conn.execute("UPDATE audit SET entry = ? WHERE seq = 3", (json.dumps(entry),))
    conn.commit()
    conn.close()
    assert cli.main(["audit", "verify", "--data", str(tmp_path)]) == 1
    assert "first bad seq 3" in capsys.readouterr().out


@pytest.fixture
async def supervisor() -> AsyncIterator[tuple[str, list[dict[str, Any]], asyncio.Event]]:
    """A fake Supervisor: add-on info and discovery (failing once, to exercise the retry)."""
    announced: list[dict[str, Any]] = []
    done = asyncio.Event()
    attempts = 0

    async def info(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer supervisor-token"
        return web.json_response({"result": "ok", "data": {"hostname": "abc-rtcc-share"}})

    async def discovery(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.json_response({"result": "error"}, status=500)
        announced.append(await request.json())
        done.set()
        return web.json_response({"result": "ok", "data": {"uuid": "x"}})

    app = web.Application()
    app.router.add_get("/addons/self/info", info)
    app.router.add_post("/discovery", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", announced, done
    await runner.cleanup()


async def test_supervisor_mode_generates_token_and_announces(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    supervisor: tuple[str, list[dict[str, Any]], asyncio.Event],
    city: CityHub,
) -> None:
    url, announced, done = supervisor
    monkeypatch.setattr(cli, "SUPERVISOR_URL", url)
    monkeypatch.setattr(cli.asyncio, "sleep", _fast_sleep)
    monkeypatch.setenv("SUPERVISOR_TOKEN", "supervisor-token")
    (tmp_path / "options.json").write_text(
        json.dumps({"hubs": [city.hub_config()], "city_port": 0, "control_port": 0})
    )
    options = load_options(tmp_path / "options.json", supervisor=True)
    assert options.bind == "0.0.0.0" and options.control_token is None

    stop = asyncio.Event()
    task = asyncio.create_task(cli.run(options, tmp_path, stop))
    async with asyncio.timeout(10):
        await done.wait()
    stop.set()
    await task
    token_file = tmp_path / "control_token"
    token = token_file.read_text()
    assert len(token) >= 32
    assert token_file.stat().st_mode & 0o777 == 0o600
    (payload,) = announced
    assert payload["service"] == "rtcc_share"
    assert payload["config"]["host"] == "abc-rtcc-share"
    assert payload["config"]["token"] == token
    assert isinstance(payload["config"]["port"], int) and payload["config"]["port"] > 0

    # The token survives a restart, so the integration's stored copy stays valid.
    from rtcc_hub.app import AddOn as Hub
    from tests.hub.unit.fakes import FakeProcessor

    hub = await Hub.create(options, tmp_path, image_processor=FakeProcessor())  # type: ignore[arg-type]
    assert hub.control_token == token
    await hub.stop()


_real_sleep = asyncio.sleep


async def _fast_sleep(delay: float, *args: Any) -> Any:
    return await _real_sleep(min(delay, 0.01), *args)


async def test_discovery_gives_up_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, city: CityHub
) -> None:
    monkeypatch.setattr(cli, "SUPERVISOR_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(cli.asyncio, "sleep", _fast_sleep)
    monkeypatch.setenv("SUPERVISOR_TOKEN", "supervisor-token")
    from rtcc_hub.app import AddOn as Hub
    from rtcc_hub.options import parse_options
    from tests.hub.unit.fakes import FakeProcessor

    hub = await Hub.create(
        parse_options({"hubs": [city.hub_config()]}, supervisor=True),
        tmp_path,
        image_processor=FakeProcessor(),  # type: ignore[arg-type]
    )
    await cli._announce(hub, "supervisor-token")
    assert "could not announce" in caplog.text
    await hub.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_subprocess_stops_cleanly_on_signal(tmp_path: Path, city: CityHub, signum: int) -> None:
    options = tmp_path / "options.json"
    options.write_text(json.dumps(options_dict(city)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SUPERVISOR_TOKEN", None)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtcc_hub",
            "--options",
            str(options),
            "--data",
            str(tmp_path / "d"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("rtcc_hub listening city=127.0.0.1:")
            process.send_signal(signum)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    result = subprocess.run(
        [sys.executable, "-m", "rtcc_hub", "audit", "verify", "--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0 and "ok: 1 entries" in result.stdout


def test_startup_failure_is_one_line(tmp_path: Path, city: CityHub) -> None:
    options = tmp_path / "options.json"
    options.write_text(
        json.dumps(options_dict(city, certfile="/nonexistent.pem", keyfile="/nonexistent.key"))
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SUPERVISOR_TOKEN", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtcc_hub",
            "--options",
            str(options),
            "--data",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("rtcc_hub cannot start:")


def _evidence_copy(tmp_path: Path, entries: int) -> Path:
    """An audit DB as an investigator might hold it: a plain (rollback-journal) SQLite copy."""
    from rtcc_hub.storage import audit_rows

    async def rows() -> list[tuple[int, str]]:
        state = await state_with_entries(tmp_path / "live", entries)
        try:
            return await state.store.read(audit_rows)
        finally:
            await state.store.close()

    live_rows = asyncio.run(rows())
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    conn = sqlite3.connect(evidence / DB_FILENAME)
    conn.executescript("CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);")
    conn.executemany("INSERT INTO audit VALUES (?, ?)", live_rows)
    conn.commit()
    conn.close()
    return evidence


def test_audit_verify_leaves_an_evidence_copy_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    evidence = _evidence_copy(tmp_path, 5)
    before = hashlib.sha256((evidence / DB_FILENAME).read_bytes()).hexdigest()
    assert cli.main(["audit", "verify", "--data", str(evidence)]) == 0
    assert "ok: 5 entries" in capsys.readouterr().out
    assert hashlib.sha256((evidence / DB_FILENAME).read_bytes()).hexdigest() == before
    assert sorted(p.name for p in evidence.iterdir()) == [DB_FILENAME]  # no -wal, -shm, tables


async def test_audit_verify_reads_a_live_wal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Kept open: entries may still sit in the -wal file.
    state = await state_with_entries(tmp_path, 3)
    try:
        result = await asyncio.to_thread(cli.main, ["audit", "verify", "--data", str(tmp_path)])
        assert result == 0
        assert "ok: 3 entries" in capsys.readouterr().out
    finally:
        await state.store.close()


def test_audit_verify_broken_names_seq_and_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence = _evidence_copy(tmp_path, 5)
    conn = sqlite3.connect(evidence / DB_FILENAME)
    conn.execute("UPDATE audit SET entry = 'garbage' WHERE seq = 2")
    conn.commit()
    conn.close()
    assert cli.main(["audit", "verify", "--data", str(evidence)]) == 1
    out = capsys.readouterr().out
    assert "first bad seq 2" in out and "5 entries" in out


async def test_generated_control_token_file_is_private_from_creation(
    tmp_path: Path, city: CityHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from rtcc_hub.app import AddOn as Hub
    from tests.hub.unit.fakes import FakeProcessor

    options = parse_options({"hubs": [city.hub_config()]}, supervisor=True)
    moved: list[tuple[int, str]] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        moved.append((Path(src).stat().st_mode & 0o777, Path(src).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        hub = await Hub.create(options, tmp_path, image_processor=FakeProcessor())  # type: ignore[arg-type]
    finally:
        os.umask(old_umask)
    await hub.stop()
    # Complete and private before it is in place (the home key is written the same way).
    assert (0o600, hub.control_token) in moved
    assert {mode for mode, _ in moved} == {0o600} and len(moved) == 2
    token_file = tmp_path / "control_token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".control_token")]  # noqa: PTH208


@pytest.mark.parametrize(("token", "status"), [("supervisor-token", 200), ("other", 503)])
async def test_under_the_supervisor_home_assistant_is_the_core_proxy_with_its_token(
    tmp_path: Path, city: CityHub, monkeypatch: pytest.MonkeyPatch, token: str, status: int
) -> None:
    """PROTOCOL 1: under the Supervisor the add-on talks to Home Assistant at
    `http://supervisor/core` with `SUPERVISOR_TOKEN` (here the stand-in answers at that
    address, and only to the Supervisor's token)."""
    import aiohttp

    from rtcc_hub import app, options
    from tests.hub.unit.fakes import FakeProcessor
    from tests.support.standin_ha import StandinHA

    assert options.SUPERVISOR_CORE_URL == "http://supervisor/core"
    async with StandinHA(token="supervisor-token", cameras=["camera.front_door"]) as ha:
        monkeypatch.setattr(app, "SUPERVISOR_CORE_URL", ha.url)
        raw = {"hubs": [city.hub_config()], "city_port": 0, "control_port": 0}
        hub = await app.AddOn.create(
            parse_options(raw, supervisor=True),
            tmp_path,
            runtime=app.Runtime(supervisor_token=token),
            image_processor=FakeProcessor(),  # type: ignore[arg-type]
        )
        await hub.start()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"http://127.0.0.1:{hub.control_port}/control/v1/preview",
                    json={"entity_id": "camera.front_door"},
                    headers={"Authorization": f"Bearer {hub.control_token}"},
                ) as response,
            ):
                assert response.status == status, await response.text()
            assert ha.requests("camera.front_door") == (1 if status == 200 else 0)
        finally:
            await hub.stop()


def test_under_the_supervisor_the_options_are_data_options_json(
    tmp_path: Path, city: CityHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROTOCOL 1: "Under the Supervisor the add-on reads /data/options.json" (and keeps its
    state in /data): with SUPERVISOR_TOKEN set and no --options, those are what it runs with."""
    assert Path("/data") == cli.SUPERVISOR_DATA
    monkeypatch.setattr(cli, "SUPERVISOR_DATA", tmp_path)
    monkeypatch.setenv("SUPERVISOR_TOKEN", "supervisor-token")
    (tmp_path / "options.json").write_text(
        json.dumps({"hubs": [city.hub_config()], "city_port": 9001})
    )
    seen: list[tuple[Any, Path]] = []

    async def run(options: Any, data_dir: Path) -> None:
        seen.append((options, data_dir))

    monkeypatch.setattr(cli, "run", run)
    assert cli.main([]) == 0
    [(options, data_dir)] = seen
    assert options.supervisor and options.city_port == 9001
    assert options.hubs[0].id == city.hub_id
    assert data_dir == tmp_path
