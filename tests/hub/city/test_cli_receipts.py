"""`verify-receipt` and the footage options of `sign`, offline through ``main(argv)``.

Receipts are signed by the add-on's own signer (tests.support.receipts); section 7 says the
command exits 0 when the receipt is the home key's signature over exactly the file, 1 saying
why otherwise. The footage rules are those of section 3.1's `footage` row, each a usage error
(exit 2) before anything is signed.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import jwt
import pytest

from rtcc_hub.city.__main__ import main
from rtcc_hub.city.keys import load_private_key
from rtcc_hub.receipts import ClipWindow, ReceiptKind
from rtcc_hub.timefmt import rfc3339
from tests.support.city import tamper_payload
from tests.support.receipts import ReceiptHome

BODY = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


@pytest.fixture
def home(tmp_path: Path) -> ReceiptHome:
    return ReceiptHome.generate("home-1")


def _files(tmp_path: Path, home: ReceiptHome, body: bytes = BODY) -> tuple[Path, Path]:
    key, file = tmp_path / "home.pem", tmp_path / "snap.jpg"
    key.write_text(home.public_pem)
    file.write_bytes(body)
    return key, file


def verify(key: Path, file: Path, receipt: str) -> int:
    return main(["verify-receipt", "--key", str(key), "--file", str(file), "--receipt", receipt])


def test_a_snapshot_receipt_verifies_and_says_what_it_attests(
    tmp_path: Path, home: ReceiptHome, capsys: pytest.CaptureFixture[str]
) -> None:
    key, file = _files(tmp_path, home)
    receipt = home.receipt(BODY, unlock_id="u_7", camera_id="c_front")
    assert verify(key, file, receipt) == 0
    said = capsys.readouterr().out
    for row in ("home: home-1", "hub: jackson-rtcc", "unlock: u_7", "camera: c_front",
                "kind: snapshot", f"sha256: {hashlib.sha256(BODY).hexdigest()}",
                f"bytes: {len(BODY)}", "audit_seq: 1", "incident: I-1"):  # fmt: skip
        assert f"  {row}\n" in said, row
    assert "footage" not in said
    # The same from a file, as `snapshot` and `clip` save it (`@FILE`, trailing newline).
    saved = tmp_path / "snap.jpg.receipt"
    saved.write_text(receipt + "\n")
    assert verify(key, file, f"@{saved}") == 0


def test_a_clip_receipt_verifies_with_its_window(
    tmp_path: Path, home: ReceiptHome, capsys: pytest.CaptureFixture[str]
) -> None:
    video = b"\x00\x00\x00\x18ftypisom" + bytes(5000)
    key, file = _files(tmp_path, home, video)
    window = ClipWindow(start=1_780_000_010, end=1_780_000_025, source_sha256="ab" * 32)
    receipt = home.receipt(video, kind=ReceiptKind.CLIP, clip=window)
    assert verify(key, file, receipt) == 0
    said = capsys.readouterr().out
    assert "  kind: clip\n" in said
    assert f"  footage_start: {rfc3339(1_780_000_010)}\n" in said
    assert f"  footage_end: {rfc3339(1_780_000_025)}\n" in said
    assert f"  source_sha256: {'ab' * 32}\n" in said


def _flipped(body: bytes) -> bytes:
    return body[:100] + bytes([body[100] ^ 0x01]) + body[101:]


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("flipped byte", "sha256"),
        ("truncated", "bytes"),
        ("another key", "signature is not the home key's"),
        ("tampered payload", "signature is not the home key's"),
        ("garbage", "not a compact JWS"),
        ("wrong typ", "type 'JWT' is not rtcc-receipt+jwt"),
        ("wrong alg", "algorithm 'HS256' is not EdDSA"),
        ("missing claims", "claims missing"),
    ],
)
def test_a_receipt_that_is_not_for_exactly_this_file_exits_1_saying_why(
    tmp_path: Path, home: ReceiptHome, capsys: pytest.CaptureFixture[str], case: str, why: str
) -> None:
    key, file = _files(tmp_path, home)
    receipt = home.receipt(BODY)
    if case == "flipped byte":
        file.write_bytes(_flipped(BODY))
    elif case == "truncated":
        file.write_bytes(BODY[:-1])
    elif case == "another key":
        key.write_text(ReceiptHome.generate("home-1").public_pem)
    elif case == "tampered payload":
        receipt = tamper_payload(receipt, sha256=hashlib.sha256(b"other").hexdigest())
    elif case == "garbage":
        receipt = "definitely not a receipt"
    elif case == "wrong typ":
        claims = jwt.decode(receipt, options={"verify_signature": False})
        receipt = jwt.encode(claims, home.private_key, algorithm="EdDSA", headers={"typ": "JWT"})
    elif case == "wrong alg":
        claims = jwt.decode(receipt, options={"verify_signature": False})
        receipt = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"typ": "rtcc-receipt+jwt"})  # fmt: skip
    elif case == "missing claims":
        receipt = jwt.encode({"iss": "home-1"}, home.private_key, algorithm="EdDSA",
                             headers={"typ": "rtcc-receipt+jwt"})  # fmt: skip
    capsys.readouterr()
    assert verify(key, file, receipt) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "receipt does not verify" in captured.err and why in captured.err


def test_unusable_inputs_exit_1(
    tmp_path: Path, home: ReceiptHome, capsys: pytest.CaptureFixture[str]
) -> None:
    key, file = _files(tmp_path, home)
    receipt = home.receipt(BODY)
    assert verify(tmp_path / "nope.pem", file, receipt) == 1
    assert "nope.pem" in capsys.readouterr().err
    assert verify(key, tmp_path / "nope.jpg", receipt) == 1
    assert "nope.jpg" in capsys.readouterr().err
    assert verify(key, file, f"@{tmp_path / 'nope.receipt'}") == 1
    assert "nope.receipt" in capsys.readouterr().err
    not_a_key = tmp_path / "bad.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert verify(not_a_key, file, receipt) == 1
    assert "receipt key" in capsys.readouterr().err


# -- footage options ----------------------------------------------------------------------------

SIGN = [
    "sign", "--iss", "jackson-rtcc", "--aud", "home-1", "--incident-id", "I-1", "--offense",
    "burglary", "--case-number", "C-9", "--lat", "32.3", "--lon", "-90.18", "--radius-m",
    "500", "--duration-s", "600",
]  # fmt: skip


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub.key"
    assert main(["keygen", "--out", str(path)]) == 0
    return path


def _claims(token: str, key_file: Path) -> dict[str, object]:
    public = load_private_key(key_file).public_key()
    return dict(
        jwt.decode(
            token, public, algorithms=["EdDSA"], audience="home-1", options={"verify_nbf": False}
        )
    )


def test_a_clip_scope_signs_its_footage_window(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main([*SIGN, "--key", str(key_file), "--scope", "snapshot,clip",
                 "--footage-start=-90m", "--footage-end", "now-30m"]) == 0  # fmt: skip
    claims = _claims(capsys.readouterr().out.strip(), key_file)
    assert claims["scope"] == ["snapshot", "clip"]
    iat = claims["iat"]
    assert isinstance(iat, int)
    assert claims["footage"] == {"start": iat - 5400, "end": iat - 1800}
    # RFC 3339, fractions widened to whole seconds; clip alone is a scope too.
    now = int(time.time())
    start, end = rfc3339(now - 600) + "", rfc3339(now - 60)
    start = start.replace("Z", ".5Z")
    assert main([*SIGN, "--key", str(key_file), "--scope", "clip", "--footage-start", start,
                 "--footage-end", end.replace("Z", "+00:00")]) == 0  # fmt: skip
    claims = _claims(capsys.readouterr().out.strip(), key_file)
    assert claims["scope"] == ["clip"]
    assert claims["footage"] == {"start": now - 600, "end": now - 60}


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--scope", "snapshot,clip"], "--scope clip needs the recorded window"),
        (["--scope", "clip", "--footage-start", "now-1h"], "needs the recorded window"),
        (["--scope", "clip", "--footage-end", "now"], "needs the recorded window"),
        (["--scope", "snapshot", "--footage-start", "now-1h", "--footage-end", "now"],
         "go only with --scope"),
        (["--scope", "clip", "--footage-start", "now", "--footage-end", "now"],
         "must be before --footage-end"),
        (["--scope", "clip", "--footage-start", "now-10m", "--footage-end", "now-20m"],
         "must be before --footage-end"),
        (["--scope", "clip", "--footage-start", "now", "--footage-end", "now+11m"],
         "after the unlock expires"),
        (["--scope", "clip", "--footage-start", "now-3h", "--footage-end", "now"],
         "at most 7200 s"),
        (["--scope", "clip", "--footage-start", "yesterday", "--footage-end", "now"],
         "--footage-start: 'yesterday' is neither an RFC 3339 time"),
        (["--scope", "clip", "--footage-start", "2026-11-23T12:00:00", "--footage-end", "now"],
         "neither an RFC 3339 time"),
        (["--scope", "clip,audio", "--footage-start", "now-1h", "--footage-end", "now"],
         "unknown scope audio"),
    ],
)  # fmt: skip
def test_each_footage_rule_is_a_usage_error(
    key_file: Path, capsys: pytest.CaptureFixture[str], extra: list[str], why: str
) -> None:
    capsys.readouterr()
    assert main([*SIGN, "--key", str(key_file), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing signed
    assert why in captured.err


def test_footage_end_may_be_the_expiry_of_a_later_window(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`end <= exp` counts from --not-before: a window starting later allows a later end."""
    capsys.readouterr()
    assert main([*SIGN, "--key", str(key_file), "--scope", "clip", "--not-before", "now+5m",
                 "--footage-start", "now", "--footage-end", "now+15m"]) == 0  # fmt: skip
    claims = _claims(capsys.readouterr().out.strip(), key_file)
    assert claims["exp"] == claims["footage"]["end"]  # type: ignore[index]


# -- the library's pieces -----------------------------------------------------------------------


def test_repr_digest_is_checked_when_it_names_sha_256() -> None:
    from rtcc_hub.city.receipts import ReceiptInvalid, check_repr_digest
    from rtcc_hub.receipts import repr_digest

    digest = hashlib.sha256(BODY).hexdigest()
    check_repr_digest(None, digest)  # no header: the receipt alone decides
    check_repr_digest(repr_digest(BODY), digest)
    check_repr_digest(f"sha-512=:AAAA:, {repr_digest(BODY)}", digest)  # RFC 9530 lists
    check_repr_digest("sha-512=:AAAA:", digest)  # nothing we can compare
    for header, why in (
        (repr_digest(b"other"), "Repr-Digest header says"),
        ("sha-256=AAAA", "malformed"),
        ("sha-256=:not base64!:", "malformed"),
    ):
        with pytest.raises(ReceiptInvalid, match=why):
            check_repr_digest(header, digest)


def test_the_receipt_key_must_be_an_ed25519_public_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from rtcc_hub.city.receipts import ReceiptInvalid, load_receipt_key

    assert load_receipt_key(ReceiptHome.generate().public_pem)
    other = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ReceiptInvalid, match="not an Ed25519 public key"):
        load_receipt_key(other)
    with pytest.raises(ReceiptInvalid, match="not a PEM public key"):
        load_receipt_key("garbage")


def test_a_busy_answer_waits_as_it_says_within_reason() -> None:
    from rtcc_hub.city.cli_clips import BUSY_RETRY_S, _retry_after
    from rtcc_hub.city.client import CityApiError

    def busy(retry_after: str | None) -> CityApiError:
        return CityApiError(429, "busy", "", retry_after=retry_after)

    assert _retry_after(busy("3")) == 3.0
    for odd in (None, "", "Wed, 21 Oct 2026 07:28:00 GMT", "0", "-5", "86400", "nan"):
        assert _retry_after(busy(odd)) == BUSY_RETRY_S, odd


def test_a_receipt_file_that_is_not_text_exits_1(
    tmp_path: Path, home: ReceiptHome, capsys: pytest.CaptureFixture[str]
) -> None:
    key, file = _files(tmp_path, home)
    binary = tmp_path / "snap.jpg.receipt"
    binary.write_bytes(b"\xff\xfe" + BODY)
    assert verify(key, file, f"@{binary}") == 1
    assert "is not a receipt" in capsys.readouterr().err
