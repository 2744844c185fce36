"""A test home's receipts (PROTOCOL.md section 7), signed the add-on's way, for city-side tests.

    home = ReceiptHome.generate("home-1")
    home.public_pem                                     # what GET /unlocks/{id} gives as receipt_key
    jws = home.receipt(body, unlock_id="u_1", camera_id="c_1")            # a snapshot's
    jws = home.receipt(body, kind=ReceiptKind.CLIP, clip=ClipWindow(...))  # a clip's
    home.headers(body, ...)                             # {"Repr-Digest": ..., "RTCC-Receipt": ...}

Signing goes through the add-on's own `rtcc_hub.receipts.ReceiptSigner`, so what the city
tool is tested against is what homes send.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from rtcc_hub.receipts import (
    REPR_DIGEST,
    RTCC_RECEIPT,
    ClipWindow,
    ReceiptKind,
    ReceiptSigner,
    repr_digest,
)


@dataclass
class ReceiptHome:
    home_id: str
    private_key: ed25519.Ed25519PrivateKey = field(repr=False)
    seq: int = 0

    @classmethod
    def generate(cls, home_id: str = "home-1") -> ReceiptHome:
        return cls(home_id, ed25519.Ed25519PrivateKey.generate())

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def receipt(
        self,
        body: bytes,
        *,
        kind: ReceiptKind = ReceiptKind.SNAPSHOT,
        hub: str = "jackson-rtcc",
        unlock_id: str = "u_1",
        incident_id: str = "I-1",
        camera_id: str = "c_1",
        clip: ClipWindow | None = None,
    ) -> str:
        """A receipt for `body`, recorded by the next audit entry (a made-up hash)."""
        self.seq += 1
        entry: dict[str, Any] = {
            "seq": self.seq,
            "hash": hashlib.sha256(b"%d" % self.seq).hexdigest(),
        }
        return ReceiptSigner(self.private_key, self.home_id).sign(
            hub=hub,
            now=time.time(),
            unlock_id=unlock_id,
            incident_id=incident_id,
            camera_id=camera_id,
            kind=kind,
            body_sha256=hashlib.sha256(body).hexdigest(),
            size=len(body),
            entry=entry,
            clip=clip,
        )

    def headers(self, body: bytes, **receipt: Any) -> dict[str, str]:
        return {REPR_DIGEST: repr_digest(body), RTCC_RECEIPT: self.receipt(body, **receipt)}
