"""Receipts (PROTOCOL.md section 7) on snapshots, and the home key (section 1)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from rtcc_hub.identity import HOME_KEY_FILE, HomeKeyError, load_home_key
from tests.hub.unit.conftest import Env

# The tests' clock is years ahead of the real one: the claims are checked, not the time.
_NO_TIME = {"verify_iat": False}


async def _snapshot(env: Env) -> tuple[dict[str, object], bytes, dict[str, str]]:
    await env.put_policy()
    status, body = await env.unlock()
    assert status == 201, body
    path = f"/api/v1/unlocks/{body['unlock_id']}/cameras/{body['cameras'][0]['id']}/snapshot"
    response = await env.city_get(path, body["access_token"])
    assert response.status == 200
    return body, await response.read(), dict(response.headers)


async def test_snapshot_carries_a_digest_and_a_receipt_tied_to_its_audit_entry(env: Env) -> None:
    unlock, image, headers = await _snapshot(env)
    digest = hashlib.sha256(image).digest()
    assert headers["Repr-Digest"] == "sha-256=:" + base64.b64encode(digest).decode() + ":"
    view = await env.city_get(f"/api/v1/unlocks/{unlock['unlock_id']}", str(unlock["access_token"]))
    receipt_key = (await view.json())["receipt_key"]
    key = load_pem_public_key(receipt_key.encode())
    receipt = headers["RTCC-Receipt"]
    assert jwt.get_unverified_header(receipt) == {"alg": "EdDSA", "typ": "rtcc-receipt+jwt"}
    claims = jwt.decode(
        receipt, key, algorithms=["EdDSA"], audience="jackson-rtcc", options=_NO_TIME
    )  # type: ignore[arg-type]
    [served] = [e for e in await env.entries() if e["event"] == "snapshot_served"]
    assert claims == {
        "iss": env.hub.home_id,
        "aud": "jackson-rtcc",
        "iat": int(env.clock()),
        "unlock_id": unlock["unlock_id"],
        "incident_id": "I-1",
        "camera_id": unlock["cameras"][0]["id"],  # type: ignore[index]
        "kind": "snapshot",
        "sha256": hashlib.sha256(image).hexdigest(),
        "bytes": len(image),
        "audit_seq": served["seq"],
        "audit_hash": served["hash"],
    }
    assert served["detail"]["sha256"] == claims["sha256"]  # the owner's log holds the same


async def test_a_receipt_does_not_verify_for_other_bytes(env: Env) -> None:
    unlock, image, headers = await _snapshot(env)
    view = await env.city_get(f"/api/v1/unlocks/{unlock['unlock_id']}", str(unlock["access_token"]))
    key = load_pem_public_key((await view.json())["receipt_key"].encode())
    claims = jwt.decode(
        headers["RTCC-Receipt"],
        key,
        algorithms=["EdDSA"],
        audience="jackson-rtcc",
        options=_NO_TIME,
    )  # type: ignore[arg-type]
    assert claims["sha256"] != hashlib.sha256(image + b"x").hexdigest()
    forged = headers["RTCC-Receipt"][:-4] + (
        "AAAA" if not headers["RTCC-Receipt"].endswith("AAAA") else "BBBB"
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["EdDSA"], audience="jackson-rtcc", options=_NO_TIME)  # type: ignore[arg-type]


async def test_home_key_is_private_stable_and_never_leaves(env: Env) -> None:
    path = env.data_dir / HOME_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    private_pem = path.read_text()
    unlock, _, _ = await _snapshot(env)
    view = await (
        await env.city_get(f"/api/v1/unlocks/{unlock['unlock_id']}", str(unlock["access_token"]))
    ).json()
    _, state = await env.control("GET", "/control/v1/state")
    body = json.dumps([view, state, await env.entries()])
    secret_line = private_pem.splitlines()[1]
    assert secret_line not in body and "PRIVATE KEY" not in body
    await env.restart()
    again = await (
        await env.city_get(f"/api/v1/unlocks/{unlock['unlock_id']}", str(unlock["access_token"]))
    ).json()
    assert again["receipt_key"] == view["receipt_key"]  # the same key after a restart


def test_a_damaged_home_key_stops_start_up(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path))
    (data / HOME_KEY_FILE).write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n")
    with pytest.raises(HomeKeyError, match="cannot read the home key"):
        load_home_key(data)


async def test_the_city_library_verifies_a_receipt_and_says_why_not(env: Env) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from rtcc_hub.city.receipts import ReceiptInvalid, verify_receipt

    unlock, image, headers = await _snapshot(env)
    view = await env.city_get(f"/api/v1/unlocks/{unlock['unlock_id']}", str(unlock["access_token"]))
    key = load_pem_public_key((await view.json())["receipt_key"].encode())
    receipt = verify_receipt(key, image, headers["RTCC-Receipt"])  # type: ignore[arg-type]
    assert receipt.claims["unlock_id"] == unlock["unlock_id"]
    assert "snapshot of camera" in receipt.summary
    cases = [
        (key, image + b"\0", headers["RTCC-Receipt"], "sha256"),
        (Ed25519PrivateKey.generate().public_key(), image, headers["RTCC-Receipt"], "signature"),
        (key, image, "not.a.jws", "JWS"),
        (key, image, jwt.encode({"x": 1}, "k" * 32, algorithm="HS256"), "EdDSA"),
    ]
    for wrong_key, body, token, why in cases:
        with pytest.raises(ReceiptInvalid, match=why):
            verify_receipt(wrong_key, body, token)  # type: ignore[arg-type]
