"""The city hub's Ed25519 signing key: create, store, load, and the enrolment entry.

The private key never leaves the city; the resident pastes the public key (PEM
SubjectPublicKeyInfo) into the add-on's ``hubs`` option, which is the only place the add-on ever
takes a verification key from.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_KEY_MODE = 0o600
# A PEM Ed25519 key is about 120 bytes; anything much larger is not a key file.
_MAX_KEY_FILE_BYTES = 64 * 1024


class KeyFileError(Exception):
    """A key file cannot be written or read, or holds something other than an Ed25519 key."""


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")


def write_private_key(key: Ed25519PrivateKey, path: Path, *, force: bool = False) -> None:
    """Write ``key`` as PEM PKCS8 readable by the owner only.

    Without ``force`` an existing file is never touched (``O_EXCL``, no race). With ``force`` the
    key goes to a private temporary file that then replaces the old one, so the file is never
    briefly readable by others nor left half written.
    """
    data = private_key_pem(key)
    if not force:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
        except FileExistsError:
            raise KeyFileError(f"{path} already exists; use --force to replace it") from None
        except OSError as err:
            raise KeyFileError(f"cannot create {path}: {err.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=".rtcc-key-")
    except OSError as err:
        raise KeyFileError(f"cannot write in {directory}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE_KEY_MODE)
            handle.write(data)
        Path(temp_name).replace(path)
    except OSError as err:
        with contextlib.suppress(OSError):
            Path(temp_name).unlink()
        raise KeyFileError(f"cannot write {path}: {err.strerror}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM (PKCS8) Ed25519 private key."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as err:
        raise KeyFileError(f"cannot read {path}: {err.strerror}") from None
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path} is too large to be a key file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key ({err})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key_pem(pem: str) -> Ed25519PublicKey:
    """Parse a PEM SubjectPublicKeyInfo Ed25519 public key (as enrolled in ``hubs``)."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as err:
        raise KeyFileError(f"not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"public key is a {type(key).__name__}, not Ed25519")
    return key


def hub_entry(
    key: Ed25519PrivateKey, *, hub_id: str, name: str, kid: str | None = None
) -> dict[str, Any]:
    """The ``hubs`` entry (PROTOCOL.md section 1) the resident adds to the add-on's options."""
    if not hub_id.strip():
        raise ValueError("hub id must not be empty")
    if not name.strip():
        raise ValueError("hub name must not be empty")
    entry: dict[str, Any] = {"id": hub_id, "name": name, "public_key": public_key_pem(key)}
    if kid is not None:
        if not kid.strip():
            raise ValueError("kid must not be empty when given")
        entry["kid"] = kid
    return entry


def hub_entry_yaml(entry: dict[str, Any]) -> str:
    """Render a ``hubs`` list item as YAML without needing a YAML library.

    Scalars are written as JSON strings, which YAML reads as double-quoted scalars; the PEM goes
    in a literal block so it stays readable and keeps its line breaks.
    """
    lines: list[str] = []
    for index, (field, value) in enumerate(entry.items()):
        prefix = "- " if index == 0 else "  "
        if field == "public_key":
            lines.append(f"{prefix}{field}: |")
            lines.extend(f"    {pem_line}" for pem_line in str(value).strip().splitlines())
        else:
            lines.append(f"{prefix}{field}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"
