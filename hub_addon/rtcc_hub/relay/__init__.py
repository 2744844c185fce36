"""Relays: the city API over an outbound MQTT 5 connection (PROTOCOL.md section 6).

A thin carriage over the city router (`carriage.CityRequest` in, `carriage.Answer` out):

- `config`: a `relays` entry and its URL, checked at start-up;
- `topics`: the home's topics (`P/homes/H/status`, `/requests`, `/responses/...`);
- `wire`: request messages to `CityRequest`s (or dropped, or answered by the relay itself)
  and answers to response messages (status, headers, parts, frames, `end`);
- `exchanges`: requests in progress by Correlation Data (renewals, cancels, the stream lease);
- `sink`: a stream's frames as messages, and 0x10 "no matching subscribers";
- `mqtt`: aiomqtt 2 with PUBACK reason codes, TLS contexts;
- `backoff`: reconnect delays;
- `observer`: what the add-on audits, and a relay's state;
- `relay`: one relay's connection loop and dispatch; `relays`: all of them.
"""

from .config import BrokerUrl, RelayConfig, Scheme, parse_broker_url
from .observer import DropReason, NullObserver, RelayIdentity, RelayObserver
from .relay import Handler, Relay, RelaySettings, relay_client_key
from .relays import Relays

__all__ = [
    "BrokerUrl",
    "DropReason",
    "Handler",
    "NullObserver",
    "Relay",
    "RelayConfig",
    "RelayIdentity",
    "RelayObserver",
    "RelaySettings",
    "Relays",
    "Scheme",
    "parse_broker_url",
    "relay_client_key",
]
