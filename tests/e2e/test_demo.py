"""The demo scenario end to end: a real Home Assistant, the add-on and the city hub.

Runs ``scripts/demo.py``'s scenario (the same code ``--once`` runs) in a temporary folder, then
checks what a person would see: no city port open at home and the city served over its broker
(a real Mosquitto), the integration's entities in Home Assistant's state machine, a pause
through Home Assistant's service API declining the next unlock, the mask in the saved snapshot
and in every frame of the recorded clip, the clip's receipt, the 50-home broadcast (the homes
inside the circle with consent answer with cameras, the others decline alike), the share
counted in the share-history sensor and an audit log that verifies.

Starts real processes (Home Assistant, the add-on, a stand-in camera), so it runs without the
Home Assistant pytest plugin: ``pytest -p no:homeassistant tests/e2e``. Every process is stopped
when the module ends, also when a step fails.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402
import demo_scene  # noqa: E402

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(300),
]

# Inside the mask, away from its edges: a JPEG block straddling the edge may carry a little
# colour, but these pixels must be black. Decoded JPEG black is 0, allow a hair of ringing.
BLACK_MAX = 12


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scenario(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[demo.Demo]:
    # Not a skip: without it Home Assistant starts in recovery mode and the demo is broken.
    assert importlib.util.find_spec("hass_frontend") is not None, (
        "home-assistant-frontend is not installed in this venv; the demo needs it "
        "(Home Assistant refuses to start normally without its frontend)"
    )
    run = demo.Demo(base=tmp_path_factory.mktemp("demo"), ha_port=None)
    started: list[demo.Child] = []
    try:
        async with run:
            try:
                await run.run()
            finally:
                started = list(run.children.items)
            yield run
    finally:
        # Leaving the block stopped every process the demo started, also after a failure.
        assert started
        assert all(not c.alive() for c in started), [c.name for c in started if c.alive()]


def _decode(path: Path) -> np.ndarray:
    return demo_scene.decode(path.read_bytes())


async def test_no_city_port_is_open_at_home(scenario: demo.Demo) -> None:
    log = next(c for c in scenario.children.items if c.name == "addon").log.read_text()
    line = demo._LISTENING.search(log)
    assert line is not None and line[1] == "off", log
    assert line[4] == "1"  # one relay
    # The kernel's view: the add-on process listens on the control port only.
    control_port = int(scenario.control_url.rsplit(":", 1)[1])
    assert scenario.results["addon_listening"] == [("127.0.0.1", control_port)]
    assert scenario.results["city_port_refused"] is True
    assert await asyncio.to_thread(demo._refused, scenario.closed_city_port)


async def test_the_city_reaches_the_home_over_its_broker(scenario: demo.Demo) -> None:
    assert scenario.results["online"] == {scenario.home_id: "online"}
    state = await scenario.control("GET", "/control/v1/state")
    [relay] = state["relays"]
    assert relay["connected"] is True
    assert relay["url"] == scenario.relay_url
    assert relay["hub"] == demo.HUB_ID
    assert "password" not in relay
    history = await scenario.control("GET", "/control/v1/history?after=0&limit=1000")
    assert "relay_connected" in [e["event"] for e in history]
    # Asked over the broker now, the home still answers (and only its own topic counts).
    health = await scenario.relay.request(scenario.home_id, "GET", "/api/v1/health")
    assert (health.status, health.json()) == (200, {"status": "ok"})


async def test_city_sees_only_the_unlock_near_home(scenario: demo.Demo) -> None:
    assert scenario.results["far"].status == "declined"
    assert scenario.results["far"].access_token is None
    near = scenario.results["near"]
    assert near.status == "active"
    # Only what the owner shared: the street camera, under its label, never the back yard.
    assert [c.label for c in near.cameras] == [demo.STREET_LABEL]
    assert all("street" not in c.id and "back_yard" not in c.id for c in near.cameras)


async def test_integration_entities_are_in_the_state_machine(scenario: demo.Demo) -> None:
    states = {s["entity_id"]: s for s in await scenario.ha.states()}
    consent = scenario.entities["consent"]
    history = scenario.entities["unlocks_shared"]
    assert states[consent]["state"] == "on"
    assert history in states
    registry = [e for e in await scenario.ha.entity_registry() if e["platform"] == "rtcc_share"]
    ours = {e["entity_id"] for e in registry}
    assert {consent, history} <= ours
    # Every entity of the integration is live in the state machine (not just registered).
    missing = sorted(e for e in ours if e not in states)
    assert not missing, missing
    # One share switch per camera of the policy: the street is shared, the back yard is not.
    assert states[scenario.entities[f"share:{scenario.street_entity}"]]["state"] == "on"
    assert states[scenario.entities[f"share:{scenario.backyard_entity}"]]["state"] == "off"


async def test_snapshot_masks_the_neighbours_window(scenario: demo.Demo) -> None:
    original = _decode(scenario.out_dir / "original_street.jpg")
    # The probe really covers the lit window in what the camera sees (so the test can fail).
    assert demo_scene.region(original, demo_scene.MASK_PROBE).mean() > 120
    for path in [scenario.results["snapshot"], *scenario.results["frames"]]:
        img = _decode(path)
        masked = demo_scene.region(img, demo_scene.MASK_PROBE)
        assert masked.size > 0
        assert int(masked.max()) <= BLACK_MAX, f"{path.name}: mask area not black"
        # The street stays visible and matches what the camera saw.
        street = demo_scene.region(img, demo_scene.STREET_PROBE).astype(float)
        seen = demo_scene.region(original, demo_scene.STREET_PROBE).astype(float)
        assert street.mean() > 30
        assert abs(street.mean() - seen.mean()) < 15


async def test_the_clip_is_the_recorded_street_masked(scenario: demo.Demo) -> None:
    from tests.support import footage as ft

    clip = scenario.results["clip"]
    assert clip.status == "ready"
    assert "clip" in scenario.results["near"].cameras[0].capabilities
    path = scenario.out_dir / "clip.mp4"
    decoded = ft.decode_clip(path)
    assert decoded.stream_types == ["video"]  # the sound never leaves (there is none here)
    assert not {"title", "location", "comment"} & set(decoded.container_tags)
    # Made from the recorder's 20 s of footage, at the recording's 5 frames per second.
    assert decoded.times[-1] - decoded.times[0] > 15, decoded.times
    assert len(decoded.luma) >= 5 * 15
    original = _decode(scenario.out_dir / "original_street.jpg")
    seen = demo_scene.region(original, demo_scene.STREET_PROBE).astype(float).mean()
    for number, luma in enumerate(decoded.luma):
        gray = ft.gray_of_luma(luma)
        masked = demo_scene.region(gray, demo_scene.MASK_PROBE)
        assert int(masked.max()) <= BLACK_MAX, f"frame {number}: mask area not black"
        street = demo_scene.region(gray, demo_scene.STREET_PROBE).astype(float).mean()
        assert street > 30
        assert abs(street - seen) < 20, (number, street, seen)
    check = scenario.results["clip_check"]
    assert check.mask_max <= BLACK_MAX
    assert check.frames == len(decoded.luma)
    assert (scenario.out_dir / "clip_frame.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_the_clip_receipt_verifies_with_the_home_key(scenario: demo.Demo) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from rtcc_hub.city.receipts import ReceiptInvalid, verify_receipt

    near, clip = scenario.results["near"], scenario.results["clip"]
    body = (scenario.out_dir / "clip.mp4").read_bytes()
    # The receipt key as the city got it over the relay, from the add-on's own home key.
    # (The unlock is closed now; its clips are deleted but its status still answers.)
    status = await scenario.city_home().status(near.unlock_id, near.access_token)
    key = load_pem_public_key(status.raw["receipt_key"].encode())
    assert isinstance(key, Ed25519PublicKey)
    assert clip.receipt is not None
    receipt = verify_receipt(key, body, clip.receipt)
    assert receipt.claims["kind"] == "clip"
    assert receipt.claims["iss"] == scenario.home_id
    assert receipt.claims["aud"] == demo.HUB_ID
    assert receipt.claims["unlock_id"] == near.unlock_id
    assert receipt.claims["bytes"] == len(body)
    assert receipt == scenario.results["clip_receipt"]
    # The owner's log holds the entry the receipt names.
    history = await scenario.control("GET", "/control/v1/history?after=0&limit=1000")
    entry = next(e for e in history if e["seq"] == receipt.claims["audit_seq"])
    assert (entry["event"], entry["hash"]) == ("clip_prepared", receipt.claims["audit_hash"])
    # One byte changed and it no longer verifies.
    with pytest.raises(ReceiptInvalid):
        verify_receipt(key, body[:-1] + bytes([body[-1] ^ 1]), clip.receipt)


async def test_the_broadcast_asks_every_home_and_the_right_ones_answer(
    scenario: demo.Demo,
) -> None:
    from neighbourhood import Profile

    hood, result = scenario.hood, scenario.results["broadcast"]
    assert len(hood.homes) == demo.NEIGHBOURS
    assert result.asked == demo.NEIGHBOURS + 1  # the demo home too
    assert not result.no_answer and not result.refused
    # Every reason to decline is there, decided by each add-on at home.
    assert {home.profile for home in hood.homes} == set(Profile)
    accepted = {a.home_id for a in result.accepted}
    assert accepted == hood.expected_accepting() | {scenario.home_id}
    assert len(result.declined) == result.asked - len(accepted) > 0
    for answer in result.accepted:
        assert answer.unlock.status == "active"
        assert answer.unlock.cameras
    # Declines all look alike: the same three fields, no cameras, no token, no reason.
    shapes = {tuple(sorted(a.unlock.raw)) for a in result.declined}
    assert shapes == {("expires_at", "status", "unlock_id")}
    # One masked snapshot from each accepting neighbour.
    numbers = {h.home_id: n for n, h in enumerate(hood.homes, start=1)}
    saved = sorted(p.name for p in scenario.out_dir.glob("neighbour_*.jpg"))
    assert saved == sorted(f"neighbour_{numbers[h]:02d}.jpg" for h in accepted - {scenario.home_id})
    for path in scenario.results["broadcast_snapshots"]:
        masked = demo_scene.region(_decode(path), demo_scene.MASK_PROBE)
        assert int(masked.max()) <= BLACK_MAX, path.name
    # Every neighbour is the add-on with no city port, reached only by its relay.
    for home in hood.homes:
        assert not home.addon.options.city_http
        assert home.addon.city_port == 0
        assert "city=off" in home.addon.listening_line()
    assert all(h.connected for h in hood.homes)


async def test_stream_frames_were_saved(scenario: demo.Demo) -> None:
    frames = scenario.results["frames"]
    assert len(frames) == demo.STREAM_FRAMES
    assert all(p.read_bytes()[:2] == b"\xff\xd8" for p in frames)


async def test_share_history_counts_the_share(scenario: demo.Demo) -> None:
    near = scenario.results["near"]

    def has_share(records: list[dict[str, Any]]) -> bool:
        return any(r["unlock_id"] == near.unlock_id and r["status"] == "ended" for r in records)

    records = await scenario.share_history(has_share)
    record = next(r for r in records if r["unlock_id"] == near.unlock_id)
    # The panel's History names cameras as the owner knows them, never by entity id.
    assert record["cameras"] == [demo.STREET_LABEL]
    assert record["hub_name"] == demo.HUB_NAME
    assert record["reason"] == "hub_closed"
    assert record["snapshots"] >= 1
    # The sensor's state counts the unlocks that were shared, as the add-on counts them.
    counters = (await scenario.control("GET", "/control/v1/state"))["counters"]
    assert counters["unlocks_activated"] >= 1
    await scenario.ha.wait_state(
        scenario.entities["unlocks_shared"],
        lambda s: s["state"] == str(counters["unlocks_activated"]),
    )


async def test_audit_log_verifies(scenario: demo.Demo) -> None:
    api, cli = await scenario.audit_verify()
    assert api["ok"] is True
    assert "first_bad_seq" not in api or api["first_bad_seq"] is None
    # Start, policy changes, two unlocks received and decided, a snapshot, a stream, the close.
    assert api["entries"] >= 8
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert str(api["entries"]) in cli.stdout


async def _policy(scenario: demo.Demo, predicate: Callable[[dict[str, Any]], bool]) -> None:
    """Wait (briefly) until the add-on's stored policy satisfies ``predicate``."""
    for _ in range(50):
        policy = (await scenario.control("GET", "/control/v1/state"))["policy"]
        if predicate(policy):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the add-on's policy never changed as expected: {policy}")


async def test_pause_through_home_assistant_declines_the_next_unlock(scenario: demo.Demo) -> None:
    before = await scenario.city_unlock(near=True, incident="I-PAUSE-0")
    assert before.status == "active"  # the unlock that the pause must stop next time
    await scenario.ha.call_service("rtcc_share", "pause_sharing", {"duration": {"minutes": 30}})
    await _policy(scenario, lambda p: p["paused_until"] is not None)
    paused = await scenario.city_unlock(near=True, incident="I-PAUSE-1")
    assert paused.status == "declined"
    assert paused.access_token is None
    await scenario.ha.call_service("rtcc_share", "resume_sharing", {})
    await _policy(scenario, lambda p: p["paused_until"] is None)
    after = await scenario.city_unlock(near=True, incident="I-PAUSE-2")
    assert after.status == "active"


async def test_consent_off_in_home_assistant_ends_live_access(scenario: demo.Demo) -> None:
    from rtcc_hub.city.client import CityApiError

    consent = scenario.entities["consent"]
    await scenario.ha.call_service("rtcc_share", "resume_sharing", {})
    await scenario.ha.call_service("switch", "turn_on", {"entity_id": consent})
    await _policy(scenario, lambda p: p["consent"] is True and p["paused_until"] is None)
    unlock = await scenario.city_unlock(near=True, incident="I-CONSENT")
    assert unlock.status == "active"
    assert unlock.access_token is not None
    camera = unlock.cameras[0].id

    await scenario.ha.call_service("switch", "turn_off", {"entity_id": consent})
    await scenario.ha.wait_state(consent, lambda s: s["state"] == "off")
    city = scenario.city_home()
    status = await city.status(unlock.unlock_id, unlock.access_token)
    assert (status.status, status.ended_reason) == ("ended", "consent_withdrawn")
    with pytest.raises(CityApiError) as refused:
        await city.snapshot(unlock.unlock_id, unlock.access_token, camera)
    assert refused.value.status == 410
    # And nothing new is granted while consent is off.
    assert (await scenario.city_unlock(near=True, incident="I-CONSENT-2")).status == "declined"


async def test_home_assistant_stays_usable_for_the_owner(scenario: demo.Demo) -> None:
    # The web UI needs get_services; a missing optional package leaves it on "Loading...".
    assert await scenario.web_ui_problem() is None
    services = await scenario.ha.websocket({"type": "get_services"})
    assert {"pause_sharing", "resume_sharing"} <= set(services["rtcc_share"])
    # The YAML HTTP settings are confirmed: no revert (and restart on 0.0.0.0) is scheduled.
    http = await scenario.ha.websocket({"type": "http/config"})
    assert http["pending"] is None
    assert http["revert_at"] is None
    assert http["stable"]["server_host"] == ["127.0.0.1"]
    async with scenario.session.get(scenario.ha.url + "/") as resp:
        assert resp.status == 200
        assert "<title>Home Assistant</title>" in await resp.text()


async def test_owner_panel_is_in_the_sidebar(scenario: demo.Demo) -> None:
    """The demo has no hand-made dashboard: the integration's own panel, for admins."""
    panels = await scenario.ha.websocket({"type": "get_panels"})
    panel = panels[demo.PANEL_PATH]
    assert panel["title"] == "Camera sharing"
    assert panel["require_admin"] is True
    module = panel["config"]["_panel_custom"]
    assert module["name"] == "rtcc-share-panel"
    async with scenario.session.get(scenario.ha.url + module["module_url"]) as resp:
        assert resp.status == 200
        assert "customElements.define" in await resp.text()
    dashboards = await scenario.ha.websocket({"type": "lovelace/dashboards/list"})
    # Only Home Assistant's own map dashboard: nothing made by hand for the demo.
    assert [d["url_path"] for d in dashboards if d["url_path"] != "map"] == []
