"""An unusable data dir is one clean line and exit 1; an empty database is said out loud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtcc_hub.storage import DB_FILENAME
from tests.hub.unit.conftest import options_dict
from tests.support.city import CityHub
from tests.support.hub_process import HubProcess


def _start(tmp_path: Path, city: CityHub, data_dir: Path) -> subprocess.CompletedProcess[str]:
    options = tmp_path / "options.json"
    options.write_text(json.dumps(options_dict(city)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SUPERVISOR_TOKEN", None)
    command = [sys.executable, "-m", "rtcc_hub", "--options", str(options), "--data", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=30, check=False)


def _clean_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.startswith("rtcc_hub cannot start:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr


def test_a_file_that_is_not_a_database(tmp_path: Path, city_key: CityHub) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_FILENAME).write_bytes(b"PK\x03\x04 not a database at all" * 64)
    _clean_failure(_start(tmp_path, city_key, data), "not a database")


def test_a_data_dir_that_is_a_file(tmp_path: Path, city_key: CityHub) -> None:
    data = tmp_path / "data"
    data.write_text("oops")
    _clean_failure(_start(tmp_path, city_key, data), "data")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir that cannot be written: a read-only tmpfs where root can mount one (root
    ignores file modes), else a directory without write permission."""
    path = tmp_path / "ro"
    path.mkdir()
    mounted = os.geteuid() == 0 and (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root without mount: no way to make a directory read-only")
        path.chmod(0o555)
    try:
        yield path
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
        else:
            path.chmod(0o755)


def test_a_read_only_data_dir(tmp_path: Path, city_key: CityHub, read_only_dir: Path) -> None:
    _clean_failure(_start(tmp_path, city_key, read_only_dir))


def test_an_empty_database_is_warned_about_and_audited(tmp_path: Path, city_key: CityHub) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data, hubs=[city_key.hub_config()])
    hub.start()
    first_home = hub.home_id
    hub.stop()
    (data / DB_FILENAME).write_bytes(b"")  # a restore gone wrong, a truncating tool ...
    for leftover in (data / (DB_FILENAME + "-wal"), data / (DB_FILENAME + "-shm")):
        leftover.unlink(missing_ok=True)
    hub = HubProcess(data, hubs=[city_key.hub_config()])
    hub.start()
    try:
        entries = hub.control_get("/control/v1/history?after=0&limit=10")
        assert [e["event"] for e in entries[:2]] == ["storage_found_empty", "service_started"]
        assert hub.home_id != first_home  # a new home, said so
        assert hub.control_get("/control/v1/state")["policy"]["consent"] is False
        assert any("was empty" in line and "WARNING" in line for line in hub.output)
    finally:
        hub.stop()
