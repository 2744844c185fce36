"""The city tool's evidence commands: `clip`, `verify-receipt`, and the receipt check that
`snapshot` and `clip` share (PROTOCOL.md section 7).

What the home sends is written first under ``FILE.unverified``; only once its receipt is the
home key's signature over exactly those bytes, naming what was asked for (kind, unlock, camera,
a clip's window), is it renamed to ``FILE``, beside ``FILE.receipt`` (the JWS). A file whose
receipt does not verify is kept as ``FILE.unverified`` (with ``FILE.unverified.receipt`` when a
receipt came) and the command fails: the serving is already in the owner's log and a snapshot
cannot be fetched again, so the bytes are what anyone needs to find out what went wrong, but
they never sit under the name the caller will treat as evidence.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtcc_hub.city.cli_base import CityApi, Exit, err, out
from rtcc_hub.city.cli_times import clip_bound
from rtcc_hub.city.client import CityApiError, CityClientError, Clip, ClipStatus, Unlock
from rtcc_hub.city.keys import KeyFileError
from rtcc_hub.city.receipts import (
    Receipt,
    ReceiptInvalid,
    check_repr_digest,
    file_sha256,
    load_receipt_key,
    verify_receipt_file,
)
from rtcc_hub.errors import ErrorCode
from rtcc_hub.receipts import ReceiptKind
from rtcc_hub.timefmt import parse_rfc3339, rfc3339

UNVERIFIED_SUFFIX = ".unverified"
RECEIPT_SUFFIX = ".receipt"
BUSY_RETRY_S = 2.0  # when a `429 busy` names no Retry-After
POLL_S = 0.5


class ClipUnavailable(CityClientError):
    """The clip finished without a video (`no_footage`, `failed`)."""


def receipt_path(path: Path) -> Path:
    return path.with_name(path.name + RECEIPT_SUFFIX)


def unverified_path(path: Path) -> Path:
    return path.with_name(path.name + UNVERIFIED_SUFFIX)


def print_attestations(receipt: Receipt) -> None:
    for name, value in receipt.attestations():
        out(f"  {name}: {value}")


@dataclass(frozen=True, slots=True)
class Expected:
    """What the receipt must say besides the file's digest: what was asked for, of whom."""

    kind: ReceiptKind
    unlock_id: str
    camera_id: str
    window: tuple[str, str] | None = None  # a clip's start and end (RFC 3339, from its status)

    def check(self, claims: dict[str, Any]) -> None:
        for name, want in (
            ("kind", self.kind.value),
            ("unlock_id", self.unlock_id),
            ("camera_id", self.camera_id),
        ):
            if claims[name] != want:
                raise ReceiptInvalid(f"the receipt's {name} is {claims[name]!r}, not {want!r}")
        if self.window is not None:
            for name, text in zip(("start", "end"), self.window, strict=True):
                # Whole seconds on both sides: the claim is Unix seconds, the status RFC 3339.
                if int(claims[name]) != int(parse_rfc3339(text)):
                    raise ReceiptInvalid(
                        f"the receipt's footage {name} is {rfc3339(claims[name])}, not {text}"
                    )


def keep_verified(
    received: Path,
    out_path: Path,
    *,
    expected: Expected,
    receipt_key: str | None,
    receipt: str | None,
    repr_digest: str | None,
) -> Receipt:
    """Verify the file at `received` (``out_path.unverified``) against its receipt and what was
    asked for; rename it to `out_path` and write ``out_path.receipt`` when it verifies, keep it
    (and its receipt) under the unverified name and raise ReceiptInvalid when not."""
    try:
        checked = _verify(received, receipt_key, receipt, repr_digest)
        expected.check(checked.receipt.claims)
    except ReceiptInvalid as why:
        if receipt is not None:
            receipt_path(received).write_text(receipt + "\n", encoding="ascii")
        raise ReceiptInvalid(f"{why}; the file is kept as {received}") from None
    receipt_path(out_path).write_text(checked.jws + "\n", encoding="ascii")
    received.replace(out_path)
    receipt_path(received).unlink(missing_ok=True)  # from an earlier, failed attempt
    return checked.receipt


@dataclass(frozen=True, slots=True)
class _Checked:
    receipt: Receipt
    jws: str


def _verify(
    received: Path, receipt_key: str | None, receipt: str | None, repr_digest: str | None
) -> _Checked:
    if receipt is None:
        raise ReceiptInvalid("the home sent no receipt")
    if receipt_key is None:
        raise ReceiptInvalid("the unlock's status gave no receipt_key to verify it with")
    if repr_digest is not None:
        check_repr_digest(repr_digest, file_sha256(received)[0])
    return _Checked(verify_receipt_file(load_receipt_key(receipt_key), received, receipt), receipt)


def write_key(path: Path | None, receipt_key: str | None) -> None:
    if path is None:
        return
    if receipt_key is None:
        raise ReceiptInvalid("the unlock's status gave no receipt_key to write")
    path.write_text(receipt_key if receipt_key.endswith("\n") else receipt_key + "\n", "ascii")


def first_camera(unlock: Unlock, capability: str) -> str:
    choices = [camera for camera in unlock.cameras if capability in camera.capabilities]
    if not choices:
        raise CityClientError(
            f"unlock {unlock.unlock_id} ({unlock.status}) has no camera offering {capability}"
        )
    return choices[0].id


# -- snapshot ---------------------------------------------------------------------------------


async def cmd_snapshot(args: argparse.Namespace, client: CityApi) -> int:
    unlock = await client.status(args.unlock_id, args.access_token)
    camera_id = args.camera_id or first_camera(unlock, "snapshot")
    got = await client.snapshot_received(args.unlock_id, args.access_token, camera_id)
    received = unverified_path(args.out)
    received.write_bytes(got.body)
    write_key(args.key_out, unlock.receipt_key)
    receipt = keep_verified(
        received,
        args.out,
        expected=Expected(ReceiptKind.SNAPSHOT, args.unlock_id, camera_id),
        receipt_key=unlock.receipt_key,
        receipt=got.receipt,
        repr_digest=got.repr_digest,
    )
    out(f"wrote {len(got.body)} bytes from camera {camera_id} to {args.out}")
    out(f"receipt verified, saved to {receipt_path(args.out)}; it attests:")
    print_attestations(receipt)
    return Exit.OK


# -- clip -------------------------------------------------------------------------------------


def _retry_after(error: CityApiError) -> float:
    try:
        seconds = float(error.retry_after) if error.retry_after else BUSY_RETRY_S
    except ValueError:
        seconds = BUSY_RETRY_S  # an HTTP-date, or nonsense: a short wait
    return seconds if 0 < seconds < 3600 else BUSY_RETRY_S


async def _request_clip(
    args: argparse.Namespace, client: CityApi, camera_id: str, start: str | None, end: str | None
) -> Clip:
    """Ask for the clip; while the home answers `429 busy`, wait as it says and ask again,
    for at most --timeout seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.timeout
    while True:
        try:
            return await client.request_clip(
                args.unlock_id, args.access_token, camera_id, start=start, end=end
            )
        except CityApiError as error:
            if error.code != ErrorCode.BUSY:
                raise
            wait = _retry_after(error)
            if loop.time() + wait > deadline:
                raise
            err(f"busy: the home is preparing other clips; asking again in {wait:g} s")
            await asyncio.sleep(wait)


async def _follow(args: argparse.Namespace, client: CityApi, clip: Clip) -> Clip:
    """Poll the clip until it is made, one stderr line per change (`preparing 35 %`, `ready`);
    at most --max-wait seconds."""
    shown: str | None = None
    try:
        async with asyncio.timeout(args.max_wait):
            while True:
                line = clip.status
                if clip.status == ClipStatus.PREPARING:
                    line += f" {max(0, min(100, int(clip.progress * 100)))} %"
                if line != shown:
                    err(line)
                    shown = line
                if clip.finished:
                    return clip
                await asyncio.sleep(POLL_S)
                clip = await client.clip(args.unlock_id, args.access_token, clip.clip_id)
    except TimeoutError:
        raise CityClientError(
            f"clip {clip.clip_id} still preparing after {args.max_wait:g} s (--max-wait)"
        ) from None


async def cmd_clip(args: argparse.Namespace, client: CityApi) -> int:
    now = time.time()
    start = clip_bound(args.start, now, option="--start")
    end = clip_bound(args.end, now, option="--end")
    unlock = await client.status(args.unlock_id, args.access_token)
    camera_id = args.camera_id or first_camera(unlock, "clip")
    asked = await _request_clip(args, client, camera_id, start, end)
    err(f"clip {asked.clip_id} of camera {camera_id}, footage {asked.start} .. {asked.end}")
    clip = await _follow(args, client, asked)
    if clip.status == ClipStatus.NO_FOOTAGE:
        raise ClipUnavailable(f"clip {clip.clip_id}: no_footage (nothing recorded in the window)")
    if clip.status != ClipStatus.READY:
        raise ClipUnavailable(
            f"clip {clip.clip_id}: {clip.status} (the recorder could not be read)"
        )
    received = unverified_path(args.out)
    try:
        download = await client.clip_video(
            args.unlock_id, args.access_token, clip.clip_id, received
        )
    finally:
        with contextlib.suppress(OSError):
            received.with_name(received.name + ".part").unlink(missing_ok=True)
    write_key(args.key_out, unlock.receipt_key)
    receipt = keep_verified(
        received,
        args.out,
        expected=Expected(ReceiptKind.CLIP, args.unlock_id, camera_id, (clip.start, clip.end)),
        receipt_key=unlock.receipt_key,
        # The download's own header; the status's receipt is the same one (one per clip).
        receipt=download.receipt or clip.receipt,
        repr_digest=download.repr_digest,
    )
    out(
        f"wrote {download.bytes} bytes of clip {clip.clip_id} from camera {camera_id} to {args.out}"
    )
    out(f"receipt verified, saved to {receipt_path(args.out)}; it attests:")
    print_attestations(receipt)
    return Exit.OK


# -- verify-receipt ---------------------------------------------------------------------------


def _receipt_text(value: str) -> str:
    """`--receipt JWS`, or `--receipt @FILE` for one saved by `snapshot`/`clip`."""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="ascii")
        except UnicodeDecodeError:
            raise ReceiptInvalid(f"{path} is not a receipt (not ASCII text)") from None
        return text.strip()
    return value.strip()


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    try:
        pem = args.key.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read {args.key}: {error.strerror or error}") from None
    if not args.file.is_file():
        # Section 7: 1 for anything but a receipt over exactly this file, a missing file too.
        err(f"receipt does not verify: there is no file {args.file}")
        return Exit.FAILED
    try:
        receipt = verify_receipt_file(load_receipt_key(pem), args.file, _receipt_text(args.receipt))
    except ReceiptInvalid as why:
        err(f"receipt does not verify: {why}")
        return Exit.FAILED
    kind = receipt.claims["kind"]
    out(f"receipt verified: {args.file} is the {kind} the home served; it attests:")
    print_attestations(receipt)
    return Exit.OK
