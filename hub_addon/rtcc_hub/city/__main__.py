"""``python -m rtcc_hub.city`` / ``rtcc-city``: the city hub's command-line tool.

Exit status: 0 on success, 1 when the request or a file operation fails (the protocol error code
is printed on stderr), 2 for bad command-line input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from rtcc_hub.city.client import Camera, CityApiError, CityClient, CityClientError, Unlock
from rtcc_hub.city.keys import (
    KeyFileError,
    generate_private_key,
    hub_entry,
    hub_entry_yaml,
    load_private_key,
    public_key_pem,
    write_private_key,
)
from rtcc_hub.city.tokens import Area, Incident, TokenInputError, parse_rfc3339, sign_unlock_token

ACCESS_TOKEN_ENV = "RTCC_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]
AsyncHandler = Callable[[argparse.Namespace, CityClient], Coroutine[Any, Any, int]]


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"rtcc-city: {text}\n")


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


def _token_from(args: argparse.Namespace) -> str:
    return sign_unlock_token(
        load_private_key(args.key),
        issuer=args.iss,
        audience=args.aud,
        incident=Incident(
            id=args.incident_id,
            offense=args.offense,
            case_number=args.case_number,
            summary=args.summary,
        ),
        area=Area(lat=args.lat, lon=args.lon, radius_m=args.radius_m),
        scope=args.scope,
        duration_s=args.duration_s,
        not_before=parse_rfc3339(args.not_before) if args.not_before else None,
        kid=args.kid,
        jti=args.jti,
    )


def cmd_sign(args: argparse.Namespace) -> int:
    _out(_token_from(args))
    return EXIT_OK


# -- city API ---------------------------------------------------------------------------------


async def cmd_unlock(args: argparse.Namespace, client: CityClient) -> int:
    unlock = await client.unlock(_token_from(args))
    _out(json.dumps(unlock.raw, indent=2))
    return EXIT_OK


async def cmd_status(args: argparse.Namespace, client: CityClient) -> int:
    unlock = await client.status(args.unlock_id, args.access_token)
    _out(json.dumps(unlock.raw, indent=2))
    return EXIT_OK


async def cmd_snapshot(args: argparse.Namespace, client: CityClient) -> int:
    camera_id = await _camera_id(args, client, "snapshot")
    jpeg = await client.snapshot(args.unlock_id, args.access_token, camera_id)
    args.out.write_bytes(jpeg)
    _out(f"wrote {len(jpeg)} bytes from camera {camera_id} to {args.out}")
    return EXIT_OK


async def cmd_stream(args: argparse.Namespace, client: CityClient) -> int:
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


async def cmd_close(args: argparse.Namespace, client: CityClient) -> int:
    await client.close_unlock(args.unlock_id, args.access_token)
    _out(f"closed unlock {args.unlock_id}")
    return EXIT_OK


async def _camera_id(args: argparse.Namespace, client: CityClient, capability: str) -> str:
    """The given camera id, else the unlock's first camera able to do ``capability``."""
    if args.camera_id:
        return str(args.camera_id)
    unlock: Unlock = await client.status(args.unlock_id, args.access_token)
    choices: list[Camera] = [c for c in unlock.cameras if capability in c.capabilities]
    if not choices:
        raise CityClientError(
            f"unlock {args.unlock_id} ({unlock.status}) has no camera offering {capability}"
        )
    return choices[0].id


def _run_client(handler: AsyncHandler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            async with CityClient(args.url, cafile=args.cafile, timeout_s=args.timeout) as client:
                return await handler(args, client)

        return asyncio.run(go())

    return run


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


def _add_sign_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", type=Path, required=True, help="the hub's private key (PEM)")
    parser.add_argument("--iss", required=True, help="hub id, as enrolled by the resident")
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
    parser.add_argument("--not-before", metavar="RFC3339", help="window start (default: now)")
    parser.add_argument(
        "--scope", type=_scope, required=True, help="snapshot, stream or snapshot,stream"
    )
    parser.add_argument("--kid", help="key id for the JWS header (if enrolled with one)")
    parser.add_argument("--jti", help="token id (default: random)")


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the home's city API, e.g. https://h:8787")
    parser.add_argument("--cafile", help="CA bundle or certificate to verify the home's TLS")
    parser.add_argument("--timeout", type=_number, default=30.0, help="seconds (default 30)")


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
        prog="rtcc-city", description="City hub tool for resident-controlled camera sharing."
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

    snapshot = commands.add_parser("snapshot", help="save one JPEG from a camera")
    _add_access_options(snapshot, camera=True)
    snapshot.add_argument("--out", type=Path, required=True)
    snapshot.set_defaults(handler=_run_client(cmd_snapshot))

    stream = commands.add_parser("stream", help="save frames of a camera's live stream")
    _add_access_options(stream, camera=True)
    stream.add_argument("--frames", type=_positive_int, required=True)
    stream.add_argument("--out-dir", type=Path, required=True)
    stream.set_defaults(handler=_run_client(cmd_stream))

    close = commands.add_parser("close", help="end an unlock (hub_closed)")
    _add_access_options(close, camera=False)
    close.set_defaults(handler=_run_client(cmd_close))
    return parser


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
    except (CityClientError, KeyFileError, ValueError) as err:
        _err(f"error: {err}")
    except OSError as err:
        _err(f"error: {err.strerror or err}: {err.filename or ''}".rstrip(": "))
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
