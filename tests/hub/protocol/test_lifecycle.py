"""PROTOCOL 1: options, first start, two listeners, state under the data dir, restart, CLI."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.hub.protocol.conftest import (
    CONTROL_TOKEN,
    HA_TOKEN,
    CityClient,
    Recorder,
    base_policy,
    collect_parts,
    start_hub,
)
from tests.hub.protocol.helpers import assert_error, find
from tests.hub.protocol.test_audit import check_chain, run_verify
from tests.support.city import CityHub
from tests.support.hub_process import HubProcess, HubProcessError, free_port
from tests.support.standin_ha import StandinHA


@pytest.fixture
def fresh_hub(tmp_path: Path, ha: StandinHA, city_key: CityHub) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path / "data", ha, [city_key.hub_config()])
    try:
        yield hub
    finally:
        rc = hub.stop(check=False)
        hub.kill()
        assert rc == 0, hub.log_tail()


async def test_first_start_consent_false_and_nothing_shared(
    fresh_hub: HubProcess, city_key: CityHub
) -> None:
    hub = fresh_hub
    state = hub.control_get("/control/v1/state")
    uuid.UUID(state["home_id"])
    assert state["policy"]["consent"] is False
    assert state["unlocks"] == []
    recorder = Recorder()
    async with aiohttp.ClientSession() as session:
        city = CityClient(session, hub.city_url, recorder)
        r = await city.unlock(city_key.token(state["home_id"]))
    assert r.status == 201, r
    assert r.json["status"] == "declined"
    assert "access_token" not in r.json
    recorder.assert_no_leaks()
    entries = hub.control_get("/control/v1/history?after=0&limit=1000")
    check_chain(entries)
    assert entries[0]["event"] == "service_started"
    declined = find(entries, "unlock_status", status="declined")
    assert declined[-1]["detail"]["reason"] == "consent_off"


def test_cli_smoke_health_and_clean_sigterm(fresh_hub: HubProcess) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{fresh_hub.city_url}/api/v1/health", timeout=5) as r:
        assert r.status == 200
    t0 = time.monotonic()
    assert fresh_hub.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 10


async def test_sigterm_with_open_stream_exits_cleanly(
    fresh_hub: HubProcess, city_key: CityHub
) -> None:
    hub = fresh_hub
    hub.put_policy(base_policy(allow_live=True))
    async with aiohttp.ClientSession() as session:
        city = CityClient(session, hub.city_url, Recorder())
        r = await city.unlock(city_key.token(hub.home_id, scope=["snapshot", "stream"]))
        assert r.json["status"] == "active", r
        cam = r.json["cameras"][0]["id"]
        async with city.stream(r.json["unlock_id"], cam, r.json["access_token"]) as resp:
            assert resp.status == 200
            await resp.content.read(100)
            t0 = time.monotonic()
            assert hub.stop(timeout=10) == 0
            assert time.monotonic() - t0 < 10
    # PROTOCOL 5: "every stream opened and closed" - also when the add-on shuts down.
    hub.start()
    entries = hub.control_get("/control/v1/history?after=0&limit=1000")
    check_chain(entries)
    opened = find(entries, "stream_opened")
    closed = find(entries, "stream_closed")
    assert len(opened) == 1
    assert [e["detail"]["viewer"] for e in closed] == [opened[0]["detail"]["viewer"]]


def _checkpointed_frames(data_dir: Path) -> dict[str, int]:
    """The open_streams rows (viewer -> frames at the last checkpoint), read-only
    (DESIGN.md: state in DATA_DIR/rtcc_hub.sqlite3, table open_streams)."""
    uri = (data_dir / "rtcc_hub.sqlite3").resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return {str(v): int(f) for v, f in conn.execute("SELECT viewer, frames FROM open_streams")}
    finally:
        conn.close()


async def test_sigkill_with_open_stream_closes_it_as_interrupted_at_restart(
    fresh_hub: HubProcess, city_key: CityHub
) -> None:
    hub = fresh_hub
    hub.put_policy(base_policy(allow_live=True))
    async with aiohttp.ClientSession() as session:
        city = CityClient(session, hub.city_url, Recorder())
        r = await city.unlock(city_key.token(hub.home_id, scope=["snapshot", "stream"]))
        assert r.json["status"] == "active", r
        unlock_id, token = r.json["unlock_id"], r.json["access_token"]
        cam = r.json["cameras"][0]["id"]
        async with city.stream(unlock_id, cam, token) as resp:
            assert resp.status == 200
            reader = asyncio.ensure_future(collect_parts(Recorder(), resp, duration_s=30))
            # Read frames until a checkpoint has written some of them (every ~5 s).
            deadline = time.monotonic() + 20
            checkpointed: dict[str, int] = {}
            while time.monotonic() < deadline:
                checkpointed = await asyncio.to_thread(_checkpointed_frames, hub.data_dir)
                if any(frames > 0 for frames in checkpointed.values()):
                    break
                await asyncio.sleep(0.25)
            [(viewer, frames)] = checkpointed.items()
            assert frames > 0, checkpointed
            hub.kill()  # SIGKILL: no stream_closed written by the add-on itself
            parts, _ = await reader
            assert len(parts) >= frames
    before = run_verify(hub.data_dir)
    assert before.returncode == 0, before
    hub.start()
    entries = hub.control_get("/control/v1/history?after=0&limit=1000")
    check_chain(entries)
    opened = find(entries, "stream_opened")
    assert [e["detail"]["viewer"] for e in opened] == [viewer]
    closed = find(entries, "stream_closed", viewer=viewer)
    assert len(closed) == 1, closed
    detail = closed[0]["detail"]
    assert detail["reason"] == "interrupted"
    assert detail["frames"] == frames > 0
    assert detail["bytes"] > 0
    assert closed[0]["unlock_id"] == unlock_id
    assert closed[0]["seq"] > find(entries, "service_started")[-1]["seq"]
    # The unlock's and the add-on's counters kept what was checkpointed.
    state = hub.control_get("/control/v1/state")
    assert state["counters"]["frames_sent"] >= frames
    assert state["counters"]["open_streams"] == 0
    [unlock] = [u for u in state["unlocks"] if u["unlock_id"] == unlock_id]
    assert unlock["frames"] >= frames and unlock["viewers"] == 0
    assert await asyncio.to_thread(_checkpointed_frames, hub.data_dir) == {}
    # A further clean restart writes nothing more for that viewer; the chain still holds.
    hub.restart()
    entries = hub.control_get("/control/v1/history?after=0&limit=1000")
    check_chain(entries)
    assert len(find(entries, "stream_closed", viewer=viewer)) == 1
    hub.stop()
    after = run_verify(hub.data_dir)
    assert after.returncode == 0, after
    hub.start()


async def test_restart_keeps_state_unlocks_and_jti_store(
    fresh_hub: HubProcess, city_key: CityHub
) -> None:
    hub = fresh_hub
    home_id = hub.home_id
    stored = hub.put_policy(base_policy(max_radius_m=777))
    long_claims = city_key.claims(home_id, duration_s=120)
    short_claims = city_key.claims(home_id, duration_s=2)
    async with aiohttp.ClientSession() as session:
        city = CityClient(session, hub.city_url, Recorder())
        long_r = await city.unlock(city_key.sign(long_claims))
        short_r = await city.unlock(city_key.sign(short_claims))
        assert long_r.json["status"] == "active", long_r
        assert short_r.json["status"] == "active", short_r
    head_before = hub.control_get("/control/v1/audit/verify")["entries"]

    hub.stop()  # clean exit
    ok = run_verify(hub.data_dir)
    assert ok.returncode == 0, ok
    await asyncio.sleep(max(0.0, short_claims["exp"] - time.time()) + 0.5)
    hub.start()

    assert hub.control_get("/control/v1/state")["home_id"] == home_id
    state = hub.control_get("/control/v1/state")
    assert state["policy"] == stored
    async with aiohttp.ClientSession() as session:
        city = CityClient(session, hub.city_url, Recorder())
        lu = long_r.json
        g = await city.get_unlock(lu["unlock_id"], lu["access_token"])
        assert g.status == 200, g
        assert g.json["status"] == "active"
        cam = lu["cameras"][0]["id"]
        assert (await city.snapshot(lu["unlock_id"], cam, lu["access_token"])).status == 200
        # The short unlock expired while the add-on was down.
        su = short_r.json
        g = await city.get_unlock(su["unlock_id"], su["access_token"])
        assert g.json["status"] == "ended", g
        assert g.json["ended_reason"] == "expired"
        assert_error(
            await city.snapshot(su["unlock_id"], su["cameras"][0]["id"], su["access_token"]),
            410,
            "gone",
        )
        # The jti store survived: both tokens are replays now.
        for claims in (long_claims, short_claims):
            assert_error(await city.unlock(city_key.sign(claims)), 401, "invalid_token")
    entries = hub.control_get("/control/v1/history?after=0&limit=1000")
    check_chain(entries)
    assert len(entries) > head_before
    starts = find(entries, "service_started")
    assert len(starts) == 2
    # The CLI printed the count of entries written before the restart.
    count = starts[1]["seq"] - 1
    assert count >= head_before
    assert re.search(rf"(?<!\d){count}(?!\d)", ok.stdout), (count, ok.stdout)


def _expect_refused_start(tmp_path: Path, ha: StandinHA, **kwargs: object) -> None:
    hub = HubProcess(
        tmp_path / "data",
        ha_url=ha.url,
        ha_token=HA_TOKEN,
        control_token=CONTROL_TOKEN,
        startup_timeout=15,
        **kwargs,  # type: ignore[arg-type]
    )
    with pytest.raises(HubProcessError):
        hub.start()
    hub.kill()


def test_bad_hub_public_key_refuses_to_start(tmp_path: Path, ha: StandinHA) -> None:
    _expect_refused_start(tmp_path, ha, hubs=[{"id": "x", "name": "X", "public_key": "not a pem"}])


def test_same_city_and_control_port_refused(tmp_path: Path, ha: StandinHA, city_key) -> None:
    port = free_port()
    _expect_refused_start(
        tmp_path, ha, hubs=[city_key.hub_config()], city_port=port, control_port=port
    )


async def test_city_api_over_tls(tmp_path: Path, ha: StandinHA, city_key: CityHub) -> None:
    import ssl

    from tests.support.tls import self_signed_cert

    certfile, keyfile = self_signed_cert(tmp_path)
    hub = start_hub(
        tmp_path / "data",
        ha,
        [city_key.hub_config()],
        extra_options={"certfile": str(certfile), "keyfile": str(keyfile)},
    )
    try:
        assert hub.city_url.startswith("https://")
        context = ssl.create_default_context(cafile=str(certfile))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{hub.city_url}/api/v1/health", ssl=context) as r:
                assert r.status == 200
                assert await r.json() == {"status": "ok"}
                assert "no-store" in r.headers.get("Cache-Control", "")
            plain = hub.city_url.replace("https://", "http://")
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"{plain}/api/v1/health") as r:
                    assert r.status != 200
            # The control API is a separate listener (plain HTTP on loopback).
            assert hub.control_get("/control/v1/state")["policy"]["consent"] is False
    finally:
        rc = hub.stop(check=False)
        hub.kill()
    assert rc == 0


def test_non_ed25519_hub_key_refuses_to_start(tmp_path: Path, ha: StandinHA) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    _expect_refused_start(tmp_path, ha, hubs=[{"id": "x", "name": "X", "public_key": pem}])


def test_empty_control_token_never_grants_access(
    tmp_path: Path, ha: StandinHA, city_key: CityHub
) -> None:
    """Fail closed: an empty control_token either refuses to start or matches nothing."""
    hub = HubProcess(
        tmp_path / "data",
        hubs=[city_key.hub_config()],
        ha_url=ha.url,
        ha_token=HA_TOKEN,
        control_token="",
        startup_timeout=15,
    )
    try:
        hub.start()
    except HubProcessError:
        hub.kill()
        return
    try:
        for header in ("Bearer ", "Bearer", ""):
            req = urllib.request.Request(f"{hub.control_url}/control/v1/state")
            if header:
                req.add_header("Authorization", header)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=5)
            assert err.value.code == 401
    finally:
        hub.stop(check=False)
        hub.kill()
