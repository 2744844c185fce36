"""Screenshots of Home Assistant's UI after the demo scenario, for the docs.

    .venv/bin/python scripts/demo_screenshots.py [--out docs/screenshots] [--dir .demo-shots]

Runs the demo scenario (``scripts/demo.py``), then drives a headless Chromium over the Chrome
DevTools Protocol: logs the browser in with the owner's tokens (as the frontend keeps them in
``localStorage``) and captures the integration's device page. (The panel's screenshots are taken
by its browser tests: ``RTCC_SCREENSHOTS=docs/screenshots pytest tests/e2e/test_panel.py``.)
Uses the headless Chromium that scripts/chromium.sh fetches into .cache, else one on PATH;
everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo
from demo_ha import HomeAssistantError

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1400, 1000


class Browser:
    """One headless Chromium page, driven over CDP."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0
        self._profile = tempfile.TemporaryDirectory(prefix="rtcc-demo-chromium-")

    async def start(self) -> None:
        fetched = demo.REPO / ".cache" / "chromium" / "run"
        exe = (
            str(fetched)
            if fetched.exists()
            else next((b for b in BROWSERS if shutil.which(b)), None)
        )
        if exe is None:
            raise demo.DemoError(f"no headless Chromium found (tried {', '.join(BROWSERS)})")
        port = demo.free_port()
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - a daemon, not awaited
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={WIDTH},{HEIGHT}",
                f"--remote-debugging-port={port}",
                "--remote-debugging-address=127.0.0.1",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.get(base + "/json/list") as resp:
                    pages = [t for t in await resp.json() if t.get("type") == "page"]
                    if pages:
                        break
            if time.monotonic() > deadline:
                raise demo.DemoError("headless Chromium did not start")
            await asyncio.sleep(0.2)
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self.call("Page.enable")
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.ws is not None
        self._id += 1
        await self.ws.send_json({"id": self._id, "method": method, "params": params or {}})
        while True:
            msg = await self.ws.receive_json(timeout=60)
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise demo.DemoError(f"CDP {method}: {msg['error']}")
                return dict(msg.get("result") or {})

    async def goto(self, url: str, settle_s: float) -> None:
        await self.call("Page.navigate", {"url": url})
        await asyncio.sleep(settle_s)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", {"expression": expression})
        return (result.get("result") or {}).get("value")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", {"format": "png"})
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.proc is not None:
            # The whole group: Debian's chromium command is a wrapper around the browser, and
            # the browser has zygote and renderer children of its own.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, 10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                await asyncio.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._profile.cleanup()


async def shoot(args: argparse.Namespace) -> None:
    out = Path(args.out)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    async with demo.Demo(base=Path(args.dir), ha_port=None) as run:
        await run.run()
        ha = run.ha
        devices = await ha.websocket({"type": "config/device_registry/list"})
        device = next(d for d in devices if run.entry_id in (d.get("config_entries") or []))
        browser = Browser(run.session)
        try:
            await browser.start()
            # Log the browser in the way the frontend itself remembers a login.
            await browser.goto(ha.url + "/", 2)
            tokens = {
                **ha.auth,
                "hassUrl": ha.url,
                "clientId": ha.url + "/",
                "expires": int(time.time() * 1000) + 1_800_000,
            }
            await browser.evaluate(
                f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))}); 1"
            )
            pages = {
                "ha_rtcc_share_device.png": f"/config/devices/device/{device['id']}",
            }
            for name, path in pages.items():
                await browser.goto(ha.url + path, args.settle)
                await browser.screenshot(out / name)
                print(f"saved {out / name}")
        finally:
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the demo's Home Assistant")
    parser.add_argument("--out", default=str(demo.REPO / "docs" / "screenshots"))
    parser.add_argument("--dir", default=str(demo.REPO / ".demo-shots"))
    parser.add_argument("--settle", type=float, default=6.0, help="seconds to let a page render")
    args = parser.parse_args()
    try:
        asyncio.run(shoot(args))
    except (demo.DemoError, HomeAssistantError) as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
