"""Helpers for the integration tests: the add-on's own view, and waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.city import DEFAULT_HOME
from tests.support.hub_process import HubProcess


async def control(hub: HubProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Ask the add-on's control API directly (the test's independent view)."""
    return await asyncio.to_thread(hub.control_request, method, path, body)


async def hub_state(hub: HubProcess) -> dict[str, Any]:
    """GET /control/v1/state."""
    status, body = await control(hub, "GET", "/control/v1/state")
    assert status == 200, body
    return dict(body)


def base_policy(**changes: Any) -> dict[str, Any]:
    """A policy sharing both cameras, consent on, auto mode."""
    policy: dict[str, Any] = {
        "consent": True,
        "paused_until": None,
        "mode": "auto",
        "ask_timeout_s": 600,
        "home": dict(DEFAULT_HOME),
        "max_radius_m": 800,
        "max_duration_s": 3600,
        "max_unlocks_per_week": 50,
        "allow_live": True,
        "require_case_number": True,
        "excluded_offenses": ["protest"],
        "cameras": [
            {"entity_id": "camera.front_door", "label": "Front door", "share": True},
            {"entity_id": "camera.back_yard", "label": "Back yard", "share": True},
        ],
    }
    policy.update(changes)
    return policy


async def wait_for(
    predicate: Callable[[], bool], wait_s: float = 10.0, what: str = "condition"
) -> None:
    """Wait (really: the add-on is another process) until `predicate()` holds."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
