"""scripts/neighbourhood.py: real add-ons in one process, reached through a real Mosquitto.

A city broadcast through the library (`rtcc_hub.city.broadcast`) and through the CLI (over the
registry the neighbourhood writes) gets cameras from the consenting, sharing homes inside the
circle and declines that look exactly alike from all the others, each home declining for its
own reason (in its own audit log).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rtcc_hub.city.__main__ import main
from rtcc_hub.city.broadcast import broadcast
from rtcc_hub.city.keys import write_private_key
from rtcc_hub.city.registry import load_homes
from rtcc_hub.city.relay import CityRelay
from rtcc_hub.city.tokens import Area, Incident, sign_unlock_token
from rtcc_hub.status import DeclineReason
from scripts.neighbourhood import HubEntry, Neighbourhood, Profile, placements
from tests.support.broker import Broker
from tests.support.city import CityHub

CENTRE = (32.2988, -90.1848)
RADIUS_M = 500.0
EXPECTED_REASON = {
    Profile.NO_CONSENT: DeclineReason.CONSENT_OFF,
    Profile.NOT_SHARING: DeclineReason.NO_CAMERA_SHARED,
    Profile.OUTSIDE: DeclineReason.OUTSIDE_AREA,
}


@pytest.fixture
async def hood(tmp_path: Path, broker: Broker, hub: CityHub) -> AsyncIterator[Neighbourhood]:
    entry = HubEntry(hub.hub_id, hub.name, hub.public_pem)
    async with Neighbourhood(
        tmp_path / "homes", broker=broker, hub=entry, centre=CENTRE, count=5, radius_m=RADIUS_M
    ) as hood:
        yield hood


def _tokens(hub: CityHub, homes: list[str]) -> dict[str, str]:
    return {
        home_id: sign_unlock_token(
            hub.private_key,
            issuer=hub.hub_id,
            audience=home_id,
            incident=Incident(id="I-7", offense="burglary", case_number="C-7"),
            area=Area(lat=CENTRE[0], lon=CENTRE[1], radius_m=RADIUS_M),
            scope=["snapshot"],
            duration_s=600,
        )
        for home_id in homes
    }


async def _decline_reason(hood: Neighbourhood, home_id: str) -> str | None:
    home = next(h for h in hood.homes if h.home_id == home_id)
    assert home.addon is not None
    entries = await home.addon.owner.history(0, 100)
    return next(
        (e["detail"]["reason"] for e in entries if e["detail"].get("status") == "declined"), None
    )


def _without_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "unlock_id"}


async def test_broadcast_answers_from_the_homes_that_consent_inside_the_circle(
    hood: Neighbourhood, city: CityRelay, hub: CityHub
) -> None:
    assert {home.profile for home in hood.homes} == set(Profile)  # every reason is present
    assert all(home.addon is not None and not home.addon.options.city_http for home in hood.homes)
    expected = hood.expected_accepting()
    assert expected == {h.home_id for h in hood.homes if h.profile is Profile.SHARING}

    result = await broadcast(city, _tokens(hub, [home.home_id for home in hood.homes]))

    assert result.asked == 5 and not result.no_answer and not result.refused
    assert {answer.home_id for answer in result.accepted} == expected
    for answer in result.accepted:
        assert answer.unlock is not None and answer.unlock.status == "active"
        assert answer.unlock.access_token and answer.unlock.cameras
    declined = [answer.unlock.raw for answer in result.declined if answer.unlock]
    assert len(declined) == 3
    # Alike: the same keys and values but the unlock's own id (same window, so same expiry).
    assert all(
        body is not None and set(body) == {"unlock_id", "status", "expires_at"} for body in declined
    )
    assert len({json.dumps(_without_id(body or {}), sort_keys=True) for body in declined}) == 1
    # ... while each home knows why (its audit log, never told to the city).
    for home in hood.homes:
        if home.profile in EXPECTED_REASON:
            assert await _decline_reason(hood, home.home_id) == EXPECTED_REASON[home.profile]
    # An accepted unlock works: a snapshot through the relay, from the shared still source.
    first = result.accepted[0]
    assert first.unlock is not None and first.unlock.access_token is not None
    jpeg = await city.home(first.home_id).snapshot(
        first.unlock.unlock_id, first.unlock.access_token, first.unlock.cameras[0].id
    )
    assert jpeg.startswith(b"\xff\xd8")


async def test_the_cli_broadcasts_over_the_registry_it_writes(
    hood: Neighbourhood, broker: Broker, hub: CityHub, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry, key = tmp_path / "homes.json", tmp_path / "hub.key"
    hood.write_registry(registry)
    assert [home.home_id for home in load_homes(registry)] == [h.home_id for h in hood.homes]
    write_private_key(hub.private_key, key)
    account = broker.city_accounts[1]  # its own session: the `city` fixture is not in use here
    rc = await asyncio.to_thread(
        main,
        [
            "broadcast", "--relay", broker.url("mqtt"), "--relay-user", account,
            "--relay-password", broker.password(account), "--homes", str(registry),
            "--key", str(key), "--iss", hub.hub_id, "--incident-id", "I-8", "--offense",
            "burglary", "--case-number", "C-8", "--lat", str(CENTRE[0]), "--lon",
            str(CENTRE[1]), "--radius-m", str(RADIUS_M), "--duration-s", "600", "--scope",
            "snapshot", "--timeout", "10",
        ],
    )  # fmt: skip
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert {a["home_id"] for a in report["accepted"]} == hood.expected_accepting()
    assert len(report["declined"]) == 3 and report["no_answer"] == [] == report["refused"]


def test_placements_depend_only_on_the_seed() -> None:
    one = placements(50, centre=CENTRE, radius_m=RADIUS_M, seed=3)
    assert one == placements(50, centre=CENTRE, radius_m=RADIUS_M, seed=3)
    assert one != placements(50, centre=CENTRE, radius_m=RADIUS_M, seed=4)
    assert sum(p.profile is Profile.SHARING for p in one) == 20
