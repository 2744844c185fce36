"""Receipts (PROTOCOL.md section 7): what the city received, signed by the home key.

Every snapshot and clip leaves with `Repr-Digest: sha-256=:BASE64:` (RFC 9530) and
`RTCC-Receipt`, a compact JWS (EdDSA, `typ` `rtcc-receipt+jwt`) tying the body's SHA-256 to the
audit entry that records the serving. The city keeps it as evidence of where the file came
from; the owner's log holds the same entry, so either side can prove what was shared.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .audit import Entry

RECEIPT_TYPE = "rtcc-receipt+jwt"
REPR_DIGEST = "Repr-Digest"
RTCC_RECEIPT = "RTCC-Receipt"


class ReceiptKind(StrEnum):
    SNAPSHOT = "snapshot"
    CLIP = "clip"


def repr_digest(body: bytes) -> str:
    """RFC 9530 `Repr-Digest` of a whole body."""
    return repr_digest_of(hashlib.sha256(body).hexdigest())


def repr_digest_of(sha256_hex: str) -> str:
    """`Repr-Digest` from a SHA-256 already known (a clip's, computed when it was made)."""
    return "sha-256=:" + base64.b64encode(bytes.fromhex(sha256_hex)).decode() + ":"


@dataclass(frozen=True, slots=True)
class ClipWindow:
    start: int
    end: int
    source_sha256: str


class ReceiptSigner:
    """Signs receipts with the home key (one per home; nothing at module level)."""

    def __init__(self, key: Ed25519PrivateKey, home_id: str) -> None:
        self._key = key
        self._home_id = home_id

    def sign(
        self,
        *,
        hub: str,
        now: float,
        unlock_id: str,
        incident_id: str,
        camera_id: str,
        kind: ReceiptKind,
        body_sha256: str,
        size: int,
        entry: Entry,
        clip: ClipWindow | None = None,
    ) -> str:
        claims: dict[str, Any] = {
            "iss": self._home_id,
            "aud": hub,
            "iat": math.floor(now),
            "unlock_id": unlock_id,
            "incident_id": incident_id,
            "camera_id": camera_id,
            "kind": kind.value,
            "sha256": body_sha256,
            "bytes": size,
            "audit_seq": entry["seq"],
            "audit_hash": entry["hash"],
        }
        if clip is not None:
            claims.update(start=clip.start, end=clip.end, source_sha256=clip.source_sha256)
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"typ": RECEIPT_TYPE})
