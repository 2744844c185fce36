"""PROTOCOL 6 "Connection": client id, Clean Start, session expiry, keep-alive, will, status,
subscriptions, reconnect with backoff, TLS (verification, client certificates, WebSocket)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes

from rtcc_hub.city.relay import CityRelay
from rtcc_hub.relay import RelaySettings
from rtcc_hub.relay.backoff import reconnect_delay
from rtcc_hub.relay.mqtt import new_properties
from tests.support.broker import Broker
from tests.support.city import CityHub
from tests.support.hub_process import HUB_ADDON_DIR, child_env
from tests.support.relay_fixtures import (
    RecordingObserver,
    StartRelay,
    eventually,
    home_client,
    relay_config,
    relay_entry,
)
from tests.support.standin_router import StandinRouter
from tests.support.tls import TestCA


async def retained_status(
    broker: Broker, home_id: str, within: float = 5.0
) -> dict[str, str] | None:
    """The retained status message of the home, as a new subscriber sees it."""
    account = broker.city_accounts[1]
    async with home_client(broker, account, identifier="status-probe") as client:
        await client.subscribe(f"rtcc/v1/homes/{home_id}/status", qos=1)
        try:
            async with asyncio.timeout(within):
                async for message in client.messages:
                    assert message.retain
                    payload = message.payload
                    assert isinstance(payload, bytes)
                    document: dict[str, str] = json.loads(payload)
                    return document
        except TimeoutError:
            return None
    return None


async def test_client_id_clean_start_keepalive_in_the_brokers_log(
    tmp_path: Path, home_id: str, hub: CityHub, router: StandinRouter
) -> None:
    # Without use_username_as_clientid the broker keeps the id the home sends.
    with Broker(tmp_path / "b", homes=[home_id], bind_client_ids=False) as broker:
        from rtcc_hub.relay import Relay

        relay = Relay(relay_config(broker, home_id, hub), home_id=home_id, handler=router.handle)
        await relay.start()
        try:
            await eventually(lambda: relay.connected)
            await eventually(lambda: f"as rtcc-{home_id} (" in broker.log())
        finally:
            await relay.stop()
        line = next(line for line in broker.log().splitlines() if f"as rtcc-{home_id} (" in line)
        # p5: MQTT 5; c1: Clean Start; k30: keep-alive 30 s (at most 60).
        match = re.search(r"\(p(\d+), c(\d), k(\d+)", line)
        assert match is not None, line
        assert match.group(1) == "5"
        assert match.group(2) == "1"
        assert 0 < int(match.group(3)) <= 60


async def test_session_expiry_zero_in_connect(start_relay: StartRelay) -> None:
    relay = await start_relay()
    client = relay._make_client(None)
    assert client._properties is not None
    assert client._properties.SessionExpiryInterval == 0
    assert client.identifier.startswith("rtcc-")


async def test_what_the_city_sends_while_offline_is_never_delivered_late(
    start_relay: StartRelay, raw_city: aiomqtt.Client, router: StandinRouter, home_id: str
) -> None:
    relay = await start_relay()
    await relay.stop()
    properties = new_properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = f"rtcc/v1/homes/{home_id}/responses/late"
    properties.CorrelationData = b"late"
    properties.UserProperty = [("method", "GET"), ("path", "/api/v1/health")]
    await raw_city.publish(f"rtcc/v1/homes/{home_id}/requests", b"", qos=1, properties=properties)
    await start_relay()
    await asyncio.sleep(1.0)
    assert router.requests == []


async def test_online_retained_after_connecting(
    start_relay: StartRelay, broker: Broker, home_id: str
) -> None:
    await start_relay()
    assert await retained_status(broker, home_id) == {"status": "online"}


async def test_clean_stop_announces_offline(
    start_relay: StartRelay, broker: Broker, home_id: str, observer: RecordingObserver
) -> None:
    relay = await start_relay()
    await relay.stop()
    assert await retained_status(broker, home_id) == {"status": "offline"}
    assert relay.status()["connected"] is False
    assert observer.events[-1] == ("lost", "stopped: the add-on is shutting down")


async def test_kill_9_the_will_turns_status_offline(
    tmp_path: Path, broker: Broker, home_id: str, hub: CityHub
) -> None:
    options = tmp_path / "options.json"
    options.write_text(
        json.dumps(
            {
                "hubs": [hub.hub_config()],
                "control_token": "x" * 16,
                "ha_url": "http://127.0.0.1:9",
                "ha_token": "t",
                "relays": [relay_entry(broker, home_id, hub)],
            }
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.relay_process",
        str(options),
        home_id,
        stdout=asyncio.subprocess.PIPE,
        env=child_env(),
        cwd=HUB_ADDON_DIR.parent,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.strip() == b"connected"
        assert await retained_status(broker, home_id) == {"status": "online"}
        process.kill()  # SIGKILL: no clean disconnect, the broker publishes the will
        await asyncio.wait_for(process.wait(), 10)
        statuses = []
        async with asyncio.timeout(10):
            while not statuses or statuses[-1] != {"status": "offline"}:
                statuses.append(await retained_status(broker, home_id, within=1))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_home_subscribes_and_publishes_only_its_own_topics(
    tmp_path: Path, home_id: str, hub: CityHub, router: StandinRouter
) -> None:
    with Broker(tmp_path / "b", homes=[home_id], debug_log=True) as broker:
        from rtcc_hub.relay import Relay

        relay = Relay(relay_config(broker, home_id, hub), home_id=home_id, handler=router.handle)
        await relay.start()
        unlock = router.add_unlock(cameras={"cam": 400_000})
        try:
            await eventually(lambda: relay.connected)
            async with CityRelay(
                broker.url("mqtt"),
                username=broker.city_username,
                password=broker.password(broker.city_username),
            ) as city:
                await city.home(home_id).health()
                await city.home(home_id).snapshot(unlock.unlock_id, unlock.access_token, "cam")
        finally:
            await relay.stop()
        log = broker.log().splitlines()
    # "Received SUBSCRIBE from ID" is followed by one "\tTOPIC (QoS n)" line per filter.
    subscribed: list[str] = []
    for number, line in enumerate(log):
        if line.endswith(f"Received SUBSCRIBE from {home_id}"):
            for following in log[number + 1 :]:
                match = re.match(r"^\d+: \t(\S+) \(QoS \d\)$", following)
                if match is None:
                    break
                subscribed.append(match.group(1))
    published = re.findall(
        rf"Received PUBLISH from {re.escape(home_id)} \([^)\n]*'([^'\n]+)'", "\n".join(log)
    )
    assert subscribed == [f"rtcc/v1/homes/{home_id}/requests"]
    assert published, "no PUBLISH of the home in the log"
    prefix = f"rtcc/v1/homes/{home_id}/"
    for topic in published:
        assert topic == prefix + "status" or topic.startswith(prefix + "responses/"), topic


async def test_the_documented_acl_confines_a_home_to_its_own_topics(
    start_relay: StartRelay, broker: Broker, home_id: str, city: CityRelay
) -> None:
    other = "0b7b3c52-0000-4000-8000-000000000001"
    broker.add_home(other)
    await start_relay()
    async with home_client(broker, other, identifier="intruder") as intruder:
        # Mosquitto grants the subscriptions and filters every message on delivery.
        for topic in (
            f"rtcc/v1/homes/{home_id}/requests",
            f"rtcc/v1/homes/{home_id}/responses/#",
            "rtcc/v1/homes/+/status",
            "#",
        ):
            await intruder.subscribe(topic, qos=1)
        assert await city.home(home_id).health() == {"status": "ok"}
        seen = []
        try:
            async with asyncio.timeout(1.0):
                async for message in intruder.messages:
                    seen.append(str(message.topic))
        except TimeoutError:
            pass
        assert seen == []
    # A home's writes to another home's topics are refused (PUBACK "not authorized").
    from rtcc_hub.relay.mqtt import AckingClient

    async with AckingClient(
        "127.0.0.1",
        broker.ports["mqtt"],
        username=other,
        password=broker.password(other),
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as writer:
        props = new_properties(PacketTypes.PUBLISH)
        assert await writer.publish_acked(f"rtcc/v1/homes/{home_id}/status", b"{}", props) == 0x87
        assert (
            await writer.publish_acked(f"rtcc/v1/homes/{home_id}/responses/x", b"", props) == 0x87
        )
        assert await writer.publish_acked(f"rtcc/v1/homes/{home_id}/requests", b"", props) == 0x87
        assert await writer.publish_acked(f"rtcc/v1/homes/{other}/status", b"{}", props) < 0x80
    assert await retained_status(broker, home_id) == {"status": "online"}


async def test_broker_restart_reconnects_and_status_is_online_again(
    start_relay: StartRelay, broker: Broker, home_id: str, observer: RecordingObserver
) -> None:
    relay = await start_relay()
    since = relay.status()["since"]
    broker.stop()
    await eventually(lambda: not relay.connected, within=70)
    assert relay.status()["last_error"]
    broker.start()
    await eventually(lambda: relay.connected, within=10)
    assert await retained_status(broker, home_id) == {"status": "online"}
    assert relay.status()["last_error"] is None
    assert relay.status()["since"] >= since  # type: ignore[operator]
    assert observer.kinds()[:2] == ["connected", "lost"]
    assert observer.kinds()[-1] == "connected"


def test_backoff_doubles_from_1_s_to_60_s_with_jitter() -> None:
    low = [reconnect_delay(n, lambda a, b: a) for n in range(1, 12)]
    high = [reconnect_delay(n, lambda a, b: b) for n in range(1, 12)]
    assert low[0] >= 1.0
    assert high[0] <= 2.0
    assert all(1.0 <= d <= 60.0 for d in low + high)
    assert high == sorted(high)
    assert high[-1] == 60.0
    assert high[2] == 2 * high[1]
    import random

    draws = {reconnect_delay(3) for _ in range(20)}
    assert len(draws) > 1  # jitter
    assert all(4.0 <= d <= 8.0 for d in draws)
    random.seed()


async def test_wrong_ca_is_refused_reported_and_retried(
    start_relay: StartRelay, broker: Broker, tmp_path: Path, observer: RecordingObserver
) -> None:
    other_ca = TestCA(tmp_path, "some other CA")
    relay = await start_relay("mqtts", wait=False, ca_file=str(other_ca.cert_file))
    await eventually(lambda: relay.status()["last_error"] is not None)
    assert "certificate verify failed" in str(relay.status()["last_error"]).lower()
    assert relay.connected is False
    start = time.monotonic()
    await eventually(lambda: broker.log().count(f"on port {broker.ports['mqtts']}") >= 2, within=5)
    assert time.monotonic() - start < 5
    assert observer.kinds() == ["failed"]  # one report for one repeated failure


async def test_system_trust_store_does_not_trust_a_private_ca(start_relay: StartRelay) -> None:
    relay = await start_relay("mqtts", wait=False, ca_file=None)
    await eventually(lambda: relay.status()["last_error"] is not None)
    assert "certificate verify failed" in str(relay.status()["last_error"]).lower()


@pytest.mark.parametrize("kind", ["mqtts", "wss", "ws"])
async def test_tls_websocket_and_loopback_websocket_carry_requests(
    kind: str, start_relay: StartRelay, city: CityRelay, home_id: str
) -> None:
    relay = await start_relay(kind)
    assert await city.home(home_id).health() == {"status": "ok"}
    assert relay.status()["url"].startswith(kind.replace("mtls", "mqtts"))  # type: ignore[union-attr]


async def test_client_certificate_authenticates_the_home(
    start_relay: StartRelay, broker: Broker, city: CityRelay, home_id: str
) -> None:
    cert, key = broker.home_certificate(home_id)
    relay = await start_relay(
        "mtls", password=None, username=None, cert_file=str(cert), key_file=str(key)
    )
    assert await city.home(home_id).health() == {"status": "ok"}
    assert relay.connected


async def test_no_client_certificate_no_connection(start_relay: StartRelay) -> None:
    relay = await start_relay("mtls", wait=False, password=None, username=None)
    # TLS 1.3: the broker's refusal arrives after the handshake; aiomqtt then waits out the
    # connect timeout (15 s) for a CONNACK that never comes.
    await eventually(lambda: relay.status()["last_error"] is not None, within=30)
    assert relay.connected is False


async def test_wrong_password_is_reported_and_not_connected(
    start_relay: StartRelay, observer: RecordingObserver
) -> None:
    relay = await start_relay(wait=False, password="not-the-password")
    await eventually(lambda: relay.status()["last_error"] is not None)
    assert relay.connected is False
    assert observer.kinds() == ["failed"]


async def test_status_shape_never_has_credentials(
    start_relay: StartRelay, broker: Broker, home_id: str
) -> None:
    relay = await start_relay()
    status = relay.status()
    assert set(status) == {"hub", "url", "connected", "since", "last_error"}
    assert status["connected"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(status["since"]))
    text = json.dumps(status) + repr(relay.config)
    assert broker.password(home_id) not in text


def test_keepalive_setting_is_at_most_60_s() -> None:
    assert 0 < RelaySettings().keepalive_s <= 60


async def test_relays_start_stop_and_status_together(
    tmp_path: Path, broker: Broker, home_id: str, hub: CityHub, router: StandinRouter
) -> None:
    from rtcc_hub.options import parse_options
    from rtcc_hub.relay import Relays

    with Broker(tmp_path / "second", homes=[home_id]) as second:
        options = parse_options(
            {
                "hubs": [hub.hub_config()],
                "control_token": "x" * 16,
                "ha_url": "http://127.0.0.1:9",
                "ha_token": "t",
                "relays": [relay_entry(broker, home_id, hub), relay_entry(second, home_id, hub)],
            }
        )
        relays = Relays(options.relays, home_id=home_id, handler=router.handle)
        await relays.start()
        try:
            await eventually(lambda: all(r.connected for r in relays.relays))
            assert [s["url"] for s in relays.status()] == [broker.url("mqtt"), second.url("mqtt")]
            assert all(s["connected"] for s in relays.status())
        finally:
            await relays.stop()
        assert not any(s["connected"] for s in relays.status())
        assert await retained_status(second, home_id) == {"status": "offline"}


async def test_bearer_tokens_never_reach_the_log_even_at_debug(
    start_relay: StartRelay,
    city: CityRelay,
    router: StandinRouter,
    home_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 10})
    await city.home(home_id).status(unlock.unlock_id, unlock.access_token)
    relay_records = [r for r in caplog.records if r.name.startswith("rtcc_hub.relay")]
    assert all(r.levelno >= logging.INFO for r in relay_records if r.name == "rtcc_hub.relay.paho")
    assert unlock.access_token not in caplog.text  # neither the home's log nor the city's
