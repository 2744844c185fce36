"""Add-on options (PROTOCOL.md section 1): read and validate `options.json`.

Standalone (`python -m rtcc_hub --options FILE`) the file carries `control_token`, `ha_url` and
`ha_token`. Under the Supervisor those come from the environment and `/data` instead, so they
are optional there. Bind addresses (`bind` for the city API, `control_bind` for the control API)
default to loopback standalone and to all interfaces under the Supervisor, where the city hub
and Home Assistant reach the add-on over the network.

`city_http` and `relays` say how the city reaches the home (section 6): each relay entry is
checked whole here (known hub, a TLS URL unless to loopback, readable files, a sane topic
prefix), and the first bad one stops start-up with an error naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from voluptuous.humanize import humanize_error

from .relay.config import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TOPIC_PREFIX,
    MAX_MAX_MESSAGE_BYTES,
    MIN_MAX_MESSAGE_BYTES,
    RelayConfig,
    check_readable_file,
    check_tls_files,
    check_topic_prefix,
    parse_broker_url,
    relay_name,
)

DEFAULT_CITY_PORT = 8787
DEFAULT_CONTROL_PORT = 8788
SUPERVISOR_CORE_URL = "http://supervisor/core"
# The Frigate add-on's API on the Supervisor's internal network (its slug is ccab4aaf_frigate).
SUPERVISOR_FRIGATE_URL = "http://ccab4aaf-frigate:5000"


# The container port config.yaml publishes on the host (the city API's default).
PUBLISHED_CITY_PORT = 8787


class OptionsError(ValueError):
    """The options file is missing, unreadable or invalid."""


@dataclass(frozen=True, slots=True)
class HubConfig:
    """A city hub allowed to send unlocks; its key is pinned here, never taken from a token."""

    id: str
    name: str
    public_key: Ed25519PublicKey
    kid: str | None = None


@dataclass(frozen=True, slots=True)
class Options:
    hubs: tuple[HubConfig, ...]
    city_port: int = DEFAULT_CITY_PORT
    control_port: int = DEFAULT_CONTROL_PORT
    control_token: str | None = None
    ha_url: str | None = None
    ha_token: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    bind: str = "127.0.0.1"
    control_bind: str = "127.0.0.1"
    supervisor: bool = False
    frigate_url: str | None = None
    city_http: bool = True
    relays: tuple[RelayConfig, ...] = ()

    def hub(self, hub_id: str) -> HubConfig | None:
        return next((hub for hub in self.hubs if hub.id == hub_id), None)


def _public_key(value: Any) -> Ed25519PublicKey:
    if not isinstance(value, str):
        raise vol.Invalid("must be a PEM string")
    try:
        key = load_pem_public_key(value.encode())
    except ValueError as err:
        raise vol.Invalid("is not a PEM SubjectPublicKeyInfo public key") from err
    if not isinstance(key, Ed25519PublicKey):
        raise vol.Invalid("is not an Ed25519 public key")
    return key


_NON_EMPTY = vol.All(str, vol.Length(min=1))
_PORT = vol.All(int, vol.Range(min=0, max=65535))

_HUB_SCHEMA = vol.Schema(
    {
        vol.Required("id"): _NON_EMPTY,
        vol.Required("name"): str,
        vol.Required("public_key"): _public_key,
        vol.Optional("kid"): vol.Any(None, _NON_EMPTY),
    }
)


_RELAY_KEYS = {
    "hub", "url", "username", "password", "ca_file", "cert_file", "key_file", "topic_prefix",
    "max_message_bytes",
}  # fmt: skip


def _schema(supervisor: bool) -> vol.Schema:
    # Under the Supervisor, these keys are filled in by the add-on itself; accepting them
    # empty lets the same config.yaml schema serve both modes.
    standalone_key = vol.Optional if supervisor else vol.Required
    default_bind = "0.0.0.0" if supervisor else "127.0.0.1"  # noqa: S104 - add-on network
    return vol.Schema(
        {
            vol.Optional("hubs", default=list): [_HUB_SCHEMA],
            vol.Optional("city_port", default=DEFAULT_CITY_PORT): _PORT,
            vol.Optional("control_port", default=DEFAULT_CONTROL_PORT): _PORT,
            standalone_key("control_token"): vol.Any(None, vol.All(str, vol.Length(min=16))),
            standalone_key("ha_url"): vol.Any(None, vol.Url()),
            standalone_key("ha_token"): vol.Any(None, str),
            vol.Optional("certfile"): vol.Any(None, str),
            vol.Optional("keyfile"): vol.Any(None, str),
            vol.Optional("bind", default=default_bind): _NON_EMPTY,
            vol.Optional("control_bind", default=default_bind): _NON_EMPTY,
            vol.Optional("frigate_url"): vol.Any(None, "", vol.Url()),
            vol.Optional("city_http", default=True): bool,
            # Each entry is checked by `_relay` so that an error names the relay.
            vol.Optional("relays", default=list): [object],
        },
        extra=vol.REMOVE_EXTRA if supervisor else vol.PREVENT_EXTRA,
    )


def parse_options(raw: Any, *, supervisor: bool = False) -> Options:
    """Validate a decoded options document; raise OptionsError naming the bad key."""
    try:
        data = _schema(supervisor)(raw)
    except vol.Invalid as err:
        raise OptionsError(f"invalid options: {humanize_error(raw, err)}") from err
    hubs = tuple(
        HubConfig(id=h["id"], name=h["name"], public_key=h["public_key"], kid=h.get("kid"))
        for h in data["hubs"]
    )
    ids = [hub.id for hub in hubs]
    if len(set(ids)) != len(ids):
        raise OptionsError("invalid options: hub ids must be unique")
    certfile, keyfile = data.get("certfile") or None, data.get("keyfile") or None
    if (certfile is None) != (keyfile is None):
        raise OptionsError("invalid options: certfile and keyfile must be given together")
    if data["city_port"] != 0 and data["city_port"] == data["control_port"]:
        raise OptionsError("invalid options: city_port and control_port must differ")
    if supervisor and data["control_port"] == PUBLISHED_CITY_PORT:
        # config.yaml publishes container port 8787 on the host for the city; the control API
        # there would face the network instead of staying on the internal app network.
        raise OptionsError(
            f"invalid options: control_port must not be {PUBLISHED_CITY_PORT}, the port the"
            " add-on publishes for the city API"
        )
    relays = _relays(data["relays"], {hub.id for hub in hubs})
    return Options(
        hubs=hubs,
        city_port=data["city_port"],
        control_port=data["control_port"],
        control_token=data.get("control_token"),
        ha_url=(data.get("ha_url") or "").rstrip("/") or None,
        ha_token=data.get("ha_token"),
        certfile=certfile,
        keyfile=keyfile,
        bind=data["bind"],
        control_bind=data["control_bind"],
        supervisor=supervisor,
        frigate_url=(data.get("frigate_url") or "").rstrip("/")
        or (SUPERVISOR_FRIGATE_URL if supervisor else None),
        city_http=data["city_http"],
        relays=relays,
    )


def _relays(entries: list[Any], hub_ids: set[str]) -> tuple[RelayConfig, ...]:
    relays = tuple(_relay(index, entry, hub_ids) for index, entry in enumerate(entries))
    # Every relay connects as `rtcc-H`: two connections to one broker would take each other's
    # session over, endlessly.
    seen: dict[tuple[str, int], int] = {}
    for index, relay in enumerate(relays):
        endpoint = (relay.broker.host.lower(), relay.broker.port)
        if endpoint in seen:
            raise OptionsError(
                f"invalid options: {relay_name(index, entries[index])} connects to the same"
                f" broker as {relay_name(seen[endpoint], entries[seen[endpoint]])}; a home keeps"
                " one connection per broker"
            )
        seen[endpoint] = index
    return relays


def _relay(index: int, entry: Any, hub_ids: set[str]) -> RelayConfig:
    name = relay_name(index, entry)
    try:
        return _relay_config(entry, hub_ids)
    except (ValueError, TypeError) as err:
        raise OptionsError(f"invalid options: {name}: {err}") from None


def _optional_text(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _relay_config(entry: Any, hub_ids: set[str]) -> RelayConfig:
    if not isinstance(entry, dict):
        raise TypeError("must be an object with hub and url")
    unknown = sorted(set(entry) - _RELAY_KEYS, key=str)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!s}")
    hub = entry.get("hub")
    if not isinstance(hub, str) or not hub:
        raise ValueError("hub is required: the id of a configured hub")
    if hub not in hub_ids:
        raise ValueError(f"hub {hub!r} is not one of the configured hubs")
    if "url" not in entry:
        raise ValueError("url is required")
    url = entry["url"]
    try:
        broker = parse_broker_url(url)
    except ValueError as err:
        raise ValueError(f"url: {err}") from None
    username, password = _optional_text(entry, "username"), _optional_text(entry, "password")
    if password is not None and username is None:
        raise ValueError("password needs a username")
    files = _relay_files(entry, tls=broker.tls)
    return RelayConfig(
        hub=hub,
        url=url,
        broker=broker,
        username=username,
        password=password,
        ca_file=files["ca_file"],
        cert_file=files["cert_file"],
        key_file=files["key_file"],
        topic_prefix=check_topic_prefix(entry.get("topic_prefix", DEFAULT_TOPIC_PREFIX)),
        max_message_bytes=_message_size(entry.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)),
    )


def _relay_files(entry: dict[str, Any], *, tls: bool) -> dict[str, str | None]:
    files: dict[str, str | None] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        path = _optional_text(entry, key)
        files[key] = None if path is None else _readable(key, path)
    if (files["cert_file"] is None) != (files["key_file"] is None):
        raise ValueError("cert_file and key_file must be given together")
    if (files["ca_file"] or files["cert_file"]) and not tls:
        raise ValueError("ca_file, cert_file and key_file need an mqtts:// or wss:// url")
    if files["ca_file"] or files["cert_file"]:
        check_tls_files(files["ca_file"], files["cert_file"], files["key_file"])
    return files


def _message_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError("max_message_bytes must be a whole number")
    if not MIN_MAX_MESSAGE_BYTES <= size <= MAX_MAX_MESSAGE_BYTES:
        raise ValueError(
            f"max_message_bytes must be {MIN_MAX_MESSAGE_BYTES}..{MAX_MAX_MESSAGE_BYTES}"
        )
    return size


def _readable(key: str, path: str) -> str:
    try:
        return check_readable_file(path)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None


def load_options(path: str | Path, *, supervisor: bool = False) -> Options:
    """Read and validate an options file (PROTOCOL.md section 1)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OptionsError(f"cannot read options file {path}: {err}") from err
    return parse_options(raw, supervisor=supervisor)
