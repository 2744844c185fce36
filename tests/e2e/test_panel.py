"""The "Camera sharing" panel in a real browser, against a real Home Assistant and add-on.

Home Assistant, the add-on and the demo camera are started as the demo starts them (the
demo's steps up to the integration's set-up); the city is played with the city tool's
client. The browser is Debian's chromium-headless-shell that scripts/chromium.sh fetched
into .cache, driven by Playwright. The owner logs in through Home Assistant's login form
and does everything in the panel, with the mouse and with the keyboard, on a desktop and on
a phone-sized screen; the checks look at what the add-on and the city then get.

The tests build on each other in file order (the history test reads the unlocks the
earlier ones made), as an owner's afternoon would.

Screenshots of every view go to $RTCC_SCREENSHOTS when it is set (docs/screenshots for the
README: `RTCC_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -p no:homeassistant
tests/e2e/test_panel.py`), else to a temporary folder.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402
import demo_scene  # noqa: E402

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(300),
]

# The flags that work here (no sandbox, GPU, QUIC or background traffic) and a fresh profile
# per run (Playwright makes one for each launch).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# A mask the owner draws around the tree in the street scene (normalised coordinates).
TREE_MASK = [(0.44, 0.12), (0.58, 0.12), (0.58, 0.50), (0.44, 0.50)]
TREE_PROBE = (0.47, 0.18, 0.55, 0.44)
BLACK_MAX = 12
# The element that has the keyboard focus, through the shadow roots of Home Assistant's
# frontend and of the panel.
DEEP_FOCUS = """() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a ? (a.dataset && a.dataset.key) || a.tagName.toLowerCase() : null;
}"""


def _browser_binary() -> str:
    """The browser setup fetched (not a skip: the check runs these tests everywhere)."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "chromium.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[demo.Demo]:
    """Home Assistant, the demo cameras, the add-on and the integration, set up as the demo
    does (street shared with the neighbour's window masked, back yard not shared)."""
    run = demo.Demo(base=tmp_path_factory.mktemp("panel"), ha_port=None, quiet=True)
    async with run:
        run.prepare()
        await run.start_home_assistant()
        await run.add_cameras()
        await run.start_addon()
        await run.setup_integration()
        yield run


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go."""
    folder = os.environ.get("RTCC_SCREENSHOTS")
    path = Path(folder).resolve() if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium from .cache, through Playwright."""
    executable = _browser_binary()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _log_in(page: Page, home: demo.Demo, path: str) -> None:
    """Home Assistant's own login form, as the owner sees it."""
    await page.goto(home.ha.url + path)
    await page.get_by_label("Username").fill(demo.OWNER_USERNAME)
    await page.get_by_role("textbox", name="Password").fill(home.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/rtcc-share**", timeout=30000)
    await page.locator("rtcc-now-view, rtcc-cameras-view").first.wait_for(timeout=30000)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def owner(browser: Browser, home: demo.Demo) -> AsyncIterator[BrowserContext]:
    """A browser logged in as the owner (the login is kept, as a browser keeps it)."""
    context = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await _log_in(page, home, "/rtcc-share")
    await page.close()
    try:
        yield context
    finally:
        await context.close()
    assert not errors, errors


@pytest_asyncio.fixture(loop_scope="module")
async def page(owner: BrowserContext) -> AsyncIterator[Page]:
    """A fresh tab of the logged-in browser; JavaScript errors fail the test."""
    tab = await owner.new_page()
    # A rejected promise nobody handles is reported with its reason (Chromium's own page
    # error only says "Object" for a websocket error).
    await tab.add_init_script(
        "window.addEventListener('unhandledrejection', e => console.error("
        "'unhandled rejection: ' + JSON.stringify(e.reason)))"
    )
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(f"{err.message} {err.stack}"))
    tab.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    try:
        yield tab
    finally:
        await tab.close()
    assert not errors, errors


async def _open(page: Page, home: demo.Demo, view: str) -> None:
    await page.goto(f"{home.ha.url}/rtcc-share?view={view}")
    await page.locator(f"rtcc-{view}-view").wait_for()


async def _until(predicate: Callable[[], Any], what: str, wait_s: float = 15.0) -> Any:
    """Wait (the add-on and Home Assistant are other processes) until `predicate()` holds."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _policy(home: demo.Demo) -> dict[str, Any]:
    return dict((await home.control("GET", "/control/v1/state"))["policy"])


async def _unlock_status(home: demo.Demo, unlock_id: str) -> str | None:
    unlocks = (await home.control("GET", "/control/v1/state"))["unlocks"]
    return next((u["status"] for u in unlocks if u["unlock_id"] == unlock_id), None)


def _black_inside(jpeg: bytes) -> bool:
    return int(demo_scene.region(demo_scene.decode(jpeg), TREE_PROBE).max()) <= BLACK_MAX


async def _city_snapshot(home: demo.Demo, unlocked: demo.Unlocked) -> bytes:
    assert unlocked.access_token is not None
    city = home.city_home()  # over the city's broker: the home has no city port
    # A request approved later has its cameras in its status, not in the first answer.
    cameras = unlocked.cameras or list(
        (await city.status(unlocked.unlock_id, unlocked.access_token)).cameras
    )
    return bytes(await city.snapshot(unlocked.unlock_id, unlocked.access_token, cameras[0].id))


async def test_draw_a_mask_save_and_the_city_sees_it_black(
    home: demo.Demo, page: Page, shots: Path
) -> None:
    original = await home.ha.get_bytes(f"/api/camera_proxy/{home.street_entity}")
    # The tree is really there before the mask (so the black check can fail).
    assert int(demo_scene.region(demo_scene.decode(original), TREE_PROBE).max()) > 60

    await _open(page, home, "cameras")
    await page.screenshot(path=shots / "panel_cameras.png", full_page=True)
    await page.locator(f'[data-edit="{home.street_entity}"]').click()
    stage = page.locator("rtcc-mask-editor svg")
    await stage.wait_for()
    await _until(
        lambda: page.locator("rtcc-mask-editor img").evaluate("i => i.naturalWidth > 0"),
        "the camera's still",
    )
    box = await stage.bounding_box()
    assert box is not None
    for x, y in [*TREE_MASK, TREE_MASK[0]]:  # the last click, on the first point, closes it
        await page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])
    assert await page.locator("rtcc-mask-editor").get_attribute("data-masks") == "2"

    # What the city sees, before saving: the add-on's rendering, black over the tree.
    await page.get_by_role("button", name="What the city sees").click()
    preview = page.locator(".preview img")
    await _until(lambda: preview.evaluate("i => !i.hidden && i.src.startsWith('data:')"), "preview")
    src = await preview.get_attribute("src")
    assert src is not None
    assert _black_inside(base64.b64decode(src.split(",", 1)[1]))
    assert len((await _policy(home))["cameras"][0]["masks"]) == 1  # nothing saved yet

    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_text("Saved. The city sees this camera as").wait_for()
    await page.screenshot(path=shots / "panel_mask_editor.png", full_page=True)
    policy = await _policy(home)
    street = next(c for c in policy["cameras"] if c["entity_id"] == home.street_entity)
    assert street["label"] == demo.STREET_LABEL  # the label stays what the owner set
    drawn = street["masks"][1]
    assert len(drawn) == len(TREE_MASK)
    for (x, y), (want_x, want_y) in zip(drawn, TREE_MASK, strict=True):
        assert abs(x - want_x) < 0.01
        assert abs(y - want_y) < 0.01

    # And the city's own snapshot is black there.
    unlocked = await home.city_unlock(near=True, incident="I-PANEL-MASK")
    assert unlocked.status == "active"
    assert _black_inside(await _city_snapshot(home, unlocked))


async def _masks_shown(page: Page) -> list[list[list[float]]]:
    text = await page.locator('rtcc-mask-editor textarea[name="current"]').input_value()
    return list(json.loads(text))


async def test_mask_editor_drag_insert_delete_undo_and_paste(home: demo.Demo, page: Page) -> None:
    """The editor's other gestures, on the back yard (not saved: the policy stays as it is)."""
    before = await _policy(home)
    await _open(page, home, "cameras")
    await page.locator(f'[data-edit="{home.backyard_entity}"]').click()
    stage = page.locator("rtcc-mask-editor svg")
    await _until(
        lambda: page.locator("rtcc-mask-editor img").evaluate("i => i.naturalWidth > 0"),
        "the camera's still",
    )
    box = await stage.bounding_box()
    assert box is not None

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"], box["y"] + y * box["height"]

    for x, y in [(0.2, 0.2), (0.6, 0.2), (0.4, 0.6)]:
        await page.mouse.click(*at(x, y))
    await stage.press("Enter")  # the keyboard closes it too
    assert await _masks_shown(page) == [[[0.2, 0.2], [0.6, 0.2], [0.4, 0.6]]]
    # Drag the third point down.
    await page.mouse.move(*at(0.4, 0.6))
    await page.mouse.down()
    await page.mouse.move(*at(0.4, 0.7), steps=4)
    await page.mouse.up()
    (polygon,) = await _masks_shown(page)
    assert abs(polygon[2][1] - 0.7) < 0.01
    # Drag the "+" between the first two points: a fourth point.
    await page.mouse.move(*at(0.4, 0.2))
    await page.mouse.down()
    await page.mouse.move(*at(0.4, 0.1), steps=4)
    await page.mouse.up()
    (polygon,) = await _masks_shown(page)
    assert len(polygon) == 4
    assert abs(polygon[1][1] - 0.1) < 0.01
    # Double-click a point: deleted; Undo brings it back; the arrow keys move it.
    await page.mouse.dblclick(*at(0.4, 0.1))
    assert len((await _masks_shown(page))[0]) == 3
    await page.get_by_role("button", name="Undo").click()
    assert len((await _masks_shown(page))[0]) == 4
    await page.mouse.click(*at(0.4, 0.35))  # select the mask (inside it) ...
    await page.mouse.click(*at(0.2, 0.2))  # ... then its first point
    await stage.press("ArrowRight")
    assert abs((await _masks_shown(page))[0][0][0] - 0.205) < 0.001
    # Delete the mask; paste a Frigate zone instead.
    await page.mouse.click(*at(0.4, 0.35))  # inside it
    await page.get_by_role("button", name="Delete mask").click()
    assert await _masks_shown(page) == []
    await page.get_by_text("Coordinates (paste a Frigate zone or mask)").click()
    await page.locator('rtcc-mask-editor textarea[name="paste"]').fill("0.1,0.1,0.3,0.1,0.3,0.3")
    await page.get_by_role("button", name="Add these masks").click()
    assert await _masks_shown(page) == [[[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]]]
    await page.locator('rtcc-mask-editor textarea[name="paste"]').fill("0.1,0.1,2")
    await page.get_by_role("button", name="Add these masks").click()
    await page.get_by_text("Frigate coordinates are pairs of numbers").wait_for()
    await page.get_by_role("button", name="← All cameras").click()
    assert await _policy(home) == before


async def test_frigate_camera_by_name(home: demo.Demo, page: Page, shots: Path) -> None:
    """A Frigate Home Assistant has no integration for (the demo's): the owner chooses
    "Frigate camera by name…" and types the camera's name, with the keyboard; a name Frigate
    could not have is refused at the field and nothing is saved."""
    before = await _policy(home)
    street_before = next(c for c in before["cameras"] if c["entity_id"] == home.street_entity)
    await _open(page, home, "cameras")
    await page.locator(f'[data-edit="{home.street_entity}"]').click()
    recorder = page.get_by_label("Recordings (for clips)")
    name = page.get_by_label("Frigate camera name")
    error = page.locator("#frigate-name-error")
    assert not await name.is_visible()  # only with "Frigate camera by name…" chosen
    await recorder.focus()
    for _ in range(10):  # the arrow keys walk the choices of a closed select
        if await recorder.input_value() == "frigate-by-name":
            break
        await page.keyboard.press("ArrowDown")
    else:
        pytest.fail("'Frigate camera by name…' cannot be chosen with the keyboard")
    await name.wait_for(state="visible")
    await page.keyboard.press("Tab")
    assert await page.evaluate(DEEP_FOCUS) == "frigate-name"

    # A name with a space: the error at the field, the focus back on it, nothing saved.
    await page.keyboard.type("front door")
    await page.get_by_role("button", name="Save", exact=True).click()
    await error.get_by_text("“front door” is not a Frigate camera name").wait_for()
    assert await name.get_attribute("aria-invalid") == "true"
    assert await page.evaluate(DEEP_FOCUS) == "frigate-name"
    await page.screenshot(path=shots / "panel_frigate_name_error.png", full_page=True)
    assert await _policy(home) == before

    # Fixed with the keyboard: the error goes as soon as the name is one; Tab to Save.
    await page.keyboard.press("Control+A")
    await page.keyboard.type("street_cam-1")
    assert await error.inner_text() == ""
    assert await name.get_attribute("aria-invalid") == "false"
    await page.keyboard.press("Tab")
    assert await page.evaluate(DEEP_FOCUS) == "save"
    await page.keyboard.press("Enter")
    await page.get_by_text("Saved. The city sees this camera as").wait_for()
    street = next(
        c for c in (await _policy(home))["cameras"] if c["entity_id"] == home.street_entity
    )
    assert street["recorder"] == {"source": "frigate", "camera": "street_cam-1"}
    assert street | {"recorder": None} == street_before | {"recorder": None}  # nothing else

    # On a phone the field fits the screen too.
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(300)
    width = await page.locator("rtcc-cameras-view").evaluate(
        "v => Math.max(v.scrollWidth, ...[...v.shadowRoot.querySelectorAll('*')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert width <= PHONE["width"] + 1, width
    await page.set_viewport_size(DESKTOP)

    # Shown back as the camera's recorder; the other choices are as they were.
    await page.get_by_role("button", name="← All cameras").click()
    card = page.locator(f'article[data-camera="{home.street_entity}"]')
    await card.get_by_text("Frigate: street_cam-1").wait_for()
    await card.get_by_role("button", name="Edit").click()
    assert await recorder.input_value() == "frigate:street_cam-1"
    await recorder.select_option("none")
    await page.get_by_role("button", name="Save", exact=True).click()
    await _until(lambda: _recorder_is(home, None), "no recordings again")
    assert await _policy(home) | {"revision": 0} == before | {"revision": 0}


async def _recorder_is(home: demo.Demo, recorder: dict[str, str] | None) -> bool:
    cameras = (await _policy(home))["cameras"]
    return next(c for c in cameras if c["entity_id"] == home.street_entity)["recorder"] == recorder


async def test_revoke_from_the_panel_ends_the_citys_access(
    home: demo.Demo, page: Page, shots: Path
) -> None:
    from rtcc_hub.city.client import CityApiError

    unlocked = await home.city_unlock(near=True, incident="I-PANEL-REVOKE")
    assert unlocked.status == "active"
    await _city_snapshot(home, unlocked)
    await _open(page, home, "now")
    card = page.locator(f'article[data-unlock="{unlocked.unlock_id}"]')
    await card.wait_for()
    await page.locator('[data-banner="viewing"]').wait_for()  # the snapshot just served
    await page.screenshot(path=shots / "panel_now.png", full_page=True)
    assert "I-PANEL-REVOKE" in await card.inner_text()
    await card.get_by_role("button", name="Revoke").click()
    await _until(lambda: _gone(home, unlocked), "revoked")
    with pytest.raises(CityApiError) as refused:
        await _city_snapshot(home, unlocked)
    assert refused.value.status == 410


async def _gone(home: demo.Demo, unlocked: demo.Unlocked) -> bool:
    return await _unlock_status(home, unlocked.unlock_id) is None


async def test_keyboard_only_revoke(home: demo.Demo, page: Page) -> None:
    from rtcc_hub.city.client import CityApiError

    unlocked = await home.city_unlock(near=True, incident="I-PANEL-KEYS")
    assert unlocked.status == "active"
    await _open(page, home, "now")
    await page.locator(f'article[data-unlock="{unlocked.unlock_id}"]').wait_for()
    target = f"revoke-{unlocked.unlock_id}"
    for _ in range(80):  # from the top of the page, through the sidebar, to the button
        await page.keyboard.press("Tab")
        if await page.evaluate(DEEP_FOCUS) == target:
            break
    else:
        pytest.fail("the Revoke button cannot be reached with the Tab key")
    await page.keyboard.press("Enter")
    await _until(lambda: _gone(home, unlocked), "revoked by keyboard")
    with pytest.raises(CityApiError) as refused:
        await _city_snapshot(home, unlocked)
    assert refused.value.status == 410


async def test_rules_ask_mode_then_approve_a_pending_request(
    home: demo.Demo, page: Page, shots: Path
) -> None:
    await _open(page, home, "rules")
    await page.get_by_label("Ask me each time").check()
    await page.get_by_role("button", name="Save rules").click()
    await page.get_by_text("Rules saved.").wait_for()
    await _until(lambda: _mode_is(home, "ask"), "ask mode")
    await page.screenshot(path=shots / "panel_rules.png", full_page=True)

    pending = await home.city_unlock(near=True, incident="I-PANEL-ASK")
    assert pending.status == "pending"
    await _open(page, home, "now")
    card = page.locator(f'article[data-unlock="{pending.unlock_id}"]')
    await card.wait_for()
    assert "Decide within" in await card.inner_text()
    await page.screenshot(path=shots / "panel_pending.png", full_page=True)
    await card.get_by_role("button", name="Approve").click()
    await _until(lambda: _status_is(home, pending.unlock_id, "active"), "approved", wait_s=10)
    assert len(await _city_snapshot(home, pending)) > 0  # the city can look now

    # Back to automatic, from the panel too.
    await _open(page, home, "rules")
    await page.get_by_label("Share automatically (standing consent)").check()
    await page.get_by_role("button", name="Save rules").click()
    await _until(lambda: _mode_is(home, "auto"), "auto mode")


async def _mode_is(home: demo.Demo, mode: str) -> bool:
    return (await _policy(home))["mode"] == mode


async def _status_is(home: demo.Demo, unlock_id: str, status: str) -> bool:
    return await _unlock_status(home, unlock_id) == status


async def test_pause_30_minutes_declines_the_next_request(home: demo.Demo, page: Page) -> None:
    await _open(page, home, "now")
    before = datetime.now(UTC)
    await page.get_by_role("button", name="Pause 30 minutes").click()
    await page.locator('[data-banner="paused"]').wait_for()
    paused = (await _policy(home))["paused_until"]
    assert paused is not None
    until = datetime.fromisoformat(paused)
    assert timedelta(minutes=29) < until - before < timedelta(minutes=31)
    declined = await home.city_unlock(near=True, incident="I-PANEL-PAUSED")
    assert declined.status == "declined"

    await page.locator('[data-banner="paused"]').get_by_role("button", name="Resume now").click()
    await _until(lambda: _not_paused(home), "resumed")
    assert (await home.city_unlock(near=True, incident="I-PANEL-RESUMED")).status == "active"


async def _not_paused(home: demo.Demo) -> bool:
    return (await _policy(home))["paused_until"] is None


async def test_history_in_words_events_csv_and_audit_head(
    home: demo.Demo, page: Page, shots: Path
) -> None:
    await _open(page, home, "history")
    record = page.locator("article.record").filter(has_text="I-PANEL-PAUSED")
    await record.wait_for()
    # Why it was declined, for the owner.
    assert "Declined — sharing was paused" in await record.inner_text()
    revoked = page.locator("article.record").filter(has_text="I-PANEL-REVOKE")
    assert "Ended — you revoked it" in await revoked.inner_text()
    await revoked.get_by_role("button", name="Show events").click()
    await revoked.get_by_text("Snapshot sent").wait_for()

    await page.get_by_role("button", name="Verify the audit log").click()
    result = page.locator(".audit-result")
    await result.get_by_text("The audit log verifies").wait_for()
    # Nothing happened since: the chain head shown is the add-on's own.
    verified = await home.control("GET", "/control/v1/audit/verify")
    assert verified["ok"] is True
    assert (await result.locator("code.head").inner_text()).strip() == verified["head"]
    assert f"{verified['entries']} entries" in await result.inner_text()
    await page.screenshot(path=shots / "panel_history.png", full_page=True)

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    incidents = {row["incident"]: row for row in rows}
    assert {"I-PANEL-MASK", "I-PANEL-REVOKE", "I-PANEL-PAUSED"} <= set(incidents)
    assert incidents["I-PANEL-PAUSED"]["status"] == "Declined"
    assert incidents["I-PANEL-PAUSED"]["reason"] == "sharing was paused"
    assert incidents["I-PANEL-REVOKE"]["city"] == demo.HUB_NAME
    assert int(incidents["I-PANEL-REVOKE"]["snapshots"]) == 1


async def test_phone_sized_screen(
    browser: Browser, owner: BrowserContext, home: demo.Demo, shots: Path
) -> None:
    state = await owner.storage_state()
    phone = await browser.new_context(viewport=PHONE, storage_state=state, is_mobile=True)
    page = await phone.new_page()
    try:
        unlocked = await home.city_unlock(near=True, incident="I-PANEL-PHONE")
        await _open(page, home, "now")
        card = page.locator(f'article[data-unlock="{unlocked.unlock_id}"]')
        await card.wait_for()
        # Nothing wider than the screen: no sideways scrolling on a phone.
        for view in ("now", "cameras", "history", "rules"):
            await _open(page, home, view)
            await page.wait_for_timeout(300)
            width = await page.locator(f"rtcc-{view}-view").evaluate(
                "v => Math.max(v.scrollWidth, ...[...v.shadowRoot.querySelectorAll('*')]"
                ".map(e => e.getBoundingClientRect().right))"
            )
            assert width <= PHONE["width"] + 1, (view, width)
        await _open(page, home, "now")
        await card.wait_for()
        await page.screenshot(path=shots / "panel_phone.png", full_page=True)
        revoke = card.get_by_role("button", name="Revoke")
        await revoke.scroll_into_view_if_needed()
        await revoke.click()
        await _until(lambda: _gone(home, unlocked), "revoked on the phone")
    finally:
        await phone.close()


async def test_dark_theme(
    browser: Browser, owner: BrowserContext, home: demo.Demo, shots: Path
) -> None:
    state = await owner.storage_state()
    dark = await browser.new_context(viewport=DESKTOP, storage_state=state, color_scheme="dark")
    page = await dark.new_page()
    try:
        await _open(page, home, "cameras")
        await page.locator("article.card").first.wait_for()
        colours = await page.locator("rtcc-cameras-view").evaluate(
            "v => [getComputedStyle(v).backgroundColor, getComputedStyle(v).color]"
        )
        background, text = (_luminance(c) for c in colours)
        assert background < 0.3 < text, colours  # light text on a dark background
        await page.screenshot(path=shots / "panel_dark.png", full_page=True)
        # The Frigate camera name field too (nothing saved).
        await page.locator(f'[data-edit="{home.street_entity}"]').click()
        await page.get_by_label("Recordings (for clips)").select_option("frigate-by-name")
        field = page.get_by_label("Frigate camera name")
        colours = await field.evaluate(
            "f => [getComputedStyle(f).backgroundColor, getComputedStyle(f).color]"
        )
        background, text = (_luminance(c) for c in colours)
        assert background < 0.3 < text, colours
        await page.screenshot(path=shots / "panel_dark_frigate_name.png", full_page=True)
    finally:
        await dark.close()


def _luminance(css: str) -> float:
    values = [float(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    r, g, b = (v / 255 for v in values)
    return float(np.dot([0.2126, 0.7152, 0.0722], [r, g, b]))
