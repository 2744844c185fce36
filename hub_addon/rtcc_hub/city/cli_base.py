"""What every part of the city tool's command line shares: output, exit codes, usage errors and
the calls one home's city API offers over either carriage."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from rtcc_hub.city.client import Clip, Download, Received, Unlock


class Exit(IntEnum):
    """The tool's exit status (the module docstring of ``__main__`` documents them)."""

    OK = 0
    FAILED = 1
    USAGE = 2


class UsageError(Exception):
    """Bad command-line input found after parsing (exit 2)."""


class CityApi(Protocol):
    """One home's city API, over HTTP (`CityClient`) or over a relay (`RelayHome`)."""

    async def unlock(self, token: str) -> Unlock: ...

    async def status(self, unlock_id: str, access_token: str) -> Unlock: ...

    async def snapshot(self, unlock_id: str, access_token: str, camera_id: str) -> bytes: ...

    async def snapshot_received(
        self, unlock_id: str, access_token: str, camera_id: str
    ) -> Received: ...

    def stream(
        self, unlock_id: str, access_token: str, camera_id: str
    ) -> AsyncGenerator[bytes]: ...

    async def close_unlock(self, unlock_id: str, access_token: str) -> None: ...

    async def request_clip(
        self,
        unlock_id: str,
        access_token: str,
        camera_id: str,
        *,
        start: str | None = None,
        end: str | None = None,
    ) -> Clip: ...

    async def clip(self, unlock_id: str, access_token: str, clip_id: str) -> Clip: ...

    async def clip_video(
        self, unlock_id: str, access_token: str, clip_id: str, path: Path
    ) -> Download: ...


def out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def err(text: str) -> None:
    sys.stderr.write(f"rtcc-city: {text}\n")
