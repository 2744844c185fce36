"""Static checks of how the integration is packaged for Home Assistant and HACS.

These run in the development environment (Home Assistant installed) and read files only.
"""

from __future__ import annotations

import ast
import json
import re
import struct
from importlib import metadata
from pathlib import Path

import pytest
from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION

REPO = Path(__file__).resolve().parents[2]
INTEGRATION = REPO / "custom_components" / "rtcc_share"

# Keys HACS reads from hacs.json (https://hacs.xyz/docs/publish/start/#hacsjson).
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "render_readme",
}
MANIFEST_REQUIRED = {
    "domain",
    "name",
    "version",
    "iot_class",
    "codeowners",
    "documentation",
    "issue_tracker",
    "config_flow",
    "integration_type",
}


def _requirement_name(requirement: str) -> str:
    """Normalised distribution name of a PEP 508 requirement string."""
    name = re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _shipped_with_home_assistant() -> set[str]:
    """Distributions Home Assistant itself depends on or pins for every installation."""
    names = {_requirement_name(r) for r in metadata.requires("homeassistant") or []}
    constraints = Path(metadata.distribution("homeassistant").locate_file("homeassistant"))
    constraints_file = constraints / "package_constraints.txt"
    if constraints_file.is_file():
        for raw in constraints_file.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.add(_requirement_name(line))
    return names


@pytest.fixture(scope="module")
def manifest() -> dict[str, object]:
    return json.loads((INTEGRATION / "manifest.json").read_text())


def test_manifest_key_order(manifest: dict[str, object]) -> None:
    """Home Assistant's hassfest order: domain, name, then the rest sorted."""
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_manifest_required_keys(manifest: dict[str, object]) -> None:
    assert set(manifest) >= MANIFEST_REQUIRED
    assert manifest["domain"] == "rtcc_share" == INTEGRATION.name
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "local_push"
    assert manifest["integration_type"] == "hub"
    assert AwesomeVersion(str(manifest["version"])).valid
    assert isinstance(manifest["codeowners"], list)
    assert manifest["codeowners"]
    assert all(str(owner).startswith("@") for owner in manifest["codeowners"])
    for url_key in ("documentation", "issue_tracker"):
        assert str(manifest[url_key]).startswith("https://")


def test_manifest_adds_no_requirement_home_assistant_ships(manifest: dict[str, object]) -> None:
    requirements = manifest.get("requirements", [])
    assert isinstance(requirements, list)
    shipped = _shipped_with_home_assistant()
    assert "aiohttp" in shipped  # the check itself sees Home Assistant's dependencies
    for requirement in requirements:
        name = _requirement_name(str(requirement))
        assert name not in shipped, f"{requirement} is already shipped by Home Assistant"
        assert name != "pyturbojpeg", "the integration must not depend on PyTurboJPEG"


def test_integration_never_imports_turbojpeg_or_the_addon() -> None:
    """Home Assistant pins PyTurboJPEG 1.8; the add-on (2.x) runs in its own container."""
    for source in INTEGRATION.rglob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                root = module.split(".")[0]
                assert root not in {"turbojpeg", "rtcc_hub"}, f"{source.name} imports {module}"


def test_hacs_json() -> None:
    hacs = json.loads((REPO / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS, f"unknown hacs.json keys: {set(hacs) - HACS_KEYS}"
    assert hacs["name"]
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    # The minimum we claim must be no newer than the Home Assistant the tests run against.
    assert minimum <= AwesomeVersion(HA_VERSION)


def test_translations_match_strings() -> None:
    strings = json.loads((INTEGRATION / "strings.json").read_text())
    english = json.loads((INTEGRATION / "translations" / "en.json").read_text())
    assert strings == english


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_brand_images() -> None:
    """Sizes Home Assistant's brands rules ask for (custom integrations ship brand/)."""
    brand = INTEGRATION / "brand"
    assert _png_size(brand / "icon.png") == (256, 256)
    assert _png_size(brand / "icon@2x.png") == (512, 512)
    width, height = _png_size(brand / "logo.png")
    assert 128 <= height <= 256
    assert width >= height
    width2, height2 = _png_size(brand / "logo@2x.png")
    assert (width2, height2) == (2 * width, 2 * height)
