"""Secrets kept as files in the data dir, created once, readable by the add-on only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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


HOME_KEY_FILE = "home_key.pem"


class HomeKeyError(Exception):
    """The home key file exists but cannot be used: the add-on must not start (a new key
    would silently break every receipt the city holds)."""


def load_home_key(data_dir: Path) -> Ed25519PrivateKey:
    """The home key (PROTOCOL.md section 1): Ed25519, made on first start, private half 0600
    in the data dir, never in any response, log or diagnostics. It signs receipts."""
    path = data_dir / HOME_KEY_FILE
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as err:
            raise HomeKeyError(f"cannot read the home key {path}: {err}") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise HomeKeyError(f"the home key {path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem)
    return key


def public_pem(key: Ed25519PrivateKey) -> str:
    """The public half as PEM (SubjectPublicKeyInfo): the `receipt_key` the city verifies with."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
