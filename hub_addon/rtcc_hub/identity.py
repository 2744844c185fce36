"""Secrets kept as files in the data dir, created once, readable by the add-on only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

CONTROL_TOKEN_FILE = "control_token"  # noqa: S105 - a file name, not a secret


def write_private(path: Path, data: bytes) -> None:
    """Write a fresh file created 0600 (never readable by others, not even briefly), then move
    it into place atomically: a crash leaves the old file or the new one."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_control_token(data_dir: Path) -> str:
    """Under the Supervisor: a random control token, kept across restarts so that the
    integration's stored copy stays valid."""
    path = data_dir / CONTROL_TOKEN_FILE
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 32:
            return token
    token = secrets.token_urlsafe(32)
    write_private(path, token.encode())
    return token
