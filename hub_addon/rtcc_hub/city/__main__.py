"""``python -m rtcc_hub.city`` / ``rtcc-city``: the city hub's command-line tool.

Exit status: 0 on success, 1 when the request or a file operation fails (the protocol error code
is printed on stderr) or a receipt does not verify, 2 for bad command-line input.

The commands for evidence (`clip`, `verify-receipt`, the receipt check of `snapshot`) live in
`cli_clips`, times and the `footage` window in `cli_times`, what all share in `cli_base`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rtcc_hub.city.broadcast import broadcast_signing
from rtcc_hub.city.cli_base import CityApi, Exit, UsageError
from rtcc_hub.city.cli_base import err as _err
from rtcc_hub.city.cli_base import out as _out
from rtcc_hub.city.cli_clips import (
    cmd_clip,
    cmd_snapshot,
    cmd_verify_receipt,
    first_camera,
)
from rtcc_hub.city.cli_times import Window, footage_from, token_window
from rtcc_hub.city.client import CityApiError, CityClient, CityClientError
from rtcc_hub.city.keys import (
    KeyFileError,
    generate_private_key,
    hub_entry,
    hub_entry_yaml,
    load_private_key,
    public_key_pem,
    write_private_key,
)
from rtcc_hub.city.receipts import ReceiptInvalid
from rtcc_hub.city.registry import RegistryError, check_home_id, enrol, load_homes
from rtcc_hub.city.relay import CityRelay
from rtcc_hub.city.tokens import Area, Incident, TokenInputError, sign_unlock_token

ACCESS_TOKEN_ENV = "RTCC_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret
RELAY_PASSWORD_ENV = "RTCC_RELAY_PASSWORD"  # noqa: S105 - the variable's name, not a secret
EXIT_OK, EXIT_FAILED, EXIT_USAGE = Exit.OK, Exit.FAILED, Exit.USAGE

__all__ = ["CityApi", "UsageError", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]
AsyncHandler = Callable[[argparse.Namespace, CityApi], Coroutine[Any, Any, int]]
RelayHandler = Callable[[argparse.Namespace, CityRelay], Coroutine[Any, Any, int]]


# -- key management ---------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    key = generate_private_key()
    write_private_key(key, args.out, force=args.force)
    _err(f"wrote private key to {args.out} (mode 0600); give the resident this public key:")
    _out(public_key_pem(key))
    return EXIT_OK


def cmd_pubkey(args: argparse.Namespace) -> int:
    _out(public_key_pem(load_private_key(args.key)))
    return EXIT_OK


def cmd_enrol(args: argparse.Namespace) -> int:
    entry = hub_entry(load_private_key(args.key), hub_id=args.id, name=args.name, kid=args.kid)
    _out("# Add-on configuration (YAML): add this item under `hubs:`")
    _out(hub_entry_yaml(entry))
    _out("# options.json (standalone): add this object to the `hubs` list")
    _out(json.dumps(entry, indent=2))
    return EXIT_OK


# -- tokens -----------------------------------------------------------------------------------


def _signing_window(args: argparse.Namespace) -> Window:
    """The token's window and its `footage`, checked once (a broadcast signs many tokens)."""
    window = token_window(args, int(time.time()))
    args.footage = footage_from(args, window)
    return window


def _token_from(
    args: argparse.Namespace,
    audience: str | None = None,
    key: Any = None,
    window: Window | None = None,
) -> str:
    window = window or _signing_window(args)
    return sign_unlock_token(
        key or load_private_key(args.key),
        issuer=args.iss,
        audience=audience or args.aud,
        incident=Incident(
            id=args.incident_id,
            offense=args.offense,
            case_number=args.case_number,
            summary=args.summary,
        ),
        area=Area(lat=args.lat, lon=args.lon, radius_m=args.radius_m),
        scope=args.scope,
        duration_s=args.duration_s,
        not_before=window.nbf,
        kid=args.kid,
        jti=getattr(args, "jti", None),
        now=window.now,
        footage=args.footage,
    )


def cmd_sign(args: argparse.Namespace) -> int:
    _out(_token_from(args))
    return EXIT_OK


# -- city API ---------------------------------------------------------------------------------


async def cmd_unlock(args: argparse.Namespace, client: CityApi) -> int:
    unlock = await client.unlock(_token_from(args))
    _out(json.dumps(unlock.raw, indent=2))
    return EXIT_OK


async def cmd_status(args: argparse.Namespace, client: CityApi) -> int:
    unlock = await client.status(args.unlock_id, args.access_token)
    _out(json.dumps(unlock.raw, indent=2))
    return EXIT_OK


async def cmd_stream(args: argparse.Namespace, client: CityApi) -> int:
    camera_id = await _camera_id(args, client, "stream")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    saved = 0
    frames = client.stream(args.unlock_id, args.access_token, camera_id)
    async with contextlib.aclosing(frames):
        async for jpeg in frames:
            saved += 1
            path = args.out_dir / f"frame-{saved:05d}.jpg"
            path.write_bytes(jpeg)
            if saved >= args.frames:
                break
    ended = "" if saved >= args.frames else " (the add-on ended the stream)"
    _out(f"saved {saved} frames from camera {camera_id} in {args.out_dir}{ended}")
    return EXIT_OK


async def cmd_close(args: argparse.Namespace, client: CityApi) -> int:
    await client.close_unlock(args.unlock_id, args.access_token)
    _out(f"closed unlock {args.unlock_id}")
    return EXIT_OK


async def _camera_id(args: argparse.Namespace, client: CityApi, capability: str) -> str:
    """The given camera id, else the unlock's first camera able to do ``capability``."""
    if args.camera_id:
        return str(args.camera_id)
    return first_camera(await client.status(args.unlock_id, args.access_token), capability)


def _city_relay(args: argparse.Namespace) -> CityRelay:
    return CityRelay(
        args.relay,
        username=args.relay_user,
        password=args.relay_password,
        ca_file=args.relay_ca,
        cert_file=args.relay_cert,
        key_file=args.relay_key,
        topic_prefix=args.topic_prefix,
        timeout_s=args.timeout,
    )


def _run_client(handler: AsyncHandler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            if args.relay:
                if not args.home:
                    raise UsageError("--relay needs --home HOME_ID")
                async with _city_relay(args) as relay:
                    return await handler(args, relay.home(check_home_id(args.home)))
            async with CityClient(args.url, cafile=args.cafile, timeout_s=args.timeout) as client:
                return await handler(args, client)

        return asyncio.run(go())

    return run


def _run_relay(handler: RelayHandler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            async with _city_relay(args) as relay:
                return await handler(args, relay)

        return asyncio.run(go())

    return run


# -- relays: homes, broadcast, enrolment --------------------------------------------------------


async def cmd_homes(args: argparse.Namespace, relay: CityRelay) -> int:
    statuses = await relay.online_homes(settle_s=args.settle)
    enrolled = [home.home_id for home in load_homes(args.homes)] if args.homes else []
    for home_id in sorted(set(statuses) | set(enrolled)):
        _out(f"{home_id} {statuses.get(home_id, 'unknown')}")
    online = sum(1 for status in statuses.values() if status == "online")
    _err(f"{online} online of {len(set(statuses) | set(enrolled))} homes")
    return EXIT_OK


async def cmd_broadcast(args: argparse.Namespace, relay: CityRelay) -> int:
    homes = load_homes(args.homes)
    if not homes:
        raise UsageError(f"no homes enrolled in {args.homes}")
    key = load_private_key(args.key)
    window = _signing_window(args)

    def sign(home_id: str) -> str:
        # Signed as its request goes out, `iat` then: a broadcast to thousands of homes can
        # last longer than the 60 s a token's `iat` may be old. The incident's window (`nbf`,
        # `exp`, `footage`) is the same in every home's token.
        now = replace(window, now=max(window.now, int(time.time())))
        return _token_from(args, audience=home_id, key=key, window=now)

    result = await broadcast_signing(relay, [home.home_id for home in homes], sign)
    report = result.report()
    _out(json.dumps(report, indent=2))
    _err(
        f"asked {report['asked']} homes: {len(report['accepted'])} accepted,"
        f" {len(report['declined'])} declined, {len(report['no_answer'])} no answer,"
        f" {len(report['refused'])} refused"
    )
    return EXIT_OK


def cmd_enrol_home(args: argparse.Namespace) -> int:
    home = enrol(args.homes, check_home_id(args.home_id), args.name or "")
    # Hex: never starts with '-' (a command line would take it for an option), 192 bits.
    password = secrets.token_hex(24)
    entry: dict[str, Any] = {
        "hub": args.hub,
        "url": args.relay,
        "username": home.home_id,
        "password": password,
    }
    if args.topic_prefix != "rtcc/v1":
        entry["topic_prefix"] = args.topic_prefix
    _err(f"enrolled home {home.home_id} in {args.homes}")
    _out("# The resident's add-on configuration (YAML): add this item under `relays:`")
    _out("relays:")
    _out("  - " + "\n    ".join(f"{k}: {json.dumps(v)}" for k, v in entry.items()))
    _out("# options.json (standalone): add this object to the `relays` list")
    _out(json.dumps(entry, indent=2))
    _out("# On the broker (Mosquitto), add the home's credentials and reload:")
    _out(f"#   mosquitto_passwd -b /etc/mosquitto/rtcc/passwd {home.home_id} '{password}'")
    return EXIT_OK


# -- argument parsing -------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _scope(text: str) -> list[str]:
    return [item.strip() for item in text.split(",")]


def _add_sign_options(parser: argparse.ArgumentParser, *, audience: bool = True) -> None:
    parser.add_argument("--key", type=Path, required=True, help="the hub's private key (PEM)")
    parser.add_argument("--iss", required=True, help="hub id, as enrolled by the resident")
    if audience:
        parser.add_argument("--aud", required=True, metavar="HOME_ID", help="the home's home_id")
    parser.add_argument("--incident-id", required=True)
    parser.add_argument("--offense", required=True)
    parser.add_argument("--case-number")
    parser.add_argument("--summary")
    parser.add_argument("--lat", type=_number, required=True, help="area centre latitude")
    parser.add_argument("--lon", type=_number, required=True, help="area centre longitude")
    parser.add_argument("--radius-m", type=_number, required=True, help="area radius, metres")
    parser.add_argument(
        "--duration-s", type=_positive_int, required=True, help="window length, seconds"
    )
    parser.add_argument(
        "--not-before", metavar="TIME", help="window start, RFC 3339 or e.g. now+5m (default: now)"
    )
    parser.add_argument(
        "--scope",
        type=_scope,
        required=True,
        help="any of snapshot, stream, clip, comma-separated (clip needs --footage-*)",
    )
    parser.add_argument(
        "--footage-start",
        metavar="TIME",
        help="with clip: start of the recorded window, RFC 3339 or relative (--footage-start=-2h)",
    )
    parser.add_argument(
        "--footage-end",
        metavar="TIME",
        help="with clip: its end (<= the unlock's expiry, at most 2 h after the start)",
    )
    parser.add_argument("--kid", help="key id for the JWS header (if enrolled with one)")
    if audience:
        parser.add_argument("--jti", help="token id (default: random)")


def _add_relay_credentials(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--relay-user", help="the city's broker username")
    parser.add_argument(
        "--relay-password",
        default=os.environ.get(RELAY_PASSWORD_ENV),
        help=f"the city's broker password (default: ${RELAY_PASSWORD_ENV})",
    )
    parser.add_argument("--relay-ca", help="CA bundle that verifies the broker (default: system)")
    parser.add_argument("--relay-cert", help="the city's client certificate (PEM)")
    parser.add_argument("--relay-key", help="the key of --relay-cert (PEM)")
    parser.add_argument("--topic-prefix", default="rtcc/v1", help="default rtcc/v1")


def _add_relay_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--relay",
        required=required,
        metavar="URL",
        help="the city broker: mqtts://host[:port] or wss://host[:port]/path",
    )
    _add_relay_credentials(parser)


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="the home's city API, e.g. https://h:8787")
    where.add_argument(
        "--relay",
        metavar="URL",
        help="reach the home over the city broker instead: mqtts://host[:port] or wss://...",
    )
    parser.add_argument("--home", metavar="HOME_ID", help="with --relay: the home to ask")
    parser.add_argument("--cafile", help="CA bundle or certificate to verify the home's TLS")
    parser.add_argument("--timeout", type=_number, default=30.0, help="seconds (default 30)")
    _add_relay_credentials(parser)


def _add_access_options(parser: argparse.ArgumentParser, *, camera: bool) -> None:
    _add_connection_options(parser)
    parser.add_argument("--unlock-id", required=True)
    parser.add_argument(
        "--access-token",
        default=os.environ.get(ACCESS_TOKEN_ENV),
        required=ACCESS_TOKEN_ENV not in os.environ,
        help=f"the unlock's access token (default: ${ACCESS_TOKEN_ENV})",
    )
    if camera:
        parser.add_argument("--camera-id", help="default: the unlock's first suitable camera")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtcc-city",
        description="City hub tool for resident-controlled camera sharing.",
        epilog=(
            "TIME is RFC 3339 with an offset (2026-11-23T12:00:00Z) or relative to now: now,"
            " now-15m, now+1h, -2h (units s, m, h, d; attach a value starting with '-' with '=',"
            " e.g. --footage-start=-2h). Exit status: 0 done, 1 failed (the request, a file,"
            " a receipt that does not verify), 2 bad command-line input."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="create the hub's Ed25519 key")
    keygen.add_argument("--out", type=Path, required=True)
    keygen.add_argument("--force", action="store_true", help="replace an existing key file")
    keygen.set_defaults(handler=cmd_keygen)

    pubkey = commands.add_parser("pubkey", help="print the hub's public key (PEM)")
    pubkey.add_argument("--key", type=Path, required=True)
    pubkey.set_defaults(handler=cmd_pubkey)

    enrol = commands.add_parser("enrol", help="print the `hubs` entry for a resident")
    enrol.add_argument("--key", type=Path, required=True)
    enrol.add_argument("--id", required=True, help="hub id (the tokens' iss)")
    enrol.add_argument("--name", required=True, help="name shown to the resident")
    enrol.add_argument("--kid", help="key id the tokens will carry")
    enrol.set_defaults(handler=cmd_enrol)

    sign = commands.add_parser("sign", help="print a signed unlock token")
    _add_sign_options(sign)
    sign.set_defaults(handler=cmd_sign)

    unlock = commands.add_parser("unlock", help="sign and send an unlock, print the answer")
    _add_connection_options(unlock)
    _add_sign_options(unlock)
    unlock.set_defaults(handler=_run_client(cmd_unlock))

    status = commands.add_parser("status", help="print an unlock's status")
    _add_access_options(status, camera=False)
    status.set_defaults(handler=_run_client(cmd_status))

    snapshot = commands.add_parser(
        "snapshot", help="save one JPEG from a camera, and its verified receipt (FILE.receipt)"
    )
    _add_access_options(snapshot, camera=True)
    snapshot.add_argument("--out", type=Path, required=True)
    _add_key_out(snapshot)
    snapshot.set_defaults(handler=_run_client(cmd_snapshot))

    stream = commands.add_parser("stream", help="save frames of a camera's live stream")
    _add_access_options(stream, camera=True)
    stream.add_argument("--frames", type=_positive_int, required=True)
    stream.add_argument("--out-dir", type=Path, required=True)
    stream.set_defaults(handler=_run_client(cmd_stream))

    close = commands.add_parser("close", help="end an unlock (hub_closed)")
    _add_access_options(close, camera=False)
    close.set_defaults(handler=_run_client(cmd_close))
    _add_evidence_commands(commands)
    _add_relay_commands(commands)
    return parser


def _add_evidence_commands(commands: Any) -> None:
    clip = commands.add_parser(
        "clip",
        help="have a recorded clip made, save it (MP4) and its verified receipt",
        description=(
            "Ask for a clip of the unlock's footage window (or --start/--end within it), follow"
            " its preparation (one line per change on stderr), download it to --out, verify the"
            " home's receipt against the bytes and save it as OUT.receipt. While the home"
            " answers 429 busy the clip is asked for again, for at most --timeout seconds."
            " no_footage and failed exit 1; so does a receipt that does not verify (the file is"
            " then kept only as OUT.unverified)."
        ),
    )
    _add_access_options(clip, camera=True)
    clip.add_argument("--start", metavar="TIME", help="part of the footage window: its start")
    clip.add_argument("--end", metavar="TIME", help="... and its end (default: the whole window)")
    clip.add_argument("--out", type=Path, required=True, help="the MP4 file to write")
    _add_key_out(clip)
    clip.add_argument(
        "--max-wait",
        type=_number,
        default=3600.0,
        help="seconds to wait for the clip to be made (default 3600)",
    )
    clip.set_defaults(handler=_run_client(cmd_clip))

    verify = commands.add_parser(
        "verify-receipt", help="check that a receipt is the home key's signature over a file"
    )
    verify.add_argument("--key", type=Path, required=True, help="the home's receipt_key (PEM)")
    verify.add_argument("--file", type=Path, required=True, help="the snapshot or clip")
    verify.add_argument(
        "--receipt", required=True, metavar="JWS", help="the receipt, or @FILE to read it from"
    )
    verify.set_defaults(handler=cmd_verify_receipt)


def _add_key_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-out", type=Path, help="also save the home's receipt_key (PEM) to this file"
    )


def _add_relay_commands(commands: Any) -> None:
    homes = commands.add_parser("homes", help="list homes and their relay status")
    _add_relay_options(homes, required=True)
    homes.add_argument("--homes", type=Path, help="also list these enrolled homes")
    homes.add_argument(
        "--settle", type=_number, default=1.0, help="seconds without news to stop (default 1)"
    )
    homes.add_argument("--timeout", type=_number, default=30.0, help="seconds (default 30)")
    homes.set_defaults(handler=_run_relay(cmd_homes))

    broadcast = commands.add_parser(
        "broadcast", help="sign one unlock per enrolled home, send all, report who accepted"
    )
    _add_relay_options(broadcast, required=True)
    _add_sign_options(broadcast, audience=False)
    broadcast.add_argument("--homes", type=Path, required=True, help="the homes file")
    broadcast.add_argument(
        "--timeout", type=_number, default=15.0, help="deadline for answers, s (default 15)"
    )
    broadcast.set_defaults(handler=_run_relay(cmd_broadcast))

    enrol_home = commands.add_parser(
        "enrol-home", help="enrol a home for relays: registry entry and its relay credentials"
    )
    enrol_home.add_argument("--homes", type=Path, required=True, help="the homes file")
    enrol_home.add_argument("--home-id", required=True, help="the home's home_id")
    enrol_home.add_argument("--hub", required=True, help="the hub id the relay serves")
    enrol_home.add_argument("--relay", required=True, metavar="URL", help="the broker URL")
    enrol_home.add_argument("--name", help="a note for the city's records")
    enrol_home.add_argument("--topic-prefix", default="rtcc/v1", help="default rtcc/v1")
    enrol_home.set_defaults(handler=cmd_enrol_home)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CityApiError as err:
        retry = f" (retry after {err.retry_after} s)" if err.retry_after else ""
        _err(f"error {err.code} (HTTP {err.status}){retry}: {err.message}")
    except TokenInputError as err:
        _err(f"invalid token input: {err}")
        return EXIT_USAGE
    except UsageError as err:
        _err(f"error: {err}")
        return EXIT_USAGE
    except ReceiptInvalid as err:
        _err(f"error: the receipt does not verify: {err}")

    except RegistryError as err:
        _err(f"error: {err}")
    except (CityClientError, KeyFileError, ValueError) as err:
        _err(f"error: {err}")
    except OSError as err:
        _err(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "))
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
