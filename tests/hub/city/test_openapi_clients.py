"""The OpenAPI document turns into a working client with `openapi-python-client`: generated
without a warning, it calls health, unlock, status, snapshot (and a few errors) on a running
add-on and gets typed answers (PROTOCOL.md section 3; what city integrators do).

The generator and the generated client run in the development environment (`.venv`, from
requirements-dev.txt); the add-on runs as a subprocess of whichever environment runs pytest.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.hub.listener.conftest import Addon, addon_policy
from tests.support.city import CityHub, area_at
from tests.support.hub_process import HubProcess, child_env
from tests.support.standin_ha import StandinHA

REPO = Path(__file__).resolve().parents[3]
DEV_BIN = REPO / ".venv" / "bin"
PACKAGE = "rtcc_city_client"
# openapi-python-client reads JSON, `text/*` and `application/octet-stream` bodies out of the
# box; binary media types of other names are mapped to bytes with this documented option.
GENERATOR_CONFIG = {
    "package_name_override": PACKAGE,
    "post_hooks": [],
    "content_type_overrides": {
        "image/jpeg": "application/octet-stream",
        "multipart/x-mixed-replace": "application/octet-stream",
        "video/mp4": "application/octet-stream",
    },
}


def _dev_tool(name: str) -> Path:
    tool = DEV_BIN / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run scripts/setup.sh (requirements-dev.txt)")
    return tool


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.json"
    config.write_text(json.dumps(GENERATOR_CONFIG), encoding="utf-8")
    document = root / "openapi.json"
    document.write_bytes(resources.files("rtcc_hub").joinpath("openapi.json").read_bytes())
    result = subprocess.run(
        [
            str(_dev_tool("openapi-python-client")),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "WARNING" not in output, output
    return root


def test_every_operation_and_schema_is_generated(generated_client: Path) -> None:
    package = generated_client / PACKAGE
    operations = {p.stem for p in (package / "api").rglob("*.py") if p.stem != "__init__"}
    assert operations == {
        "get_health", "get_open_api", "create_unlock", "get_unlock", "close_unlock",
        "get_snapshot", "get_stream", "request_clip", "get_clip", "get_clip_video",
    }  # fmt: skip
    models = {p.stem for p in (package / "models").glob("*.py")}
    for model in (
        "active_unlock", "pending_unlock", "declined_unlock", "unlock_status", "camera", "clip",
        "clip_status", "clip_window",
    ):  # fmt: skip
        assert model in models, sorted(models)
    # The snapshot and the stream are bytes, not dropped.
    assert "File(" in (package / "api" / "unlocks" / "get_snapshot.py").read_text()
    assert "File(" in (package / "api" / "unlocks" / "get_stream.py").read_text()
    assert "File(" in (package / "api" / "clips" / "get_clip_video.py").read_text()


@pytest.fixture
def addon(tmp_path: Path) -> Iterator[Addon]:
    with StandinHA(token="standin-ha-token", cameras=["camera.front_door"]).running() as ha:
        city = CityHub.generate("jackson-rtcc", kid="k1")
        hub = HubProcess(
            tmp_path / "data", hubs=[city.hub_config()], ha_url=ha.url,
            ha_token="standin-ha-token",
        )  # fmt: skip
        with hub:
            hub.put_policy(addon_policy())
            yield Addon(hub, city)


def test_the_generated_client_talks_to_the_add_on(generated_client: Path, addon: Addon) -> None:
    token = addon.city.token(addon.hub.home_id, scope=["snapshot", "stream"])
    far_away = addon.city.token(addon.hub.home_id, area=area_at(15_000))
    result = subprocess.run(
        [
            str(_dev_tool("python")),
            "-m",
            "tests.support.openapi_client_calls",
            "--package",
            PACKAGE,
            "--url",
            addon.hub.city_url,
            "--token",
            token,
            "--declined-token",
            far_away,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO,
        env=child_env({"PYTHONPATH": f"{generated_client}:{REPO}"}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert report["health"] == {"type": "Health", "status": "ok"}
    assert report["created"]["type"] == "ActiveUnlock"
    assert report["created"]["status"] == "active"
    [camera] = report["created"]["cameras"]
    assert camera["label"] == "Front door" and camera["capabilities"] == ["snapshot", "stream"]
    assert report["declined"] == {"type": "DeclinedUnlock", "status": "declined"}
    assert report["refused"] == {"type": "ErrorInvalidToken", "error": "invalid_token"}
    assert report["status"] == {
        "type": "UnlockStatus", "status": "active", "cameras": 1, "receipt_key": True,
    }  # fmt: skip
    assert report["snapshot"] == {
        "status": 200, "type": "File", "jpeg": True, "digest_matches": True, "receipt": True,
        "cache_control": "no-store",
    }  # fmt: skip
    assert report["missing"] == {"type": "ErrorNotFound", "error": "not_found"}
    assert report["wrong_token"] == {"type": "ErrorInvalidToken", "error": "invalid_token"}
    assert report["closed"] == 204
    assert report["ended"] == {"status": "ended", "reason": "hub_closed"}
    assert report["gone"] == {"type": "ErrorGone", "error": "gone"}
