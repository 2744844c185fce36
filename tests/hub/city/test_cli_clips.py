"""The city tool's `clip` (and `snapshot` with its receipt) against a real add-on: over HTTP
with the add-on as a process (`python -m rtcc_hub`), over a relay on a real Mosquitto with the
add-on in-process. Footage comes from the stand-in Frigate, recorded a few minutes ago on the
real clock, so the unlock is the one the tool itself signs (`--footage-start/--footage-end`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.city.__main__ import main
from rtcc_hub.city.client import CityClient
from rtcc_hub.city.keys import generate_private_key, hub_entry, write_private_key
from rtcc_hub.timefmt import rfc3339
from tests.hub.city.conftest import BACK, FRONT, HA_TOKEN, HOME, HUB_ID, base_policy
from tests.support import footage as ft
from tests.support.standin_frigate import StandinFrigate
from tests.support.standin_ha import StandinHA

RECORDED_S = 20
PROGRESS = re.compile(r"^rtcc-city: preparing (\d+) %$", re.MULTILINE)


async def run_cli(*argv: str) -> int:
    """main() runs its own event loop, so it goes to a thread beside the fixtures' loop."""
    return await asyncio.to_thread(main, list(argv))


def clip_policy() -> dict[str, Any]:
    policy = base_policy(allow_clips=True)
    policy["cameras"][0]["recorder"] = {"source": "frigate", "camera": "front_door"}
    return policy


@dataclass
class Scene:
    """The city's key, a home, and footage of its front door recorded `RECORDED_S` s long."""

    key_path: Path
    tmp: Path
    recorded_from: int
    frigate: StandinFrigate
    where: list[str]  # --url ... or --relay ... --home ...
    home_id: str

    def sign_args(self, start: int, end: int, aud: str) -> list[str]:
        return [
            "--key", str(self.key_path), "--iss", HUB_ID, "--aud", aud,
            "--incident-id", "I-1", "--offense", "burglary", "--case-number", "C-1",
            "--lat", str(HOME["lat"]), "--lon", str(HOME["lon"]), "--radius-m", "300",
            "--duration-s", "600", "--scope", "snapshot,clip",
            "--footage-start", rfc3339(start), "--footage-end", rfc3339(end),
        ]  # fmt: skip

    async def unlock(
        self, capsys: pytest.CaptureFixture[str], aud: str, start: int, end: int
    ) -> list[str]:
        """Unlock with the tool; the access options of the unlock it got."""
        capsys.readouterr()
        assert await run_cli("unlock", *self.where, *self.sign_args(start, end, aud)) == 0
        unlock = json.loads(capsys.readouterr().out)
        assert unlock["status"] == "active", unlock
        assert unlock["cameras"][0]["capabilities"] == ["snapshot", "clip"]
        return [*self.where, "--unlock-id", unlock["unlock_id"],
                "--access-token", unlock["access_token"]]  # fmt: skip


def _city_key(tmp: Path) -> tuple[Path, dict[str, Any]]:
    key = generate_private_key()
    path = tmp / "hub.key"
    write_private_key(key, path)
    return path, hub_entry(key, hub_id=HUB_ID, name="Jackson RTCC")


def _record(frigate: StandinFrigate) -> int:
    """Footage of the last few minutes, on whole seconds as Frigate's segments start."""
    start = int(time.time()) - 300
    frigate.record("front_door", ft.Recording(epoch=start, fps=10, width=320, height=240), 0,
                   RECORDED_S)  # fmt: skip
    return start


@pytest.fixture
async def over_http(tmp_path: Path) -> AsyncIterator[Scene]:
    from tests.support.hub_process import HubProcess

    key_path, entry = _city_key(tmp_path)
    store = tmp_path / "frigate"
    store.mkdir()
    async with (
        StandinHA(token=HA_TOKEN, cameras=[FRONT, BACK]) as ha,
        StandinFrigate(store, hang_s=3) as frigate,
    ):
        recorded_from = _record(frigate)
        hub = HubProcess(
            tmp_path / "data",
            hubs=[entry],
            ha_url=ha.url,
            ha_token=HA_TOKEN,
            extra_options={"frigate_url": frigate.url},
        )
        await asyncio.to_thread(hub.start)
        try:
            await asyncio.to_thread(hub.put_policy, clip_policy())
            where = ["--url", hub.city_url]
            yield Scene(key_path, tmp_path, recorded_from, frigate, where, hub.home_id)
        finally:
            await asyncio.to_thread(hub.stop)


def _check_saved(out: Path, said: str) -> str:
    """The file, its receipt beside it, nothing half-made left; the receipt's sha256."""
    receipt = out.with_name(out.name + ".receipt")
    assert out.is_file() and receipt.read_text().strip().count(".") == 2
    assert not list(out.parent.glob(out.name + ".unverified*"))
    assert not list(out.parent.glob("*.part"))
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"  sha256: {digest}\n" in said and f"  bytes: {out.stat().st_size}\n" in said
    return digest


async def test_clip_over_http_saved_with_a_receipt_that_verifies(
    over_http: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, home_id = over_http, over_http.home_id
    start = scene.recorded_from
    access = await scene.unlock(capsys, home_id, start, start + RECORDED_S)
    out, key = scene.tmp / "front.mp4", scene.tmp / "home.pem"
    assert await run_cli("clip", *access, "--out", str(out), "--key-out", str(key)) == 0
    captured = capsys.readouterr()
    progress = [int(p) for p in PROGRESS.findall(captured.err)]
    assert progress and progress == sorted(progress)  # one line per change, never backwards
    assert captured.err.rstrip().endswith("rtcc-city: ready")
    _check_saved(out, captured.out)
    assert f"  footage_start: {rfc3339(start)}\n" in captured.out
    assert f"  footage_end: {rfc3339(start + RECORDED_S)}\n" in captured.out
    assert out.read_bytes()[4:8] == b"ftyp"
    receipt = out.with_name("front.mp4.receipt")
    assert await run_cli("verify-receipt", "--key", str(key), "--file", str(out),
                         "--receipt", f"@{receipt}") == 0  # fmt: skip
    assert "  kind: clip\n" in capsys.readouterr().out
    # A part of the window (relative bounds are fine too), and a snapshot with its receipt.
    part = scene.tmp / "part.mp4"
    assert await run_cli("clip", *access, "--start", rfc3339(start + 5), "--end",
                         rfc3339(start + 10), "--out", str(part)) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert f"  footage_start: {rfc3339(start + 5)}\n" in said
    assert part.stat().st_size < out.stat().st_size
    snap = scene.tmp / "front.jpg"
    assert await run_cli("snapshot", *access, "--out", str(snap)) == 0
    _check_saved(snap, capsys.readouterr().out)
    assert await run_cli("verify-receipt", "--key", str(key), "--file", str(snap),
                         "--receipt", f"@{snap}.receipt") == 0  # fmt: skip
    assert "  kind: snapshot\n" in capsys.readouterr().out
    # Whose receipt is whose: the clip's receipt is not the snapshot's.
    assert await run_cli("verify-receipt", "--key", str(key), "--file", str(snap),
                         "--receipt", f"@{receipt}") == 1  # fmt: skip
    assert "sha256" in capsys.readouterr().err


async def test_clip_over_http_no_footage_and_busy(
    over_http: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, home_id = over_http, over_http.home_id
    start = scene.recorded_from
    # Nothing was recorded after the footage: no_footage, exit 1, no file.
    later = await scene.unlock(capsys, home_id, start + 120, start + 150)
    out = scene.tmp / "nothing.mp4"
    assert await run_cli("clip", *later, "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "no_footage (nothing recorded in the window)" in err
    assert not list(scene.tmp.glob("nothing.mp4*"))
    # Two clips preparing (Frigate hangs for 3 s, then fails them): the third is `429 busy`,
    # asked for again until a place is free.
    access = await scene.unlock(capsys, home_id, start, start + RECORDED_S)
    unlock_id, token = access[access.index("--unlock-id") + 1], access[-1]
    scene.frigate.set_mode("front_door", "hang")
    async with CityClient(access[1]) as client:
        status = await client.status(unlock_id, token)
        camera = status.cameras[0].id
        for end in (start + 5, start + 6):
            await client.request_clip(unlock_id, token, camera, end=rfc3339(end))
    requests = scene.frigate.cameras["front_door"].clip_requests
    for _ in range(100):
        if len(requests) >= 2:
            break
        await asyncio.sleep(0.05)
    scene.frigate.set_mode("front_door", "ok")
    out = scene.tmp / "after-busy.mp4"
    assert await run_cli("clip", *access, "--out", str(out), "--timeout", "20") == 0
    captured = capsys.readouterr()
    assert "busy: the home is preparing other clips; asking again in 2 s" in captured.err
    _check_saved(out, captured.out)
    # Busy for longer than --timeout: the 429 is the answer.
    scene.frigate.set_mode("front_door", "hang")
    async with CityClient(access[1]) as client:
        for end in (start + 7, start + 8):
            await client.request_clip(unlock_id, token, camera, end=rfc3339(end))
    assert await run_cli("clip", *access, "--end", rfc3339(start + 9), "--out",
                         str(scene.tmp / "x.mp4"), "--timeout", "1") == 1  # fmt: skip
    assert "error busy (HTTP 429)" in capsys.readouterr().err


# -- over a relay ------------------------------------------------------------------------------


@pytest.fixture
async def over_relay(tmp_path: Path, mosquitto: None) -> AsyncIterator[Scene]:
    from rtcc_hub.app import AddOn
    from rtcc_hub.options import parse_options
    from tests.support.broker import Broker
    from tests.support.relay_fixtures import eventually

    key_path, entry = _city_key(tmp_path)
    store = tmp_path / "frigate"
    store.mkdir()
    async with (
        StandinHA(token=HA_TOKEN, cameras=[FRONT, BACK]) as ha,
        StandinFrigate(store) as frigate,
    ):
        recorded_from = _record(frigate)
        base = {
            "hubs": [entry],
            "city_port": 0,
            "control_port": 0,
            "control_token": "control-token-for-city-tests",
            "ha_url": ha.url,
            "ha_token": HA_TOKEN,
            "frigate_url": frigate.url,
        }
        first = await AddOn.create(parse_options(base), tmp_path / "data")
        home_id = first.home_id
        await first.stop()
        with Broker(tmp_path / "broker", homes=[home_id]) as broker:
            relay = {
                "hub": HUB_ID,
                "url": broker.url("mqtt"),
                "username": home_id,
                "password": broker.password(home_id),
                "max_message_bytes": 16384,
            }
            options = parse_options({**base, "city_http": False, "relays": [relay]})
            addon = await AddOn.create(options, tmp_path / "data")
            await addon.start()
            try:
                await eventually(lambda: addon.relays.relays[0].connected)
                await addon.owner.put_policy(clip_policy())
                user = broker.city_username
                where = ["--relay", broker.url("mqtt"), "--relay-user", user,
                         "--relay-password", broker.password(user), "--home", home_id]  # fmt: skip
                yield Scene(key_path, tmp_path, recorded_from, frigate, where, home_id)
            finally:
                await addon.stop()


async def test_clip_over_a_relay_joins_the_parts_and_verifies(
    over_relay: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, home_id = over_relay, over_relay.home_id
    start = scene.recorded_from
    access = await scene.unlock(capsys, home_id, start, start + RECORDED_S)
    out, key = scene.tmp / "relayed.mp4", scene.tmp / "home.pem"
    assert await run_cli("clip", *access, "--out", str(out), "--key-out", str(key)) == 0
    captured = capsys.readouterr()
    assert PROGRESS.search(captured.err) or "rtcc-city: ready" in captured.err
    digest = _check_saved(out, captured.out)
    assert out.stat().st_size > 16384  # it came in parts of max_message_bytes, joined
    assert await run_cli("verify-receipt", "--key", str(key), "--file", str(out),
                         "--receipt", f"@{out}.receipt") == 0  # fmt: skip
    assert f"  sha256: {digest}\n" in capsys.readouterr().out
    snap = scene.tmp / "relayed.jpg"
    assert await run_cli("snapshot", *access, "--out", str(snap)) == 0
    _check_saved(snap, capsys.readouterr().out)
