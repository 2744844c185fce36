"""Options file (PROTOCOL.md section 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.options import OptionsError, load_options, parse_options
from tests.support.city import CityHub


def standalone(**overrides: Any) -> dict[str, Any]:
    hub = CityHub.generate(kid="k1")
    base: dict[str, Any] = {
        "hubs": [hub.hub_config()],
        "control_token": "c" * 32,
        "ha_url": "http://127.0.0.1:8123/",
        "ha_token": "ha-token",
    }
    base.update(overrides)
    return base


def test_standalone_defaults() -> None:
    options = parse_options(standalone())
    assert options.city_port == 8787
    assert options.control_port == 8788
    assert options.bind == options.control_bind == "127.0.0.1"
    assert options.ha_url == "http://127.0.0.1:8123"
    assert options.hubs[0].kid == "k1"
    assert options.hub("jackson-rtcc") is options.hubs[0]
    assert options.hub("other") is None
    assert not options.supervisor


def test_supervisor_defaults_bind_all_and_need_no_token() -> None:
    options = parse_options({"hubs": [], "ignored_key": 1}, supervisor=True)
    assert options.bind == "0.0.0.0"
    assert options.control_token is None
    assert options.supervisor


def test_supervisor_never_puts_the_control_api_on_the_published_port() -> None:
    raw = {"hubs": [], "city_port": 9000, "control_port": 8787}
    with pytest.raises(OptionsError, match="control_port"):
        parse_options(raw, supervisor=True)
    # Standalone there is no published port: the owner decides where each API listens.
    assert parse_options(standalone(city_port=9000, control_port=8787)).control_port == 8787


@pytest.mark.parametrize(
    ("overrides", "word"),
    [
        ({"control_token": "short"}, "control_token"),
        ({"city_port": 70000}, "city_port"),
        ({"city_port": 9000, "control_port": 9000}, "differ"),
        ({"certfile": "/tmp/c.pem"}, "keyfile"),
        ({"unknown": True}, "unknown"),
        ({"hubs": [{"id": "x", "name": "x", "public_key": "not a key"}]}, "public_key"),
        ({"ha_url": "not a url"}, "ha_url"),
    ],
)
def test_invalid_options_name_the_key(overrides: dict[str, Any], word: str) -> None:
    with pytest.raises(OptionsError, match=word):
        parse_options(standalone(**overrides))


def test_missing_standalone_keys() -> None:
    raw = standalone()
    del raw["ha_url"]
    with pytest.raises(OptionsError, match="ha_url"):
        parse_options(raw)


def test_duplicate_hub_ids() -> None:
    hub = CityHub.generate()
    with pytest.raises(OptionsError, match="unique"):
        parse_options(standalone(hubs=[hub.hub_config(), hub.hub_config()]))


def test_rejects_non_ed25519_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(OptionsError, match="Ed25519"):
        parse_options(standalone(hubs=[{"id": "x", "name": "x", "public_key": pem}]))
    with pytest.raises(OptionsError, match="PEM"):
        parse_options(standalone(hubs=[{"id": "x", "name": "x", "public_key": 5}]))


def test_load_options_file(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(standalone(city_port=0, control_port=0)))
    assert load_options(path).city_port == 0


def test_load_options_unreadable(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="cannot read"):
        load_options(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(OptionsError, match="cannot read"):
        load_options(bad)


def test_frigate_url_defaults_to_the_frigate_add_on_only_under_the_supervisor() -> None:
    """PROTOCOL 1 `frigate_url`: default under the Supervisor `http://ccab4aaf-frigate:5000`;
    standalone none."""
    assert parse_options(standalone()).frigate_url is None
    assert (
        parse_options({"hubs": []}, supervisor=True).frigate_url == "http://ccab4aaf-frigate:5000"
    )
    given = parse_options(standalone(frigate_url="http://nvr.local:5000/"))
    assert given.frigate_url == "http://nvr.local:5000"
