"""The relay in front of the add-on's real city router (`AddOn.router.handle`), in process, on a
real Mosquitto: the wiring is one constructor call, and section 3 holds over the carriage."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.city.client import CityApiError
from rtcc_hub.city.relay import CityRelay
from rtcc_hub.options import parse_options
from rtcc_hub.relay import Relays
from tests.support.broker import Broker
from tests.support.city import DEFAULT_HOME, CityHub
from tests.support.relay_fixtures import RecordingObserver, eventually, relay_entry
from tests.support.standin_ha import StandinHA

FRONT = "camera.front_door"
HA_TOKEN = "standin-ha-token"


@dataclass
class Home:
    addon: Any  # rtcc_hub.app.AddOn
    relays: Relays
    city: CityRelay
    hub: CityHub
    other: CityHub


@pytest.fixture
async def home(tmp_path: Path, mosquitto: None) -> AsyncIterator[Home]:
    from rtcc_hub.app import AddOn

    hub = CityHub.generate("jackson-rtcc", "Jackson RTCC")
    other = CityHub.generate("other-rtcc", "Other RTCC")
    async with StandinHA(token=HA_TOKEN, cameras=[FRONT]) as ha:
        base = {
            "hubs": [hub.hub_config(), other.hub_config()],
            "city_port": 0,
            "control_port": 0,
            "control_token": "control-token-for-relay-tests",
            "ha_url": ha.url,
            "ha_token": HA_TOKEN,
        }
        addon = await AddOn.create(parse_options(base), tmp_path / "data")
        await addon.start()
        broker = Broker(tmp_path / "broker", homes=[addon.home_id])
        broker.start()
        observer = RecordingObserver()
        options = parse_options({**base, "relays": [relay_entry(broker, addon.home_id, hub)]})
        # What the add-on will do: one constructor call over its own router.
        relays = Relays(
            options.relays, home_id=addon.home_id, handler=addon.router.handle, observer=observer
        )
        await relays.start()
        try:
            await eventually(lambda: relays.relays[0].connected)
            await addon.owner.put_policy(
                {
                    "consent": True,
                    "mode": "auto",
                    "home": dict(DEFAULT_HOME),
                    "max_radius_m": 800,
                    "max_duration_s": 3600,
                    "max_unlocks_per_week": 1000,
                    "allow_live": True,
                    "require_case_number": True,
                    "cameras": [
                        {"entity_id": FRONT, "label": "Front door", "share": True, "max_fps": 5}
                    ],
                }
            )
            user = broker.city_username
            async with CityRelay(
                broker.url("mqtt"), username=user, password=broker.password(user)
            ) as city:
                yield Home(addon, relays, city, hub, other)
        finally:
            await relays.stop()
            await addon.stop()
            broker.stop()


async def test_unlock_snapshot_stream_close_over_the_relay(home: Home) -> None:
    relay_home = home.city.home(home.addon.home_id)
    assert await relay_home.health() == {"status": "ok"}
    unlock = await relay_home.unlock(
        home.hub.token(aud=home.addon.home_id, scope=["snapshot", "stream"])
    )
    assert unlock.status == "active" and unlock.access_token
    camera = unlock.cameras[0].id
    answer = await home.city.request(
        home.addon.home_id,
        "GET",
        f"/api/v1/unlocks/{unlock.unlock_id}/cameras/{camera}/snapshot",
        authorization=f"Bearer {unlock.access_token}",
    )
    assert answer.status == 200 and answer.content_type == "image/jpeg"
    digest = base64.b64encode(hashlib.sha256(answer.body).digest()).decode()
    assert answer.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert answer.headers["rtcc-receipt"].count(".") == 2
    frames = []
    stream = relay_home.stream(unlock.unlock_id, unlock.access_token, camera)
    async with contextlib.aclosing(stream) as it:
        async for frame in it:
            frames.append(frame)
            if len(frames) == 2:
                break
    assert all(frame.startswith(b"\xff\xd8") for frame in frames)
    await relay_home.close_unlock(unlock.unlock_id, unlock.access_token)
    with pytest.raises(CityApiError) as gone:
        await relay_home.snapshot(unlock.unlock_id, unlock.access_token, camera)
    assert gone.value.status == 410


async def test_only_the_relays_hub_may_unlock_over_it(home: Home) -> None:
    relay_home = home.city.home(home.addon.home_id)
    with pytest.raises(CityApiError) as refused:
        await relay_home.unlock(home.other.token(aud=home.addon.home_id))
    assert (refused.value.status, refused.value.code) == (401, "invalid_token")


async def test_the_relay_ends_a_stream_the_owner_revokes(home: Home) -> None:
    relay_home = home.city.home(home.addon.home_id)
    unlock = await relay_home.unlock(
        home.hub.token(aud=home.addon.home_id, scope=["snapshot", "stream"])
    )
    assert unlock.access_token
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/{unlock.cameras[0].id}/stream"
    stream = home.city.stream(home.addon.home_id, path, f"Bearer {unlock.access_token}")
    count = 0
    async for _ in stream:
        count += 1
        if count == 1:
            await home.addon.owner.revoke_all()
    assert stream.end == "ended"


def test_status_for_the_state(home: Home) -> None:
    [status] = home.relays.status()
    assert status["connected"] is True and status["hub"] == "jackson-rtcc"
