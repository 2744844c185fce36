"""Hub key files: round trip, permissions, refusal to overwrite, bad files, enrolment entry."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_public_key,
)

from rtcc_hub.city.keys import (
    KeyFileError,
    hub_entry,
    hub_entry_yaml,
    load_private_key,
    load_public_key_pem,
    public_key_pem,
    write_private_key,
)
from rtcc_hub.city.keys import (
    generate_private_key as generate_ed25519,
)


def test_round_trip_keeps_the_key_and_is_private(tmp_path: Path) -> None:
    key = generate_ed25519()
    path = tmp_path / "hub.key"
    write_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(path)
    assert public_key_pem(loaded) == public_key_pem(key)
    message = b"incident"
    key.public_key().verify(loaded.sign(message), message)


def test_public_key_is_spki_pem(tmp_path: Path) -> None:
    key = generate_ed25519()
    pem = public_key_pem(key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert load_pem_public_key(pem.encode()) is not None
    assert public_key_pem(load_public_key_pem(pem)) == pem


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "hub.key"
    first = generate_ed25519()
    write_private_key(first, path)
    with pytest.raises(KeyFileError, match="already exists"):
        write_private_key(generate_ed25519(), path)
    assert public_key_pem(load_private_key(path)) == public_key_pem(first)


def test_force_replaces_and_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "hub.key"
    path.write_text("old")
    path.chmod(0o644)
    second = generate_ed25519()
    write_private_key(second, path, force=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_pem(load_private_key(path)) == public_key_pem(second)
    assert [p.name for p in tmp_path.iterdir()] == ["hub.key"]  # no temporary file left


@pytest.mark.parametrize(
    "content",
    [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
)
def test_load_rejects_garbage(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        load_private_key(path)


def test_load_rejects_other_key_types(tmp_path: Path) -> None:
    ec_key = generate_private_key(SECP256R1())
    path = tmp_path / "ec.key"
    path.write_bytes(ec_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_private_key(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "missing.key")


def test_hub_entry_and_yaml_rendering() -> None:
    key = generate_ed25519()
    entry = hub_entry(key, hub_id="jackson-rtcc", name='Jackson "RTCC": Ünit #1', kid="k1")
    assert entry == {
        "id": "jackson-rtcc",
        "name": 'Jackson "RTCC": Ünit #1',
        "public_key": public_key_pem(key),
        "kid": "k1",
    }
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(hub_entry_yaml(entry)) == [entry]
    assert json.loads(json.dumps(entry)) == entry


def test_hub_entry_without_kid_and_bad_input() -> None:
    key = generate_ed25519()
    assert "kid" not in hub_entry(key, hub_id="h", name="H")
    with pytest.raises(ValueError, match="id"):
        hub_entry(key, hub_id=" ", name="H")
    with pytest.raises(ValueError, match="kid"):
        hub_entry(key, hub_id="h", name="H", kid="")
