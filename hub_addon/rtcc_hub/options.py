"""Add-on options (PROTOCOL.md section 1): read and validate `options.json`.

Standalone (`python -m rtcc_hub --options FILE`) the file carries `control_token`, `ha_url` and
`ha_token`. Under the Supervisor those come from the environment and `/data` instead, so they
are optional there. Bind addresses (`bind` for the city API, `control_bind` for the control API)
default to loopback standalone and to all interfaces under the Supervisor, where the city hub
and Home Assistant reach the add-on over the network.
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
    )


def load_options(path: str | Path, *, supervisor: bool = False) -> Options:
    """Read and validate an options file (PROTOCOL.md section 1)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OptionsError(f"cannot read options file {path}: {err}") from err
    return parse_options(raw, supervisor=supervisor)
