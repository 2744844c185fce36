"""The relay in front of the add-on's real city router (`AddOn.router.handle`), in process, on a
real Mosquitto: the wiring is one constructor call, and section 3 holds over the carriage."""

from __future__ import annotations

import asyncio
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
from tests.support.relay_fixtures import eventually, relay_entry
from tests.support.standin_ha import StandinHA

FRONT = "camera.front_door"
HA_TOKEN = "standin-ha-token"


@dataclass
class Home:
    addon: Any  # rtcc_hub.app.AddOn, its relays built from its options
    city: CityRelay
    hub: CityHub
    other: CityHub
    broker: Broker

    @property
    def relays(self) -> Relays:
        return self.addon.relays  # type: ignore[no-any-return]


POLICY = {
    "consent": True,
    "mode": "auto",
    "home": dict(DEFAULT_HOME),
    "max_radius_m": 800,
    "max_duration_s": 3600,
    "max_unlocks_per_week": 1000,
    "allow_live": True,
    "require_case_number": True,
    "cameras": [{"entity_id": FRONT, "label": "Front door", "share": True, "max_fps": 5}],
}


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
        # First start: the home's id, which its broker credentials are issued for.
        first = await AddOn.create(parse_options(base), tmp_path / "data")
        home_id = first.home_id
        await first.stop()
        broker = Broker(tmp_path / "broker", homes=[home_id])
        broker.start()
        options = parse_options(
            {**base, "city_http": False, "relays": [relay_entry(broker, home_id, hub)]}
        )
        addon = await AddOn.create(options, tmp_path / "data")
        await addon.start()
        try:
            await eventually(lambda: addon.relays.relays[0].connected)
            await addon.owner.put_policy(POLICY)
            user = broker.city_username
            async with CityRelay(
                broker.url("mqtt"), username=user, password=broker.password(user)
            ) as city:
                yield Home(addon, city, hub, other, broker)
        finally:
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


async def test_relays_in_the_state_and_the_audit_log(home: Home) -> None:
    state = await home.addon.owner.state_view()
    [status] = state["relays"]
    assert status["connected"] is True and status["hub"] == "jackson-rtcc"
    assert status["url"] == home.broker.url("mqtt") and "password" not in status
    assert home.addon.city_port == 0  # city_http: false, no city listener at all
    entries = await home.addon.owner.history(0, 1000)
    [connected] = [e for e in entries if e["event"] == "relay_connected"]
    assert connected["hub"] == "jackson-rtcc" and connected["detail"] == {
        "url": home.broker.url("mqtt")
    }
    # The broker goes away and comes back: lost, then connected again, both audited.
    home.broker.restart()
    await eventually(lambda: home.relays.relays[0].connected, within=30)

    async def events() -> list[str]:
        return [e["event"] for e in await home.addon.owner.history(0, 1000)]

    for _ in range(100):
        if (await events()).count("relay_connected") == 2:
            break
        await asyncio.sleep(0.1)
    relay_events = [e for e in await events() if e.startswith("relay_")]
    assert relay_events[:3] == ["relay_connected", "relay_lost", "relay_connected"]
    assert (await home.addon.owner.verify()).ok


async def test_dropped_requests_are_audited_under_flood_control(home: Home) -> None:
    import aiomqtt

    from rtcc_hub.ratelimit import RefusalLimiter
    from tests.support.raw_city import RawCity

    home.addon.refusals.limiter = RefusalLimiter(per_address_burst=5, interval_s=0.3)
    account = home.broker.city_accounts[1]
    async with aiomqtt.Client(
        "127.0.0.1",
        home.broker.ports["mqtt"],
        username=account,
        password=home.broker.password(account),
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        raw = RawCity(client, home.addon.home_id)
        for _ in range(20):
            await raw.send(method="GET", path="/api/v1/health", response_topic=None)

    async def dropped() -> list[dict[str, Any]]:
        entries = await home.addon.owner.history(0, 1000)
        return [e for e in entries if e["event"] == "relay_request_dropped"]

    for _ in range(100):
        entries = await home.addon.owner.history(0, 1000)
        aggregate = [e for e in entries if e["detail"].get("reason") == "rate_limited"]
        if len(await dropped()) == 5 and aggregate:
            break
        await asyncio.sleep(0.1)
    singles = await dropped()
    assert len(singles) == 5  # the burst of this relay's client key
    assert singles[0]["detail"] == {"reason": "no_response_topic", "url": home.broker.url("mqtt")}
    assert aggregate[0]["detail"]["dropped"] == 15


async def test_a_broker_with_a_certificate_of_another_ca_is_refused_audited_and_retried(
    tmp_path: Path, mosquitto: None
) -> None:
    from rtcc_hub.app import AddOn
    from tests.support.tls import TestCA

    hub = CityHub.generate("jackson-rtcc", "Jackson RTCC")
    base = {
        "hubs": [hub.hub_config()],
        "city_port": 0,
        "control_port": 0,
        "control_token": "control-token-for-relay-tests",
        "ha_url": "http://127.0.0.1:9",
        "ha_token": HA_TOKEN,
    }
    first = await AddOn.create(parse_options(base), tmp_path / "data")
    home_id = first.home_id
    await first.stop()
    with Broker(tmp_path / "broker", homes=[home_id]) as broker:
        other = TestCA(tmp_path, "some other CA")
        entry = relay_entry(broker, home_id, hub, "mqtts", ca_file=str(other.cert_file))
        addon = await AddOn.create(parse_options({**base, "relays": [entry]}), tmp_path / "data")
        await addon.start()
        try:
            await eventually(lambda: addon.relays.relays[0].status()["last_error"] is not None)
            entries = await addon.owner.history(0, 1000)
            [failed] = [e for e in entries if e["event"] == "relay_failed"]
            assert "certificate verify failed" in failed["detail"]["error"].lower()
            assert "relay_connected" not in [e["event"] for e in entries]
            [status] = (await addon.owner.state_view())["relays"]
            assert status["connected"] is False and status["last_error"]
        finally:
            await addon.stop()
