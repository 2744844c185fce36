"""Fixtures for tests against a real Mosquitto (tests/support/broker.py) and a real relay in
front of the stand-in router; conftests import them by name.

- `broker`: a running broker (the documented configuration) with one enrolled home, `home_id`;
- `router`: a `StandinRouter`; `observer`: a `RecordingObserver`;
- `start_relay(kind="mqtt", **overrides)`: a started `Relay` of that home (waits until
  connected), stopped at teardown;
- `city`: a connected `CityRelay` as the city account; `raw_city`: an aiomqtt client as the
  city, to send requests the library would never build.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from rtcc_hub.city.relay import CityRelay
from rtcc_hub.options import parse_options
from rtcc_hub.relay import (
    DropReason,
    Relay,
    RelayConfig,
    RelayIdentity,
    RelaySettings,
)
from tests.support.broker import Broker, BrokerUnavailable, mosquitto_binary
from tests.support.city import CityHub
from tests.support.standin_router import StandinRouter


@pytest.fixture(scope="session")
def mosquitto() -> None:
    """Fails (never skips: setup fetches it) when no Mosquitto can be had, saying why."""
    try:
        mosquitto_binary()
    except BrokerUnavailable as err:
        pytest.fail(f"no Mosquitto (scripts/setup.sh fetches one): {err}")


@dataclass
class RecordingObserver:
    events: list[tuple[str, Any]] = field(default_factory=list)

    async def relay_connected(self, relay: RelayIdentity) -> None:
        self.events.append(("connected", relay))

    async def relay_lost(self, relay: RelayIdentity, error: str) -> None:
        self.events.append(("lost", error))

    async def relay_failed(self, relay: RelayIdentity, error: str) -> None:
        self.events.append(("failed", error))

    async def request_dropped(self, relay: RelayIdentity, reason: DropReason) -> None:
        self.events.append(("dropped", reason))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def dropped(self) -> list[DropReason]:
        return [detail for kind, detail in self.events if kind == "dropped"]


async def eventually(
    check: Callable[[], bool], within: float = 10.0, interval: float = 0.02
) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


@pytest.fixture
def home_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def hub() -> CityHub:
    return CityHub.generate("jackson-rtcc", "Jackson RTCC")


@pytest.fixture
def broker(tmp_path: Path, home_id: str, mosquitto: None) -> Iterator[Broker]:
    broker = Broker(tmp_path / "broker", homes=[home_id])
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def router() -> StandinRouter:
    return StandinRouter()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


def relay_entry(
    broker: Broker, home_id: str, hub: CityHub, kind: str = "mqtt", **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "hub": hub.hub_id,
        "url": broker.url(kind),
        "username": home_id,
        "password": broker.password(home_id),
    }
    if kind in {"mqtts", "wss", "mtls"}:
        entry["ca_file"] = str(broker.ca.cert_file)
    entry.update(extra)
    return {key: value for key, value in entry.items() if value is not None}


def relay_config(
    broker: Broker, home_id: str, hub: CityHub, kind: str = "mqtt", **extra: Any
) -> RelayConfig:
    """A relay entry through the real options parser (as the add-on reads it)."""
    options = parse_options(
        {
            "hubs": [hub.hub_config()],
            "control_token": "x" * 16,
            "ha_url": "http://127.0.0.1:9",
            "ha_token": "t",
            "relays": [relay_entry(broker, home_id, hub, kind, **extra)],
        }
    )
    return options.relays[0]


StartRelay = Callable[..., Awaitable[Relay]]


@pytest.fixture
async def start_relay(
    broker: Broker, home_id: str, hub: CityHub, router: StandinRouter, observer: RecordingObserver
) -> AsyncIterator[StartRelay]:
    relays: list[Relay] = []

    async def start(
        kind: str = "mqtt",
        *,
        settings: RelaySettings | None = None,
        wait: bool = True,
        config: RelayConfig | None = None,
        **extra: Any,
    ) -> Relay:
        relay = Relay(
            config or relay_config(broker, home_id, hub, kind, **extra),
            home_id=home_id,
            handler=router.handle,
            observer=observer,
            settings=settings,
        )
        relays.append(relay)
        await relay.start()
        if wait:
            await eventually(lambda: relay.connected)
        return relay

    yield start
    for relay in relays:
        await relay.stop()


@pytest.fixture
async def city(broker: Broker) -> AsyncIterator[CityRelay]:
    async with CityRelay(
        broker.url("mqtt"),
        username=broker.city_username,
        password=broker.password(broker.city_username),
        timeout_s=10.0,
    ) as relay:
        yield relay


@pytest.fixture
async def raw_city(broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    """The city's second account (its own session), with no library in between."""
    account = broker.city_accounts[1]
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.ports["mqtt"],
        username=account,
        password=broker.password(account),
        protocol=aiomqtt.ProtocolVersion.V5,
        identifier=f"raw-{uuid.uuid4().hex[:8]}",
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def home_client(
    broker: Broker, username: str, **kwargs: Any
) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.ports["mqtt"],
        username=username,
        password=broker.password(username),
        protocol=aiomqtt.ProtocolVersion.V5,
        **kwargs,
    ) as client:
        yield client
