"""Checking a home's receipt (PROTOCOL.md section 7) on the city's side.

A receipt is a compact JWS (EdDSA, `typ` `rtcc-receipt+jwt`) signed with the home key, whose
public half the home gives as `receipt_key` in every `GET /api/v1/unlocks/{id}`. It holds the
SHA-256 and size of exactly the file the city received, and the audit entry (`audit_seq`,
`audit_hash`) that records the serving in the owner's log. `verify_receipt` says whether a file
is what a receipt says, and why not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RECEIPT_TYPE = "rtcc-receipt+jwt"
_REQUIRED = (
    "iss",
    "aud",
    "iat",
    "unlock_id",
    "incident_id",
    "camera_id",
    "kind",
    "sha256",
    "bytes",
    "audit_seq",
    "audit_hash",
)
_CLIP_REQUIRED = ("start", "end", "source_sha256")


class ReceiptInvalid(Exception):
    """The receipt is not the home key's signature over exactly this file (the text says why)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    claims: dict[str, Any]

    @property
    def summary(self) -> str:
        c = self.claims
        what = f"{c['kind']} of camera {c['camera_id']} in unlock {c['unlock_id']}"
        window = f", footage {c['start']}..{c['end']}" if c["kind"] == "clip" else ""
        return (
            f"{what}{window}: {c['bytes']} bytes, sha256 {c['sha256']}, "
            f"audit entry {c['audit_seq']} ({c['audit_hash'][:16]}...) of home {c['iss']}"
        )


def verify_receipt(key: Ed25519PublicKey, body: bytes, receipt: str) -> Receipt:
    """The receipt's claims when `receipt` is the home key's signature over exactly `body`."""
    try:
        header = jwt.get_unverified_header(receipt)
    except jwt.PyJWTError as err:
        raise ReceiptInvalid(f"not a compact JWS: {err}") from err
    if header.get("alg") != "EdDSA":
        raise ReceiptInvalid(f"algorithm {header.get('alg')!r} is not EdDSA")
    if header.get("typ") != RECEIPT_TYPE:
        raise ReceiptInvalid(f"type {header.get('typ')!r} is not {RECEIPT_TYPE}")
    try:
        # The receipt is evidence of a past serving: its age is no reason to doubt it.
        claims = jwt.decode(
            receipt,
            key,
            algorithms=["EdDSA"],
            options={"verify_aud": False, "verify_iat": False, "verify_exp": False},
        )
    except jwt.InvalidSignatureError as err:
        raise ReceiptInvalid("the signature is not the home key's") from err
    except jwt.PyJWTError as err:
        raise ReceiptInvalid(f"cannot be read: {err}") from err
    missing = [name for name in _REQUIRED if name not in claims]
    if claims.get("kind") == "clip":
        missing += [name for name in _CLIP_REQUIRED if name not in claims]
    if missing:
        raise ReceiptInvalid(f"claims missing: {', '.join(missing)}")
    if claims["kind"] not in ("snapshot", "clip"):
        raise ReceiptInvalid(f"kind {claims['kind']!r} is neither snapshot nor clip")
    digest = hashlib.sha256(body).hexdigest()
    if claims["sha256"] != digest:
        raise ReceiptInvalid(f"the file's sha256 is {digest}, the receipt's {claims['sha256']}")
    if claims["bytes"] != len(body):
        raise ReceiptInvalid(f"the file has {len(body)} bytes, the receipt says {claims['bytes']}")
    return Receipt(claims)
