"""Checking a home's receipt (PROTOCOL.md section 7) on the city's side.

A receipt is a compact JWS (EdDSA, `typ` `rtcc-receipt+jwt`) signed with the home key, whose
public half the home gives as `receipt_key` in every `GET /api/v1/unlocks/{id}`. It holds the
SHA-256 and size of exactly the file the city received, and the audit entry (`audit_seq`,
`audit_hash`) that records the serving in the owner's log. `verify_receipt` (a body in memory)
and `verify_receipt_file` (a file, read in chunks: clips can be large) say whether a file is
what a receipt says, and why not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from rtcc_hub.receipts import ReceiptKind
from rtcc_hub.timefmt import rfc3339

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
_CHUNK = 1024 * 1024


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

    def attestations(self) -> list[tuple[str, str]]:
        """What the receipt attests, as (name, value) rows in a fixed order, times in RFC 3339."""
        c = self.claims
        rows = [
            ("home", str(c["iss"])),
            ("hub", str(c["aud"])),
            ("unlock", str(c["unlock_id"])),
            ("incident", str(c["incident_id"])),
            ("camera", str(c["camera_id"])),
            ("kind", str(c["kind"])),
            ("sha256", str(c["sha256"])),
            ("bytes", str(c["bytes"])),
            ("audit_seq", str(c["audit_seq"])),
            ("audit_hash", str(c["audit_hash"])),
            ("issued", _time(c["iat"])),
        ]
        if c["kind"] == ReceiptKind.CLIP:
            rows += [
                ("footage_start", _time(c["start"])),
                ("footage_end", _time(c["end"])),
                ("source_sha256", str(c["source_sha256"])),
            ]
        return rows


def _time(value: Any) -> str:
    return (
        rfc3339(value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def load_receipt_key(pem: str | bytes) -> Ed25519PublicKey:
    """The home's `receipt_key` (PEM, SubjectPublicKeyInfo) as a key; ReceiptInvalid if it is not
    an Ed25519 public key."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ReceiptInvalid(f"the receipt key is not a PEM public key: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReceiptInvalid("the receipt key is not an Ed25519 public key")
    return key


def check_repr_digest(header: str | None, sha256_hex: str) -> None:
    """A `Repr-Digest` header (RFC 9530), when there is one, must name the body's SHA-256."""
    if header is None:
        return
    digests: dict[str, str] = {}
    for member in header.split(","):
        name, _, member_value = member.strip().partition("=")
        digests[name.strip().lower()] = member_value.strip()
    value = digests.get("sha-256")
    if value is None:
        return  # no digest of an algorithm we know: nothing to compare
    got = _byte_sequence(value)
    if got is None:
        raise ReceiptInvalid(f"malformed Repr-Digest header: {header!r}")
    if got != sha256_hex:
        raise ReceiptInvalid(
            f"the Repr-Digest header says sha256 {got}, the body's is {sha256_hex}"
        )


def _byte_sequence(value: str) -> str | None:
    """An RFC 8941 byte sequence (`:BASE64:`) as hex, None when it is not one."""
    if len(value) < 2 or not (value.startswith(":") and value.endswith(":")):
        return None
    try:
        return base64.b64decode(value[1:-1], validate=True).hex()
    except (ValueError, binascii.Error):
        return None


def receipt_claims(key: Ed25519PublicKey, receipt: str) -> dict[str, Any]:
    """The claims of a receipt signed by `key`, checked for form; not yet against a file."""
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
        claims: dict[str, Any] = jwt.decode(
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
    if claims.get("kind") == ReceiptKind.CLIP:
        missing += [name for name in _CLIP_REQUIRED if name not in claims]
    if missing:
        raise ReceiptInvalid(f"claims missing: {', '.join(missing)}")
    if claims["kind"] not in set(ReceiptKind):
        raise ReceiptInvalid(f"kind {claims['kind']!r} is neither snapshot nor clip")
    return claims


def _matching(claims: dict[str, Any], digest: str, size: int) -> Receipt:
    if claims["sha256"] != digest:
        sizes = "" if claims["bytes"] == size else f" (it has {size} bytes, not {claims['bytes']})"
        raise ReceiptInvalid(
            f"the file's sha256 is {digest}, the receipt's {claims['sha256']}{sizes}"
        )
    if claims["bytes"] != size:
        raise ReceiptInvalid(f"the file has {size} bytes, the receipt says {claims['bytes']}")
    return Receipt(claims)


def verify_receipt(key: Ed25519PublicKey, body: bytes, receipt: str) -> Receipt:
    """The receipt's claims when `receipt` is the home key's signature over exactly `body`."""
    claims = receipt_claims(key, receipt)
    return _matching(claims, hashlib.sha256(body).hexdigest(), len(body))


def file_sha256(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_receipt_file(key: Ed25519PublicKey, path: Path, receipt: str) -> Receipt:
    """`verify_receipt` for a file, which is read in chunks, never whole into memory."""
    claims = receipt_claims(key, receipt)
    return _matching(claims, *file_sha256(path))
