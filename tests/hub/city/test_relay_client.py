"""The city's relay library (`rtcc_hub.city.relay`) and the CLI's relay commands, against a real
relay (the stand-in router behind it) on a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes

from rtcc_hub.carriage import StreamEnd
from rtcc_hub.city.__main__ import main
from rtcc_hub.city.client import CityApiError, CityClientError
from rtcc_hub.city.registry import RegistryError, enrol, load_homes
from rtcc_hub.city.relay import CityRelay
from rtcc_hub.relay import RelaySettings
from rtcc_hub.relay.mqtt import new_properties
from tests.support.broker import Broker
from tests.support.relay_fixtures import StartRelay, eventually, home_client
from tests.support.standin_router import StandinRouter


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def relay_args(broker: Broker, account: int = 1) -> list[str]:
    user = broker.city_accounts[account]
    return [
        "--relay",
        broker.url("mqtt"),
        "--relay-user",
        user,
        "--relay-password",
        broker.password(user),
    ]


async def test_requests_answers_and_errors(
    start_relay: StartRelay, city: CityRelay, router: StandinRouter, home_id: str
) -> None:
    await start_relay()
    home = city.home(home_id)
    assert await home.health() == {"status": "ok"}
    unlock = router.add_unlock(cameras={"cam-1": 10})
    status = await home.status(unlock.unlock_id, unlock.access_token)
    assert (status.unlock_id, [c.id for c in status.cameras]) == (unlock.unlock_id, ["cam-1"])
    with pytest.raises(CityApiError) as caught:
        await home.status(unlock.unlock_id, "wrong-token")
    assert (caught.value.status, caught.value.code) == (401, "invalid_token")
    with pytest.raises(CityApiError) as quota:
        await home.unlock("quota")
    assert (quota.value.status, quota.value.code, quota.value.retry_after) == (
        429,
        "quota_exceeded",
        "3600",
    )
    await home.close_unlock(unlock.unlock_id, unlock.access_token)
    assert unlock.status == "ended"
    raw = await city.request(home_id, "GET", "/api/v1/nowhere")
    assert raw.status == 404 and raw.json()["error"] == "not_found"


async def test_parts_are_joined(
    start_relay: StartRelay, city: CityRelay, router: StandinRouter, home_id: str
) -> None:
    await start_relay(max_message_bytes=1024)
    unlock = router.add_unlock(cameras={"cam": 10_000})
    jpeg = await city.home(home_id).snapshot(unlock.unlock_id, unlock.access_token, "cam")
    assert len(jpeg) == 10_000 and jpeg.startswith(b"\xff\xd8")


async def test_download_writes_the_parts_to_a_file_as_they_come(
    start_relay: StartRelay, city: CityRelay, router: StandinRouter, home_id: str, tmp_path: Path
) -> None:
    """A file answer (a clip) goes to disk part by part, bounded by its own limit rather than
    the in-memory one; an error answer is an ordinary answer and writes nothing."""
    await start_relay(max_message_bytes=1024)
    unlock = router.add_unlock(cameras={"cam": 10_000})
    path = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/snapshot"
    bearer = f"Bearer {unlock.access_token}"
    out = tmp_path / "file.jpg"
    answer = await city.download(
        home_id, path, out, authorization=bearer, content_type="image/jpeg"
    )
    assert (answer.status, answer.body) == (200, b"")
    assert out.stat().st_size == 10_000 and out.read_bytes().startswith(b"\xff\xd8")
    assert answer.headers.get("rtcc-receipt")
    with pytest.raises(CityClientError, match="larger than 5000 bytes"):
        await city.download(
            home_id, path, tmp_path / "small.jpg", authorization=bearer,
            content_type="image/jpeg", max_bytes=5000,
        )  # fmt: skip
    refused = await city.download(
        home_id, path, tmp_path / "refused.jpg", authorization="Bearer wrong",
        content_type="image/jpeg",
    )  # fmt: skip
    assert (refused.status, refused.json()["error"]) == (401, "invalid_token")
    assert not (tmp_path / "refused.jpg").exists()


def test_file_parts_must_come_in_order(tmp_path: Path) -> None:
    from rtcc_hub.city.relay import _FileWriter, _Message

    def part(number: int, count: int) -> _Message:
        return _Message("t", b"x" * 10, {"part": str(number), "parts": str(count)}, "video/mp4")

    writer = _FileWriter(tmp_path / "a", 1000)
    assert writer.add(part(1, 3)) is False
    with pytest.raises(CityClientError, match="out of order"):
        writer.add(part(3, 3))
    with pytest.raises(CityClientError, match="out of order"):
        writer.add(part(2, 4))  # another count than the first part's
    assert writer.add(part(2, 3)) is False and writer.add(part(3, 3)) is True
    writer.close()
    assert (tmp_path / "a").read_bytes() == b"x" * 30


async def test_stream_iterates_frames_and_closing_cancels(
    start_relay: StartRelay, city: CityRelay, router: StandinRouter, home_id: str
) -> None:
    router.frame_bytes = 3000
    await start_relay(max_message_bytes=1024)
    unlock = router.add_unlock(cameras={"cam": 10})
    frames = []
    async with contextlib.aclosing(
        city.home(home_id).stream(unlock.unlock_id, unlock.access_token, "cam")
    ) as it:
        async for frame in it:
            frames.append(frame)
            if len(frames) == 3:
                break
    assert frames == router.streams[0].sent[:3]
    await eventually(lambda: router.streams[0].ended is not None)
    assert router.streams[0].ended == StreamEnd.CANCELLED


async def test_stream_end_reason_and_lease_renewal(
    start_relay: StartRelay, broker: Broker, router: StandinRouter, home_id: str
) -> None:
    await start_relay(settings=RelaySettings(lease_s=1.0))
    unlock = router.add_unlock(cameras={"cam": 10})
    user = broker.city_username
    async with CityRelay(
        broker.url("mqtt"), username=user, password=broker.password(user), lease_renew_s=0.4
    ) as city:
        stream = city.stream(
            home_id,
            f"/api/v1/unlocks/{unlock.unlock_id}/cameras/cam/stream",
            f"Bearer {unlock.access_token}",
        )
        count = 0
        async for _ in stream:
            count += 1
            if count == 12:  # ~2.4 s at 5 fps: past the 1 s lease, kept alive by renewals
                router.end_unlock(unlock, StreamEnd.EXPIRED)
        assert stream.end == "expired"
        assert stream.count >= 12


async def test_refused_stream_raises(
    start_relay: StartRelay, city: CityRelay, router: StandinRouter, home_id: str
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam": 10}, scope=("snapshot",))
    with pytest.raises(CityApiError) as caught:
        async for _ in city.home(home_id).stream(unlock.unlock_id, unlock.access_token, "cam"):
            pass
    assert (caught.value.status, caught.value.code) == (403, "not_active")
    await asyncio.sleep(0.3)
    assert [r.method for r in router.requests] == ["GET"]  # no needless DELETE afterwards


async def test_no_answer_is_a_client_error(broker: Broker, home_id: str) -> None:
    user = broker.city_username
    async with CityRelay(
        broker.url("mqtt"), username=user, password=broker.password(user), timeout_s=0.5
    ) as city:
        with pytest.raises(CityClientError, match="no answer"):
            await city.home(home_id).health()
        with pytest.raises(CityClientError, match="not a home id"):
            await city.home("a/b").health()


async def test_answers_only_from_the_home_that_was_asked(broker: Broker, home_id: str) -> None:
    """An answer carrying the right Correlation Data on another home's topic is ignored, and a
    malformed parts sequence is an error, not a hang or a crash."""
    other = "0b7b3c52-0000-4000-8000-0000000000aa"
    broker.add_home(other)
    user = broker.city_username
    async with (
        CityRelay(
            broker.url("mqtt"), username=user, password=broker.password(user), timeout_s=2
        ) as city,
        home_client(broker, other, identifier="liar") as liar,
        home_client(broker, home_id, identifier="real") as real,
    ):
        await real.subscribe(f"rtcc/v1/homes/{home_id}/requests", qos=1)

        async def impersonate() -> None:
            async for message in real.messages:
                correlation = message.properties.CorrelationData  # type: ignore[union-attr]
                fake = new_properties(PacketTypes.PUBLISH)
                fake.CorrelationData = correlation
                fake.UserProperty = [("status", "200")]
                await liar.publish(
                    f"rtcc/v1/homes/{other}/responses/{city._session}",
                    b"lie",
                    qos=1,
                    properties=fake,
                )
                bad = new_properties(PacketTypes.PUBLISH)
                bad.CorrelationData = correlation
                bad.UserProperty = [("status", "200"), ("part", "3"), ("parts", "2")]
                await real.publish(message.properties.ResponseTopic, b"x", qos=1, properties=bad)  # type: ignore[union-attr]

        task = asyncio.create_task(impersonate())
        try:
            with pytest.raises(CityClientError, match="inconsistent part"):
                await city.request(home_id, "GET", "/api/v1/health")
        finally:
            task.cancel()


async def test_online_homes(
    start_relay: StartRelay, city: CityRelay, home_id: str, broker: Broker
) -> None:
    relay = await start_relay()
    other = "0b7b3c52-0000-4000-8000-0000000000bb"
    broker.add_home(other)
    async with home_client(broker, other, identifier="o") as client:
        await client.publish(
            f"rtcc/v1/homes/{other}/status", b'{"status": "offline"}', qos=1, retain=True
        )
    assert await city.online_homes(settle_s=0.5) == {home_id: "online", other: "offline"}
    await relay.stop()


# -- the registry and the CLI -----------------------------------------------------------------


def test_registry(tmp_path: Path) -> None:
    path = tmp_path / "homes.json"
    assert load_homes(path) == []
    enrol(path, "home-1", "first")
    enrol(path, "home-2")
    assert [h.home_id for h in load_homes(path)] == ["home-1", "home-2"]
    with pytest.raises(RegistryError, match="already enrolled"):
        enrol(path, "home-1")
    with pytest.raises(RegistryError, match="not a home id"):
        enrol(path, "a/b")
    path.write_text('{"homes": [{"home_id": "x"}, {"home_id": "x"}]}')
    with pytest.raises(RegistryError, match="twice"):
        load_homes(path)
    path.write_text("[]")
    with pytest.raises(RegistryError, match="not a homes file"):
        load_homes(path)


def test_enrol_home_prints_the_relay_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    homes = tmp_path / "homes.json"
    args = [
        "enrol-home",
        "--homes",
        str(homes),
        "--home-id",
        "home-1",
        "--hub",
        "jackson-rtcc",
        "--relay",
        "mqtts://broker.example",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    entry = json.loads(out[out.index("{") : out.index("}") + 1])
    assert (
        entry["username"] == "home-1"
        and entry["hub"] == "jackson-rtcc"
        and len(entry["password"]) == 48
    )
    assert f"mosquitto_passwd -b /etc/mosquitto/rtcc/passwd home-1 '{entry['password']}'" in out
    assert "password" not in homes.read_text()
    assert main(args) == 1  # already enrolled


async def test_cli_homes_status_snapshot_stream_close_over_the_relay(
    start_relay: StartRelay,
    broker: Broker,
    router: StandinRouter,
    home_id: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await start_relay()
    unlock = router.add_unlock(cameras={"cam-9": 2000})
    assert await run_cli("homes", *relay_args(broker), "--settle", "0.5") == 0
    assert f"{home_id} online" in capsys.readouterr().out
    access = [
        *relay_args(broker),
        "--home",
        home_id,
        "--unlock-id",
        unlock.unlock_id,
        "--access-token",
        unlock.access_token,
    ]
    assert await run_cli("status", *access) == 0
    assert json.loads(capsys.readouterr().out)["unlock_id"] == unlock.unlock_id
    out = tmp_path / "snap.jpg"
    assert await run_cli("snapshot", *access, "--camera-id", "cam-9", "--out", str(out)) == 0
    assert out.stat().st_size == 2000
    assert await run_cli("stream", *access, "--frames", "2", "--out-dir", str(tmp_path / "f")) == 0
    assert len(list((tmp_path / "f").iterdir())) == 2
    assert await run_cli("close", *access) == 0
    assert unlock.status == "ended"
    capsys.readouterr()
    assert (
        await run_cli("status", *relay_args(broker), "--unlock-id", "u", "--access-token", "t") == 2
    )
    assert "--relay needs --home" in capsys.readouterr().err


async def test_cli_broadcast(
    tmp_path: Path,
    broker: Broker,
    hub_key: Path,
    capsys: pytest.CaptureFixture[str],
    start_relay: StartRelay,
    router: StandinRouter,
    home_id: str,
) -> None:
    """Two enrolled homes: one accepts, one is offline (no answer)."""
    homes = tmp_path / "homes.json"
    offline = "0b7b3c52-0000-4000-8000-0000000000cc"
    enrol(homes, home_id)
    enrol(homes, offline)
    seen: list[str] = []
    original = router.handle
    unlock = router.add_unlock(cameras={"cam-1": 10})

    async def accept_first(request: object) -> object:
        body = json.loads(getattr(request, "body", b"{}") or b"{}")
        token = body.get("token", "")
        seen.append(token)
        router.accept_token(token, unlock)
        return await original(request)  # type: ignore[arg-type]

    # The relay calls the router the relay was made with: swap it on the running relay.
    relay = await start_relay()
    relay._handler = accept_first  # type: ignore[assignment]
    rc = await run_cli(
        "broadcast", *relay_args(broker), "--homes", str(homes), "--key", str(hub_key), "--iss", "jackson-rtcc",
        "--incident-id", "I-1", "--offense", "burglary", "--case-number", "C-1", "--lat", "32.3", "--lon", "-90.18",
        "--radius-m", "500", "--duration-s", "600", "--scope", "snapshot", "--timeout", "2",
    )  # fmt: skip
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["asked"] == 2
    assert [a["home_id"] for a in report["accepted"]] == [home_id]
    assert report["accepted"][0]["cameras"][0]["id"] == "cam-1"
    assert report["no_answer"] == [offline]
    assert len(seen) == 1  # one token per home, each for its own audience
    import jwt

    assert jwt.decode(seen[0], options={"verify_signature": False})["aud"] == home_id


@pytest.fixture
def hub_key(tmp_path: Path) -> Path:
    path = tmp_path / "hub.key"
    assert main(["keygen", "--out", str(path)]) == 0
    return path


async def test_broadcast_declines_look_alike(
    tmp_path: Path,
    broker: Broker,
    hub_key: Path,
    capsys: pytest.CaptureFixture[str],
    start_relay: StartRelay,
    router: StandinRouter,
    home_id: str,
) -> None:
    relay = await start_relay()
    homes = tmp_path / "homes.json"
    enrol(homes, home_id)
    original = router.handle

    async def decline(request: object) -> object:
        token = json.loads(getattr(request, "body", b"{}")).get("token", "")
        router.decline_token(token)
        return await original(request)  # type: ignore[arg-type]

    relay._handler = decline  # type: ignore[assignment]
    rc = await run_cli(
        "broadcast", *relay_args(broker), "--homes", str(homes), "--key", str(hub_key), "--iss", "jackson-rtcc",
        "--incident-id", "I-1", "--offense", "burglary", "--lat", "32.3", "--lon", "-90.18",
        "--radius-m", "500", "--duration-s", "600", "--scope", "snapshot", "--timeout", "3",
    )  # fmt: skip
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["declined"] == [home_id] and report["accepted"] == []


async def test_connect_failure_is_a_client_error(broker: Broker) -> None:
    with pytest.raises(CityClientError, match="cannot connect"):
        async with CityRelay(broker.url("mqtt"), username="nobody", password="x"):
            pass
    with pytest.raises(CityClientError, match="loopback"):
        CityRelay("mqtt://broker.example")


async def test_broker_gone_fails_waiting_requests_at_once(broker: Broker, home_id: str) -> None:
    user = broker.city_username
    async with CityRelay(
        broker.url("mqtt"), username=user, password=broker.password(user), timeout_s=30
    ) as city:
        waiting = asyncio.create_task(city.home(home_id).health())
        await asyncio.sleep(0.3)
        broker.stop()
        async with asyncio.timeout(5):
            with pytest.raises(CityClientError, match="lost"):
                await waiting


async def test_broadcast_of_a_clip_unlock_gives_every_home_the_same_footage_window(
    tmp_path: Path,
    broker: Broker,
    hub_key: Path,
    capsys: pytest.CaptureFixture[str],
    start_relay: StartRelay,
    router: StandinRouter,
    home_id: str,
) -> None:
    import jwt

    relay = await start_relay()
    homes = tmp_path / "homes.json"
    enrol(homes, home_id)
    seen: list[str] = []
    original = router.handle

    async def decline(request: object) -> object:
        token = json.loads(getattr(request, "body", b"{}")).get("token", "")
        seen.append(token)
        router.decline_token(token)
        return await original(request)  # type: ignore[arg-type]

    relay._handler = decline  # type: ignore[assignment]
    sign = [
        "broadcast", *relay_args(broker), "--homes", str(homes), "--key", str(hub_key), "--iss", "jackson-rtcc",
        "--incident-id", "I-1", "--offense", "burglary", "--lat", "32.3", "--lon", "-90.18",
        "--radius-m", "500", "--duration-s", "600", "--scope", "snapshot,clip", "--timeout", "3",
    ]  # fmt: skip
    assert await run_cli(*sign) == 2  # no footage window: nothing is sent
    assert "--scope clip needs the recorded window" in capsys.readouterr().err
    assert seen == []
    assert await run_cli(*sign, "--footage-start=-45m", "--footage-end", "now-15m") == 0
    assert json.loads(capsys.readouterr().out)["declined"] == [home_id]
    [token] = seen
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == ["snapshot", "clip"]
    assert claims["footage"] == {"start": claims["iat"] - 2700, "end": claims["iat"] - 900}
