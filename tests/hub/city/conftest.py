"""A real add-on (``rtcc_hub.app.Hub``) in-process on loopback, with a stand-in Home Assistant.

The add-on is driven through its own public surface: options, ``put_policy`` (what the control
API's PUT does) and the city API over TCP. The city side uses this package's own library.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.city.keys import (
    generate_private_key,
    hub_entry,
    load_private_key,
    write_private_key,
)
from rtcc_hub.city.tokens import Area, Incident, sign_unlock_token
from tests.support.faults import FaultyConnect
from tests.support.standin_ha import StandinHA

HOME = {"lat": 32.2988, "lon": -90.1848}
HUB_ID = "jackson-rtcc"
FRONT, BACK = "camera.front_door", "camera.back_yard"
HA_TOKEN = "standin-ha-token"


def base_policy(**overrides: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "consent": True,
        "mode": "auto",
        "home": dict(HOME),
        "max_radius_m": 800,
        "max_duration_s": 3600,
        "max_unlocks_per_week": 1000,
        "allow_live": True,
        "require_case_number": True,
        "excluded_offenses": ["protest"],
        "cameras": [
            {"entity_id": FRONT, "label": "Front door", "share": True,
             "masks": [[[0.0, 0.0], [0.3, 0.0], [0.3, 0.5], [0.0, 0.5]]], "max_fps": 5},
            {"entity_id": BACK, "label": "Back yard", "share": True, "max_fps": 5},
        ],
    }  # fmt: skip
    policy.update(overrides)
    return policy


@dataclass
class LiveHub:
    hub: Any  # rtcc_hub.app.Hub
    ha: StandinHA
    key_path: Path
    url: str
    # Injected write failures (SQLITE_FULL at COMMIT while `faults.error` is set).
    faults: FaultyConnect = field(default_factory=FaultyConnect)

    def token(self, *, scope: tuple[str, ...] = ("snapshot",), **changes: Any) -> str:
        arguments: dict[str, Any] = {
            "issuer": HUB_ID,
            "audience": self.hub.home_id,
            "incident": Incident(id="I-1", offense="burglary", case_number="C-9"),
            "area": Area(lat=HOME["lat"], lon=HOME["lon"], radius_m=500),
            "scope": list(scope),
            "duration_s": 600,
        }
        arguments.update(changes)
        return sign_unlock_token(load_private_key(self.key_path), **arguments)

    async def set_policy(self, **overrides: Any) -> None:
        await self.hub.owner.put_policy(base_policy(**overrides))


def _imaging_available() -> bool:
    return importlib.util.find_spec("rtcc_hub.imaging") is not None


@pytest.fixture
async def live_hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    if not _imaging_available():
        pytest.skip("rtcc_hub.imaging is not written yet")
    from rtcc_hub.app import AddOn as Hub
    from rtcc_hub.options import parse_options

    key = generate_private_key()
    key_path = tmp_path / "hub.key"
    write_private_key(key, key_path)
    async with StandinHA(token=HA_TOKEN, cameras=[FRONT, BACK]) as ha:
        options = parse_options(
            {
                "hubs": [hub_entry(key, hub_id=HUB_ID, name="Jackson RTCC")],
                "city_port": 0,
                "control_port": 0,
                "control_token": "control-token-for-city-tests",
                "ha_url": ha.url,
                "ha_token": HA_TOKEN,
                "bind": "127.0.0.1",
            }
        )
        faults = FaultyConnect()
        hub = await Hub.create(options, tmp_path / "data", connect=faults)
        await hub.start()
        try:
            await hub.owner.put_policy(base_policy())
            yield LiveHub(hub, ha, key_path, f"http://127.0.0.1:{hub.city_port}", faults)
        finally:
            await hub.stop()


# The relay client's tests (test_relay_client.py) talk to a real relay on a real Mosquitto.
from tests.support.relay_fixtures import (  # noqa: E402, F401 - fixtures
    broker,
    city,
    home_id,
    hub,
    mosquitto,
    observer,
    raw_city,
    router,
    start_relay,
)
