"""PROTOCOL 1 `city_http`, `relays` and 6's relay entry: validated strictly; an invalid relay
stops start-up with an error naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.options import OptionsError, parse_options
from rtcc_hub.relay import Scheme
from tests.support.city import CityHub
from tests.support.hub_process import child_env
from tests.support.tls import TestCA

HUB = CityHub.generate("jackson-rtcc", "Jackson RTCC")


def options(*relays: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "hubs": [HUB.hub_config()],
        "control_token": "c" * 32,
        "ha_url": "http://127.0.0.1:8123",
        "ha_token": "t",
        "relays": list(relays),
        **extra,
    }


def relay(**overrides: Any) -> dict[str, Any]:
    return {"hub": "jackson-rtcc", "url": "mqtts://broker.city.example", **overrides}


def test_defaults() -> None:
    parsed = parse_options(options())
    assert parsed.city_http is True
    assert parsed.relays == ()
    [entry] = parse_options(options(relay())).relays
    assert entry.topic_prefix == "rtcc/v1"
    assert entry.max_message_bytes == 131072
    assert (entry.broker.scheme, entry.broker.host, entry.broker.port) == (
        Scheme.MQTTS,
        "broker.city.example",
        8883,
    )
    assert entry.username is entry.password is entry.ca_file is entry.cert_file is None


def test_city_http_false() -> None:
    assert parse_options(options(relay(), city_http=False)).city_http is False
    with pytest.raises(OptionsError, match="city_http"):
        parse_options(options(city_http="no"))


def test_a_full_entry(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    cert, key = ca.issue("home", server=False)
    (tmp_path / "ca.pem").write_bytes(ca.cert_file.read_bytes())
    (tmp_path / "c.pem").write_bytes(cert.read_bytes())
    (tmp_path / "k.pem").write_bytes(key.read_bytes())
    [entry] = parse_options(
        options(
            relay(
                url="wss://broker.city.example:9443/mqtt",
                username="home",
                password="secret",
                ca_file=str(tmp_path / "ca.pem"),
                cert_file=str(tmp_path / "c.pem"),
                key_file=str(tmp_path / "k.pem"),
                topic_prefix="jackson/rtcc/v1",
                max_message_bytes=65536,
            )
        )
    ).relays
    assert (entry.broker.scheme, entry.broker.port, entry.broker.path) == (
        Scheme.WSS,
        9443,
        "/mqtt",
    )
    assert entry.topic_prefix == "jackson/rtcc/v1" and entry.max_message_bytes == 65536
    assert "secret" not in repr(entry)


@pytest.mark.parametrize(
    "url",
    ["mqtt://127.0.0.1:1883", "mqtt://localhost", "ws://[::1]:9001/mqtt", "mqtt://127.8.9.10"],
)
def test_plain_urls_to_loopback_are_allowed(url: str) -> None:
    assert parse_options(options(relay(url=url))).relays[0].broker.tls is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (relay(hub="unknown-hub"), "is not one of the configured hubs"),
        (relay(hub=None), "hub is required"),
        ({"url": "mqtts://b"}, "hub is required"),
        (relay(url=None), "url"),
        ({"hub": "jackson-rtcc"}, "url is required"),
        (
            relay(url="mqtt://broker.city.example"),
            "plain mqtt:// is only allowed to a loopback host",
        ),
        (relay(url="ws://10.0.0.1/mqtt"), "plain ws:// is only allowed to a loopback host"),
        (relay(url="mqtt://localhost.city.example"), "loopback"),
        (relay(url="https://broker.city.example"), "must start with mqtts://"),
        (relay(url="mqtts://user:pw@broker.city.example"), "must not carry credentials"),
        (relay(url="mqtts://broker.city.example/path"), "has no path"),
        (relay(url="wss://broker.city.example/mqtt?x=1"), "no query"),
        (relay(url="mqtts://broker.city.example:0"), "invalid port"),
        (relay(url="mqtts://broker.city.example:99999"), "invalid port"),
        (relay(url="mqtts://"), "no host"),
        (relay(url=" mqtts://b"), "surrounding spaces"),
        (relay(ca_file="/nonexistent/ca.pem"), "ca_file: cannot read"),
        (
            relay(cert_file="/nonexistent/c.pem", key_file="/nonexistent/k.pem"),
            "cert_file: cannot read",
        ),
        (relay(topic_prefix=""), "topic_prefix"),
        (relay(topic_prefix="rtcc/+/v1"), "topic_prefix"),
        (relay(topic_prefix="rtcc/#"), "topic_prefix"),
        (relay(topic_prefix="/rtcc"), "topic_prefix"),
        (relay(topic_prefix="rtcc/"), "topic_prefix"),
        (relay(topic_prefix="rtcc//v1"), "topic_prefix"),
        (relay(topic_prefix="$SYS/x"), "topic_prefix"),
        (relay(topic_prefix=5), "topic_prefix"),
        (relay(max_message_bytes=100), "max_message_bytes"),
        (relay(max_message_bytes="131072"), "max_message_bytes"),
        (relay(max_message_bytes=True), "max_message_bytes"),
        (relay(max_message_bytes=1 << 30), "max_message_bytes"),
        (relay(password="p"), "password needs a username"),
        (relay(username=5), "username must be a string"),
        (relay(surprise=1), "unknown key surprise"),
        ("mqtts://b", "must be an object"),
    ],
    ids=lambda value: str(value)[:50],
)
def test_invalid_relay_is_an_error_naming_it(entry: Any, message: str) -> None:
    with pytest.raises(OptionsError) as caught:
        parse_options(options(relay(url="mqtts://first.example"), entry))
    text = str(caught.value)
    assert message in text
    assert text.startswith("invalid options: relay 2")
    if isinstance(entry, dict) and isinstance(entry.get("url"), str) and "@" not in entry["url"]:
        assert repr(entry["url"]) in text
    assert "pw@" not in text


def test_cert_without_key_and_files_on_plain_urls(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(OptionsError, match="given together"):
        parse_options(options(relay(cert_file=str(cert))))
    with pytest.raises(OptionsError, match="need an mqtts:// or wss:// url"):
        parse_options(options(relay(url="mqtt://127.0.0.1", ca_file=str(cert))))


def test_tls_files_must_load(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(OptionsError, match=r"relay 1 .*ca_file: not a CA bundle"):
        parse_options(options(relay(ca_file=str(garbage))))
    ca = TestCA(tmp_path)
    cert, _ = ca.issue("home", server=False)
    _, other_key = ca.issue("other", server=False)
    with pytest.raises(OptionsError, match="not a certificate and its key"):
        parse_options(options(relay(cert_file=str(cert), key_file=str(other_key))))


def test_two_relays_to_one_broker_are_refused() -> None:
    with pytest.raises(OptionsError, match="same broker"):
        parse_options(options(relay(url="mqtts://b.example"), relay(url="mqtts://B.example:8883")))


def test_relays_must_be_a_list() -> None:
    with pytest.raises(OptionsError, match="relays"):
        parse_options(options() | {"relays": {"hub": "x"}})


def test_invalid_relay_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(options(relay(url="mqtt://broker.city.example"))))
    result = subprocess.run(
        [sys.executable, "-m", "rtcc_hub", "--options", str(path), "--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "relay 1 (hub 'jackson-rtcc' url 'mqtt://broker.city.example')" in result.stderr
    assert "loopback" in result.stderr
