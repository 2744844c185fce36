"""The city tool (library and CLI) against a real add-on on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from rtcc_hub.city.__main__ import main
from rtcc_hub.city.client import CityApiError, CityClient
from rtcc_hub.city.tokens import Incident
from tests.hub.city.conftest import HOME, HUB_ID, LiveHub


async def test_client_full_cycle(live_hub: LiveHub) -> None:
    async with CityClient(live_hub.url) as client:
        assert await client.health() == {"status": "ok"}
        unlock = await client.unlock(live_hub.token(scope=("snapshot", "stream")))
        assert unlock.status == "active"
        assert unlock.access_token
        assert {c.label for c in unlock.cameras} == {"Front door", "Back yard"}
        token = unlock.access_token
        status = await client.status(unlock.unlock_id, token)
        assert status.status == "active"
        assert status.access_token is None  # only the 201 carries it
        camera = unlock.cameras[0]
        jpeg = await client.snapshot(unlock.unlock_id, token, camera.id)
        assert jpeg.startswith(b"\xff\xd8")
        frames: list[bytes] = []
        stream = client.stream(unlock.unlock_id, token, camera.id)
        async with contextlib.aclosing(stream):
            async for frame in stream:
                frames.append(frame)
                if len(frames) == 2:
                    break
        assert all(f.startswith(b"\xff\xd8") for f in frames)
        await client.close_unlock(unlock.unlock_id, token)
        ended = await client.status(unlock.unlock_id, token)
        assert (ended.status, ended.ended_reason) == ("ended", "hub_closed")
        with pytest.raises(CityApiError) as raised:
            await client.snapshot(unlock.unlock_id, token, camera.id)
        assert (raised.value.status, raised.value.code) == (410, "gone")


async def test_client_errors_carry_status_and_code(live_hub: LiveHub) -> None:
    async with CityClient(live_hub.url) as client:
        token = live_hub.token(jti="once")
        await client.unlock(token)
        with pytest.raises(CityApiError) as replay:
            await client.unlock(token)
        assert (replay.value.status, replay.value.code) == (401, "invalid_token")
        with pytest.raises(CityApiError) as foreign:
            await client.unlock(live_hub.token(audience="another-home"))
        assert foreign.value.code == "invalid_token"
        await live_hub.set_policy(max_unlocks_per_week=1)
        with pytest.raises(CityApiError) as quota:
            await client.unlock(live_hub.token())
        assert (quota.value.status, quota.value.code) == (429, "quota_exceeded")
        assert quota.value.retry_after is not None
        assert int(quota.value.retry_after) > 0


async def test_declined_unlock_has_no_access(live_hub: LiveHub) -> None:
    async with CityClient(live_hub.url) as client:
        declined = await client.unlock(
            live_hub.token(incident=Incident(id="I-2", offense="Protest", case_number="C-1"))
        )
        assert declined.status == "declined"
        assert declined.access_token is None
        assert declined.cameras == ()


async def test_cli_against_the_add_on(
    live_hub: LiveHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    sign = [
        "--key", str(live_hub.key_path), "--iss", HUB_ID, "--aud", live_hub.hub.home_id,
        "--incident-id", "I-9", "--offense", "burglary", "--case-number", "C-9",
        "--lat", str(HOME["lat"]), "--lon", str(HOME["lon"]), "--radius-m", "400",
        "--duration-s", "600", "--scope", "snapshot,stream",
    ]  # fmt: skip
    assert await cli("unlock", "--url", live_hub.url, *sign) == 0
    unlock = json.loads(capsys.readouterr().out)
    assert unlock["status"] == "active"
    access = ["--url", live_hub.url, "--unlock-id", unlock["unlock_id"],
              "--access-token", unlock["access_token"]]  # fmt: skip
    assert await cli("status", *access) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "active"
    snapshot = tmp_path / "snap.jpg"
    assert await cli("snapshot", *access, "--out", str(snapshot)) == 0
    assert snapshot.read_bytes().startswith(b"\xff\xd8")
    frames = tmp_path / "frames"
    assert await cli("stream", *access, "--frames", "3", "--out-dir", str(frames)) == 0
    assert len(list(frames.glob("frame-*.jpg"))) == 3
    assert await cli("close", *access) == 0
    capsys.readouterr()
    assert await cli("snapshot", *access, "--out", str(tmp_path / "late.jpg")) == 1
    assert "gone (HTTP 410)" in capsys.readouterr().err
    # The same signed request again is a replay only if its jti repeats; a fresh one is new.
    assert await cli("unlock", "--url", live_hub.url, *sign, "--jti", "fixed") == 0
    assert await cli("unlock", "--url", live_hub.url, *sign, "--jti", "fixed") == 1
    assert "invalid_token (HTTP 401)" in capsys.readouterr().err
