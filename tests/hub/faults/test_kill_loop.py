"""kill -9 in a loop under concurrent load: every acknowledged write survives, the chain
holds, and no ended unlock ever comes back (PROTOCOL.md sections 1 and 5).

The real add-on as a subprocess, the stand-in Home Assistant for its camera. Each round runs
unlocks, policy changes, revokes, snapshots and a stream at once, kills the add-on with SIGKILL
at a random moment, restarts it and checks what it acknowledged before it died.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.hub.protocol.conftest import HA_TOKEN, base_policy, standin_cameras
from tests.support.city import CityHub, area_at
from tests.support.hub_process import HubProcess
from tests.support.standin_ha import StandinHA

ROUNDS = 4


@dataclass
class Acknowledged:
    """What the add-on answered with success before it was killed."""

    unlocks: dict[str, str] = field(default_factory=dict)  # unlock id -> access token
    revoked: set[str] = field(default_factory=set)
    revision: int = 0
    snapshots: int = 0


async def _load(
    session: aiohttp.ClientSession, hub: HubProcess, city: CityHub, acked: Acknowledged
) -> None:
    """Unlocks, revokes, policy changes and snapshots, as fast as they go, until cancelled."""
    control = {"Authorization": f"Bearer {hub.control_token}"}
    radius = 700
    while True:
        token = city.token(hub.home_id, area=area_at(50), scope=["snapshot", "stream"])
        async with session.post(f"{hub.city_url}/api/v1/unlocks", json={"token": token}) as r:
            if r.status == 201:
                body = await r.json()
                acked.unlocks[body["unlock_id"]] = body["access_token"]
                camera = body["cameras"][0]["id"]
                path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{camera}/snapshot"
                headers = {"Authorization": f"Bearer {body['access_token']}"}
                async with session.get(hub.city_url + path, headers=headers) as snap:
                    if snap.status == 200:
                        await snap.read()
                        acked.snapshots += 1
        if acked.unlocks and random.random() < 0.5:
            victim = random.choice(sorted(acked.unlocks))
            async with session.post(
                f"{hub.control_url}/control/v1/unlocks/{victim}/revoke", headers=control
            ) as r:
                if r.status == 200:
                    acked.revoked.add(victim)
        radius = 700 + (radius - 699) % 50
        async with session.put(
            f"{hub.control_url}/control/v1/policy",
            json=base_policy(max_radius_m=radius, max_unlocks_per_week=10000),
            headers=control,
        ) as r:
            if r.status == 200:
                acked.revision = max(acked.revision, (await r.json())["revision"])


async def _stream(session: aiohttp.ClientSession, hub: HubProcess, city: CityHub) -> None:
    token = city.token(hub.home_id, area=area_at(50), scope=["snapshot", "stream"])
    async with session.post(f"{hub.city_url}/api/v1/unlocks", json={"token": token}) as r:
        body = await r.json()
    camera = body["cameras"][0]["id"]
    path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{camera}/stream"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with session.get(hub.city_url + path, headers=headers) as response:
        async for _ in response.content.iter_chunked(65536):
            pass


async def _status(
    session: aiohttp.ClientSession, hub: HubProcess, unlock_id: str, token: str
) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{hub.city_url}/api/v1/unlocks/{unlock_id}", headers=headers) as r:
        assert r.status == 200, (unlock_id, r.status)
        return str((await r.json())["status"])


def _history(hub: HubProcess) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while True:
        page = hub.control_get(f"/control/v1/history?after={len(entries)}&limit=1000")
        entries.extend(page)
        if len(page) < 1000:
            return entries


def _verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtcc_hub", "audit", "verify", "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_acknowledged_writes_survive_kill_9_under_load(tmp_path: Path) -> None:
    city = CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")
    rng = random.Random(20261201)
    with StandinHA(token=HA_TOKEN, cameras=standin_cameras()).running() as ha:
        hub = HubProcess(
            tmp_path / "data",
            hubs=[city.hub_config()],
            ha_url=ha.url,
            ha_token=HA_TOKEN,
            control_token="control-token-for-the-kill-loop",
        )
        hub.start()
        hub.put_policy(base_policy(max_unlocks_per_week=10000))
        acked = Acknowledged()
        ended_seen: set[str] = set()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                for _ in range(ROUNDS):
                    tasks = [
                        asyncio.create_task(_load(session, hub, city, acked)) for _ in range(3)
                    ]
                    tasks.append(asyncio.create_task(_stream(session, hub, city)))
                    await asyncio.sleep(rng.uniform(1.0, 2.5))
                    hub.kill()
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    result = _verify(hub.data_dir)
                    assert result.returncode == 0, result.stdout + result.stderr
                    hub.start()
                    state = hub.control_get("/control/v1/state")
                    assert state["policy"]["revision"] >= acked.revision
                    for unlock_id, token in acked.unlocks.items():
                        status = await _status(session, hub, unlock_id, token)
                        if unlock_id in acked.revoked or unlock_id in ended_seen:
                            assert status == "ended", (unlock_id, status)
                        if status == "ended":
                            ended_seen.add(unlock_id)
                    received = {
                        e.get("unlock_id") for e in _history(hub) if e["event"] == "unlock_received"
                    }
                    assert set(acked.unlocks) <= received
                    verified = hub.control_get("/control/v1/audit/verify")
                    assert verified["ok"], verified
            assert acked.unlocks and acked.revoked and acked.snapshots
            print(
                f"{ROUNDS} kills: {len(acked.unlocks)} unlocks, {len(acked.revoked)} revokes, "
                f"{acked.snapshots} snapshots acknowledged, revision {acked.revision}: all kept"
            )
        finally:
            hub.kill()
