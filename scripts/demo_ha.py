"""A small client for the parts of Home Assistant's HTTP APIs the demo drives.

Everything here is what the frontend itself does: onboarding (``/api/onboarding/*`` and
``/auth/token``), a long-lived access token over the websocket API, config and options flows over
the REST flow API (``/api/config/config_entries/...``), states and service calls over ``/api``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

# Jackson, Mississippi (City Hall): the demo home sits here.
HOME_LAT, HOME_LON = 32.2988, -90.1848

CONFIGURATION_YAML = """\
# Written by scripts/demo.py: a minimal Home Assistant for the rtcc_share demo.
homeassistant:
  name: rtcc_share demo home
  latitude: {lat}
  longitude: {lon}
  elevation: 90
  unit_system: metric
  time_zone: America/Chicago
  country: US
  currency: USD
  allowlist_external_dirs:
    - {media}

http:
  server_host: 127.0.0.1
  server_port: {port}

api:

# As a fresh Home Assistant has them: automations and scripts saved in the UI load from these,
# and the recorder keeps the history the frontend shows (and asks for: recorder/info).
automation: !include automations.yaml
script: !include scripts.yaml
recorder:
  purge_keep_days: 1

logger:
  default: warning
  logs:
    custom_components.rtcc_share: info
"""


def write_config(config_dir: Path, *, port: int, media_dir: Path) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(lat=HOME_LAT, lon=HOME_LON, port=port, media=media_dir)
    )
    (config_dir / "automations.yaml").write_text("[]\n")
    (config_dir / "scripts.yaml").write_text("{}\n")


class HomeAssistantError(Exception):
    """Home Assistant answered something the demo did not expect."""


FlowAnswer = Callable[[dict[str, Any]], dict[str, Any]]


class HomeAssistant:
    """REST + websocket access to one Home Assistant instance."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.url = base_url.rstrip("/")
        self.session = session
        self.token: str | None = None
        self.auth: dict[str, Any] = {}

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.token is None:
            raise HomeAssistantError("no access token yet")
        return {"Authorization": f"Bearer {self.token}"}

    async def request(
        self, method: str, path: str, *, json: Any = None, expect: tuple[int, ...] = (200, 201)
    ) -> Any:
        async with self.session.request(
            method, self.url + path, json=json, headers=self._headers()
        ) as resp:
            text = await resp.text()
            if resp.status not in expect:
                raise HomeAssistantError(f"{method} {path} -> {resp.status}: {text[:500]}")
            if resp.content_type == "application/json":
                return await resp.json()
            return text

    async def get_bytes(self, path: str) -> bytes:
        async with self.session.get(self.url + path, headers=self._headers()) as resp:
            if resp.status != 200:
                raise HomeAssistantError(f"GET {path} -> {resp.status}")
            return await resp.read()

    # -- start-up and onboarding ------------------------------------------------------------

    async def wait_ready(self, timeout_s: float, alive: Callable[[], bool]) -> None:
        """Wait until the HTTP server answers the (unauthenticated) onboarding status."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise HomeAssistantError("Home Assistant exited during start-up")
            try:
                async with self.session.get(
                    self.url + "/api/onboarding", timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.25)
        raise HomeAssistantError(f"Home Assistant did not answer within {timeout_s:.0f} s")

    async def onboard(self, *, name: str, username: str, password: str) -> None:
        """Create the owner account and finish every onboarding step, as the frontend does."""
        client_id = self.url + "/"
        async with self.session.post(
            self.url + "/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        ) as resp:
            if resp.status != 200:
                raise HomeAssistantError(
                    f"onboarding user step -> {resp.status}: {await resp.text()}"
                )
            auth_code = (await resp.json())["auth_code"]
        async with self.session.post(
            self.url + "/auth/token",
            data={"grant_type": "authorization_code", "code": auth_code, "client_id": client_id},
        ) as resp:
            if resp.status != 200:
                raise HomeAssistantError(f"/auth/token -> {resp.status}: {await resp.text()}")
            self.auth = dict(await resp.json())  # access and refresh token, as a browser keeps
            self.token = self.auth["access_token"]
        await self.request("POST", "/api/onboarding/core_config", json={})
        await self.request("POST", "/api/onboarding/analytics", json={})
        await self.request(
            "POST",
            "/api/onboarding/integration",
            json={"client_id": client_id, "redirect_uri": client_id + "?auth_callback=1"},
        )

    async def websocket(self, message: dict[str, Any]) -> Any:
        """Send one command over a fresh websocket connection and return its result."""
        async with self.session.ws_connect(self.url + "/api/websocket") as ws:
            hello = await ws.receive_json()
            if hello.get("type") != "auth_required":
                raise HomeAssistantError(f"websocket: unexpected {hello}")
            await ws.send_json({"type": "auth", "access_token": self.token})
            auth = await ws.receive_json()
            if auth.get("type") != "auth_ok":
                raise HomeAssistantError(f"websocket auth failed: {auth}")
            await ws.send_json({"id": 1, **message})
            while True:
                reply = await ws.receive_json(timeout=30)
                if reply.get("id") == 1 and reply.get("type") == "result":
                    if not reply.get("success"):
                        raise HomeAssistantError(f"websocket {message['type']}: {reply}")
                    return reply.get("result")

    async def create_long_lived_token(self, client_name: str) -> str:
        token = await self.websocket(
            {"type": "auth/long_lived_access_token", "client_name": client_name, "lifespan": 3650}
        )
        return str(token)

    # -- config entries ---------------------------------------------------------------------

    async def _drive_flow(
        self, base: str, start: dict[str, Any], answer: FlowAnswer
    ) -> dict[str, Any]:
        step = await self.request("POST", base, json=start)
        for _ in range(10):
            kind = step.get("type")
            if kind in ("create_entry", "abort"):
                if kind == "abort":
                    raise HomeAssistantError(f"flow {start} aborted: {step.get('reason')}")
                return dict(step)
            if kind not in ("form", "menu"):
                raise HomeAssistantError(f"flow {start}: unexpected step {step}")
            if step.get("errors"):
                raise HomeAssistantError(
                    f"flow {start} step {step.get('step_id')}: {step['errors']}"
                )
            step = await self.request("POST", f"{base}/{step['flow_id']}", json=answer(step))
        raise HomeAssistantError(f"flow {start} did not finish")

    async def config_flow(
        self, handler: str, answer: FlowAnswer | dict[str, Any]
    ) -> dict[str, Any]:
        """Run a config flow to its end; ``answer`` maps each step to the user's input."""
        fn = answer if callable(answer) else (lambda _step: answer)
        return await self._drive_flow(
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
            fn,
        )

    async def options_flow(
        self, entry_id: str, answer: FlowAnswer | dict[str, Any]
    ) -> dict[str, Any]:
        fn = answer if callable(answer) else (lambda _step: answer)
        return await self._drive_flow(
            "/api/config/config_entries/options/flow", {"handler": entry_id}, fn
        )

    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        entries = await self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(entries)

    # -- states and services ----------------------------------------------------------------

    async def states(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", "/api/states"))

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return dict(await self.request("GET", f"/api/states/{entity_id}"))
        except HomeAssistantError as err:
            if "-> 404" in str(err):
                return None
            raise

    async def wait_state(
        self,
        entity_id: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda _s: True,
        timeout_s: float = 20.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = await self.state(entity_id)
            if last is not None and predicate(last):
                return last
            await asyncio.sleep(0.25)
        raise HomeAssistantError(f"{entity_id} not as expected after {timeout_s:.0f} s: {last}")

    async def entity_registry(self) -> list[dict[str, Any]]:
        return list(await self.websocket({"type": "config/entity_registry/list"}))

    async def call_service(
        self, domain: str, service: str, data: dict[str, Any] | None = None
    ) -> Any:
        return await self.request("POST", f"/api/services/{domain}/{service}", json=data or {})
