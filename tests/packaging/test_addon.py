"""Static checks of the add-on (Home Assistant app) folder against the 2026 app conventions.

Keys and schema types follow https://developers.home-assistant.io/docs/apps/configuration
(Supervisor 2026.04+: no build.yaml, the base image is set by the Dockerfile's own FROM).
Runs in the development environment (PyYAML available).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import rtcc_hub
from rtcc_hub.city.keys import generate_private_key, hub_entry
from rtcc_hub.options import parse_options
from tests.support.tls import TestCA

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "hub_addon"

REQUIRED_KEYS = {"name", "version", "slug", "description", "arch"}
OPTIONAL_KEYS = {
    "machine", "url", "startup", "webui", "boot", "ports", "ports_description",
    "host_network", "host_ipc", "host_dbus", "host_pid", "host_uts", "devices",
    "homeassistant", "hassio_role", "hassio_api", "homeassistant_api", "docker_api",
    "privileged", "full_access", "apparmor", "map", "environment", "audio", "video", "gpio",
    "usb", "uart", "udev", "devicetree", "kernel_modules", "stdin", "legacy", "options",
    "schema", "image", "timeout", "tmpfs", "discovery", "services", "auth_api", "ingress",
    "ingress_port", "ingress_entry", "ingress_stream", "panel_icon", "panel_title",
    "panel_admin", "backup", "backup_pre", "backup_post", "backup_exclude", "stage", "init",
    "watchdog", "realtime", "journald", "breaking_versions", "ulimits",
}  # fmt: skip
MAP_TYPES = {
    "homeassistant_config", "addon_config", "ssl", "addons", "backup", "share", "media",
    "all_addon_configs", "data",
}  # fmt: skip
SCHEMA_TYPE = re.compile(
    r"^(?:str|int|float)(?:\(-?[\d.]*,-?[\d.]*\))?\??$"
    r"|^(?:bool|email|url|password|port)\??$"
    r"|^match\(.+\)\??$|^list\([^|()]+(?:\|[^|()]+)*\)\??$|^device(?:\(.+\))?\??$"
)
# Keys the add-on reads only when run standalone; DOCS.md must still explain them.
STANDALONE_KEYS = {"control_token", "ha_url", "ha_token", "bind"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    data: dict[str, Any] = _yaml(ADDON / "config.yaml")
    return data


@pytest.fixture(scope="module")
def translations() -> dict[str, Any]:
    data: dict[str, Any] = _yaml(ADDON / "translations" / "en.yaml")
    return data


def test_config_keys_are_known(config: dict[str, Any]) -> None:
    assert set(config) >= REQUIRED_KEYS
    assert set(config) - REQUIRED_KEYS - OPTIONAL_KEYS == set()


def test_no_build_file() -> None:
    for name in ("build.yaml", "build.yml", "build.json"):
        assert not (ADDON / name).exists(), name


def test_identity(config: dict[str, Any]) -> None:
    assert config["slug"] == "rtcc_hub"
    assert re.fullmatch(r"[a-z0-9_]+", config["slug"])
    assert config["name"]
    assert config["description"]
    assert str(config["url"]).startswith("https://")
    assert config["arch"]
    assert set(config["arch"]) <= {"amd64", "aarch64"}
    assert len(config["arch"]) == len(set(config["arch"]))


def test_runtime_settings(config: dict[str, Any]) -> None:
    assert config["init"] is False  # s6-overlay base image
    assert config["startup"] == "application"
    assert config["homeassistant_api"] is True
    assert config["discovery"] == ["rtcc_share"]
    # Discovery needs no Supervisor API access; nothing broader is requested.
    for key in ("hassio_api", "docker_api", "full_access", "host_network", "privileged"):
        assert not config.get(key), key
    assert config.get("apparmor", True) is not False


def test_ports_publish_only_the_city_api(config: dict[str, Any]) -> None:
    assert config["ports"] == {"8787/tcp": 8787}
    assert set(config["ports_description"]) == set(config["ports"])
    assert config["options"]["city_port"] == 8787
    assert config["options"]["control_port"] == 8788
    assert "8788/tcp" not in config["ports"]


def test_map_entries(config: dict[str, Any]) -> None:
    entries = config.get("map", [])
    for entry in entries:
        kind = entry["type"] if isinstance(entry, dict) else str(entry).split(":")[0]
        assert kind in MAP_TYPES
    assert {"type": "ssl", "read_only": True} in entries


def _schema_leaves(schema: Any, depth: int = 0) -> list[str]:
    if isinstance(schema, (dict, list)):
        # Depth 0 is the schema itself; lists and dicts inside it nest at most two deep.
        assert depth <= 2, "options nest at most two levels deep"
    if isinstance(schema, dict):
        return [leaf for value in schema.values() for leaf in _schema_leaves(value, depth + 1)]
    if isinstance(schema, list):
        assert len(schema) == 1
        return _schema_leaves(schema[0], depth + 1)
    return [schema]


def test_schema_types_are_supervisor_types(config: dict[str, Any]) -> None:
    for leaf in _schema_leaves(config["schema"]):
        assert isinstance(leaf, str)
        assert SCHEMA_TYPE.match(leaf), leaf


def test_options_and_schema_agree(config: dict[str, Any]) -> None:
    options, schema = config["options"], config["schema"]
    assert set(options) <= set(schema)
    # Keys without a default must be optional ("?"), or the app would refuse to start.
    for key in set(schema) - set(options):
        assert isinstance(schema[key], str)
        assert schema[key].endswith("?"), key
    assert schema["hubs"] == [{"id": "str", "name": "str", "public_key": "str", "kid": "str?"}]


def test_the_add_on_reads_every_schema_key(config: dict[str, Any], tmp_path: Path) -> None:
    """A complete options.json as the Supervisor would write it parses with every value kept
    (the core drops unknown keys under the Supervisor, so a typo would go unnoticed)."""
    assert set(config["schema"]) == {
        "hubs", "city_port", "control_port", "certfile", "keyfile", "city_http", "relays",
        "frigate_url",
    }  # fmt: skip
    relay_keys = set(config["schema"]["relays"][0])
    assert relay_keys == {
        "hub", "url", "username", "password", "ca_file", "cert_file", "key_file",
        "topic_prefix", "max_message_bytes",
    }  # fmt: skip
    authority = TestCA(tmp_path)
    ca = authority.cert_file
    cert, key = authority.issue("home", server=False)
    entry = hub_entry(generate_private_key(), hub_id="jackson-rtcc", name="Jackson", kid="k1")
    document = {
        **config["options"],
        "hubs": [entry],
        "certfile": "/ssl/fullchain.pem",
        "keyfile": "/ssl/privkey.pem",
        "city_http": False,
        "frigate_url": "http://frigate.local:5000/",
        "relays": [
            {
                "hub": "jackson-rtcc",
                "url": "mqtts://broker.city.example",
                "username": "home",
                "password": "secret",
                "ca_file": str(ca),
                "cert_file": str(cert),
                "key_file": str(key),
                "topic_prefix": "jackson/v1",
                "max_message_bytes": 65536,
            }
        ],
    }
    parsed = parse_options(document, supervisor=True)
    assert parsed.city_http is False
    assert parsed.frigate_url == "http://frigate.local:5000"
    [relay] = parsed.relays
    assert (relay.hub, relay.url, relay.username, relay.password) == (
        "jackson-rtcc", "mqtts://broker.city.example", "home", "secret",
    )  # fmt: skip
    assert (relay.ca_file, relay.cert_file, relay.key_file) == (str(ca), str(cert), str(key))
    assert (relay.topic_prefix, relay.max_message_bytes) == ("jackson/v1", 65536)
    assert [(h.id, h.name, h.kid) for h in parsed.hubs] == [("jackson-rtcc", "Jackson", "k1")]
    assert (parsed.city_port, parsed.control_port) == (8787, 8788)
    assert (parsed.certfile, parsed.keyfile) == ("/ssl/fullchain.pem", "/ssl/privkey.pem")
    defaults = parse_options(config["options"], supervisor=True)
    assert defaults.hubs == ()
    assert (defaults.city_http, defaults.relays) == (True, ())
    assert defaults.frigate_url == "http://ccab4aaf-frigate:5000"  # the Frigate add-on


def test_translations_describe_every_option(
    config: dict[str, Any], translations: dict[str, Any]
) -> None:
    described = translations["configuration"]
    assert set(described) == set(config["schema"])
    for key, schema in config["schema"].items():
        assert described[key]["name"]
        assert described[key]["description"]
        if isinstance(schema, list) and isinstance(schema[0], dict):
            fields = described[key]["fields"]
            assert set(fields) == set(schema[0]), key
            for field in fields.values():
                assert field["name"]
                assert field["description"]
    network = {k.lower() for k in translations["network"]}
    assert network == {k.lower() for k in config["ports"]}


def _changelog_top_version() -> str:
    for line in (ADDON / "CHANGELOG.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^##\s+\[?v?(\d+\.\d+\.\d+[^\]\s]*)", line)
        if match:
            return match.group(1)
    raise AssertionError("CHANGELOG.md has no version heading")


def test_versions_agree(config: dict[str, Any]) -> None:
    assert isinstance(config["version"], str)
    assert config["version"] == rtcc_hub.__version__
    assert _changelog_top_version() == rtcc_hub.__version__
    # The API document carries the protocol's version, never the add-on's (PROTOCOL.md 3).
    openapi = json.loads((ADDON / "rtcc_hub" / "openapi.json").read_text(encoding="utf-8"))
    assert openapi["info"]["version"] == "2"
    dockerfile = (ADDON / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG BUILD_VERSION={rtcc_hub.__version__}" in dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ADDON / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def test_dockerfile_base_image_is_pinned() -> None:
    froms = [rest for word, rest in _dockerfile_instructions() if word == "FROM"]
    assert froms
    for image in froms:
        reference = image.split()[0]
        # Supervisor 2026.04 no longer supplies BUILD_FROM: the FROM must name the image.
        assert "$" not in reference, reference
        name, _, tag = reference.partition(":")
        assert "@sha256:" in reference or (tag and tag != "latest"), reference
        assert name.startswith("ghcr.io/home-assistant/"), reference


def test_dockerfile_installs_libjpeg_turbo_3_and_the_package() -> None:
    runs = " ".join(rest for word, rest in _dockerfile_instructions() if word == "RUN")
    assert re.search(r'"?libjpeg-turbo>=3', runs)
    assert "pip install" in runs
    copies = [rest for word, rest in _dockerfile_instructions() if word == "COPY"]
    for copy in copies:
        for source in copy.split()[:-1]:
            assert (ADDON / source).exists(), source
    labels = " ".join(rest for word, rest in _dockerfile_instructions() if word == "LABEL")
    assert 'io.hass.type="app"' in labels
    assert 'io.hass.arch="aarch64|amd64"' in labels


def test_dockerfile_builds_and_checks_the_native_mask_filter() -> None:
    """The image compiles rtcc_imaging.c while installing the package and refuses to build
    if the installed package cannot load it (hub_addon/native/check.sh)."""
    instructions = _dockerfile_instructions()
    copies = [rest.split() for word, rest in instructions if word == "COPY"]
    assert ["native", "/usr/src/rtcc_hub/native"] in copies
    install = next(rest for word, rest in instructions if word == "RUN" and "pip install" in rest)
    steps = [step.strip() for step in install.split("&&")]
    build_base = next(i for i, s in enumerate(steps) if "build-base" in s)
    pip = next(i for i, s in enumerate(steps) if s.startswith("pip install"))
    check = next(i for i, s in enumerate(steps) if "native/check.sh python3" in s)
    cleanup = next(i for i, s in enumerate(steps) if s.startswith("apk del"))
    assert build_base < pip < check < cleanup
    pyproject = tomllib.loads((ADDON / "pyproject.toml").read_text(encoding="utf-8"))
    (module,) = pyproject["tool"]["setuptools"]["ext-modules"]
    assert module["name"] == "rtcc_hub.imaging._native"
    assert module["sources"] == ["native/rtcc_imaging.c"]
    assert (ADDON / "native" / "rtcc_imaging.c").is_file()
    assert os.access(ADDON / "native" / "check.sh", os.X_OK)
    setup = (ADDON.parent / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r"native/check.sh\"? \.venv/bin/python \.venv-addon/bin/python", setup)


def test_run_script() -> None:
    cmd = [rest for word, rest in _dockerfile_instructions() if word == "CMD"]
    assert cmd == ['[ "/run.sh" ]']
    script = ADDON / "run.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/with-contenv sh\n")
    # Supervisor mode is chosen by running without --options (rtcc_hub.__main__).
    assert re.search(r"^exec python3 -m rtcc_hub$", text, re.MULTILINE)


def test_apparmor_profile_is_named_after_the_slug(config: dict[str, Any]) -> None:
    text = (ADDON / "apparmor.txt").read_text(encoding="utf-8")
    assert re.search(rf"^profile {config['slug']} flags=", text, re.MULTILINE)
    assert text.count("{") == text.count("}")


def test_images_are_png() -> None:
    for name in ("icon.png", "logo.png"):
        data = (ADDON / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
    icon = (ADDON / "icon.png").read_bytes()
    width, height = int.from_bytes(icon[16:20], "big"), int.from_bytes(icon[20:24], "big")
    assert width == height  # the store shows the icon square


def test_docs_cover_every_option(config: dict[str, Any]) -> None:
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    for key in [*config["schema"], *STANDALONE_KEYS, "kid", "public_key"]:
        assert f"`{key}`" in docs, key
    assert "python -m rtcc_hub --options" in docs
    assert "audit verify" in docs
    assert "enrol" in docs


def test_repository_yaml() -> None:
    repository = _yaml(REPO / "repository.yaml")
    assert set(repository) == {"name", "url", "maintainer"}
    assert repository["name"]
    assert str(repository["url"]).startswith("https://")
    assert re.fullmatch(r".+ <[^@\s]+@[^@\s]+>", repository["maintainer"])
