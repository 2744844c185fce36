"""One entry of the `relays` option (PROTOCOL.md section 6), checked before anything connects.

Pure checks only (no network): a URL the add-on would refuse to use stops start-up here, with a
message that names the relay, instead of failing later in a reconnect loop nobody watches.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_TOPIC_PREFIX = "rtcc/v1"
DEFAULT_MAX_MESSAGE_BYTES = 131072
# A part must hold a useful slice of a frame, and nothing the protocol sends is larger than the
# MQTT packet limit (256 MiB) minus room for the topic and properties.
MIN_MAX_MESSAGE_BYTES = 1024
MAX_MAX_MESSAGE_BYTES = 256 * 1024 * 1024 - 64 * 1024
MAX_TOPIC_PREFIX_CHARS = 512


class Scheme(StrEnum):
    MQTTS = "mqtts"
    WSS = "wss"
    MQTT = "mqtt"  # plain: loopback only
    WS = "ws"  # plain: loopback only


DEFAULT_PORTS = {Scheme.MQTTS: 8883, Scheme.WSS: 443, Scheme.MQTT: 1883, Scheme.WS: 80}
PLAIN_SCHEMES = frozenset({Scheme.MQTT, Scheme.WS})
WEBSOCKET_SCHEMES = frozenset({Scheme.WSS, Scheme.WS})


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where a relay connects: `mqtts://host[:port]` or `wss://host[:port]/path`."""

    scheme: Scheme
    host: str
    port: int
    path: str  # WebSocket path ("/" when none is given); "" for MQTT over TCP

    @property
    def tls(self) -> bool:
        return self.scheme not in PLAIN_SCHEMES

    @property
    def websocket(self) -> bool:
        return self.scheme in WEBSOCKET_SCHEMES


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """A validated `relays` entry. `url` is kept as written: it carries no credentials."""

    hub: str
    url: str
    broker: BrokerUrl
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    def __repr__(self) -> str:
        # Never the password, even in a traceback or a log line.
        return f"RelayConfig(hub={self.hub!r}, url={self.url!r})"


def is_loopback_host(host: str) -> bool:
    """`localhost` (RFC 6761 reserves it for loopback) or a loopback IP literal."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_broker_url(url: str) -> BrokerUrl:
    """Parse a relay URL; ValueError saying what is wrong (never echoing credentials)."""
    if not isinstance(url, str):
        raise TypeError("url must be a string")
    if not url or url != url.strip():
        raise ValueError("url must be a non-empty string without surrounding spaces")
    parts = urlsplit(url)
    try:
        scheme = Scheme(parts.scheme.lower())
    except ValueError:
        raise ValueError(
            "url must start with mqtts:// or wss:// (mqtt:// or ws:// to loopback)"
        ) from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("url must not carry credentials: use username and password")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("url must have no query or fragment")
    host = parts.hostname or ""
    if not host:
        raise ValueError("url has no host")
    try:
        port = DEFAULT_PORTS[scheme] if parts.port is None else parts.port
    except ValueError:
        raise ValueError("url has an invalid port") from None
    if not 1 <= port <= 65535:
        raise ValueError("url has an invalid port")
    path = parts.path
    if scheme in WEBSOCKET_SCHEMES:
        path = path or "/"
    elif path not in {"", "/"}:
        raise ValueError("an mqtts:// or mqtt:// url has no path")
    else:
        path = ""
    if scheme in PLAIN_SCHEMES and not is_loopback_host(host):
        raise ValueError(
            f"plain {scheme}:// is only allowed to a loopback host; use"
            f" {'mqtts' if scheme == Scheme.MQTT else 'wss'}:// (TLS) for {host}"
        )
    return BrokerUrl(scheme=scheme, host=host, port=port, path=path)


_TOPIC_LEVEL = re.compile(r"[^\x00-\x1f\x7f+#/]+")


def check_topic_prefix(prefix: str) -> str:
    """A prefix of whole topic levels, no wildcards or control characters, not `$...`."""
    if not isinstance(prefix, str):
        raise TypeError("topic_prefix must be a string")
    if not prefix:
        raise ValueError("topic_prefix must not be empty")
    if len(prefix) > MAX_TOPIC_PREFIX_CHARS:
        raise ValueError(f"topic_prefix is longer than {MAX_TOPIC_PREFIX_CHARS} characters")
    if prefix.startswith("$"):
        raise ValueError("topic_prefix must not start with $ (reserved for the broker)")
    if not all(_TOPIC_LEVEL.fullmatch(level) for level in prefix.split("/")):
        raise ValueError(
            "topic_prefix must be topic levels separated by single /, without +, #,"
            " control characters or a leading or trailing /"
        )
    return prefix


def check_readable_file(path: str) -> str:
    """A file the add-on can read now (the check repeats at every connection attempt)."""
    if not isinstance(path, str) or not path:
        raise TypeError("must be a file path")
    if not Path(path).is_file() or not os.access(path, os.R_OK):
        raise ValueError(f"cannot read {path}")
    return path


def relay_name(index: int, entry: object) -> str:
    """How an error names a relay: its position, and its hub and url when they are strings."""
    if isinstance(entry, dict):
        hub, url = entry.get("hub"), entry.get("url")
        described = " ".join(
            f"{key} {value!r}"
            for key, value in (("hub", hub), ("url", url))
            if isinstance(value, str) and "@" not in value
        )
        if described:
            return f"relay {index + 1} ({described})"
    return f"relay {index + 1}"


def check_tls_files(ca_file: str | None, cert_file: str | None, key_file: str | None) -> None:
    """The CA bundle and the client certificate and key load as TLS would load them."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"ca_file: not a CA bundle in PEM ({err})") from None
    if cert_file and key_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as err:
            raise ValueError(f"cert_file/key_file: not a certificate and its key ({err})") from None
