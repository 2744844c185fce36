"""Times on the city tool's command line, and the `footage` window of a clip unlock.

A time is RFC 3339 with an offset (``2026-11-23T12:00:00Z``) or relative to now: ``now``,
``now-15m``, ``now+1h``, or just ``-15m`` (units ``s``, ``m``, ``h``, ``d``). A value that
starts with ``-`` must be attached with ``=`` (``--footage-start=-15m``): argparse would
otherwise take it for an option.

The `footage` rules of PROTOCOL.md section 2/3.1 (required with ``clip``, absent otherwise,
``start < end <= exp``, ``end - start`` at most 2 h) are checked here with the options' names,
before anything is signed; the signer checks them again for library callers.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass

from rtcc_hub.city.cli_base import UsageError
from rtcc_hub.city.tokens import MAX_FOOTAGE_S, Footage, normalise_scope, parse_rfc3339
from rtcc_hub.timefmt import rfc3339

_RELATIVE = re.compile(r"(?:now)?(?:(?P<sign>[+-])(?P<amount>\d+)(?P<unit>[smhd]))?", re.ASCII)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: float, *, option: str) -> float:
    """Unix seconds of an RFC 3339 or relative time; UsageError naming `option` otherwise."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative and value:
        if relative["sign"] is None:
            return now  # "now"
        offset = int(relative["amount"]) * _UNIT_S[relative["unit"]]
        return now + offset if relative["sign"] == "+" else now - offset
    try:
        return parse_rfc3339(value).timestamp()
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is neither an RFC 3339 time (2026-11-23T12:00:00Z)"
            " nor relative to now (now, -15m, now-2h)"
        ) from None


@dataclass(frozen=True, slots=True)
class Window:
    """A token's time window as the tool will sign it."""

    now: int
    nbf: int
    exp: int


def token_window(args: argparse.Namespace, now: int) -> Window:
    nbf = now
    if args.not_before:
        nbf = math.floor(parse_when(args.not_before, now, option="--not-before"))
    return Window(now=now, nbf=nbf, exp=nbf + args.duration_s)


def footage_from(args: argparse.Namespace, window: Window) -> Footage | None:
    """The `footage` claim the options ask for, after section 2's rules (UsageError if broken).

    The start is rounded down and the end up to whole seconds, so the window signed covers at
    least what was asked for.
    """
    start_text, end_text = args.footage_start, args.footage_end
    has_clip = "clip" in normalise_scope(args.scope)
    if not has_clip:
        if start_text is not None or end_text is not None:
            raise UsageError("--footage-start/--footage-end go only with --scope ...clip")
        return None
    if start_text is None or end_text is None:
        raise UsageError(
            "--scope clip needs the recorded window: --footage-start and --footage-end"
        )
    start = math.floor(parse_when(start_text, window.now, option="--footage-start"))
    end = math.ceil(parse_when(end_text, window.now, option="--footage-end"))
    if not start < end:
        raise UsageError(
            f"--footage-start ({rfc3339(start)}) must be before --footage-end ({rfc3339(end)})"
        )
    if end > window.exp:
        raise UsageError(
            f"--footage-end ({rfc3339(end)}) is after the unlock expires ({rfc3339(window.exp)});"
            " end the footage earlier or make --duration-s longer"
        )
    if end - start > MAX_FOOTAGE_S:
        raise UsageError(
            f"the footage window spans {end - start} s; at most {MAX_FOOTAGE_S} s (2 h) is allowed"
        )
    return Footage(start=start, end=end)


def clip_bound(text: str | None, now: float, *, option: str) -> str | None:
    """A clip request's `start`/`end` as RFC 3339 (what the body carries), or None."""
    if text is None:
        return None
    return rfc3339(parse_when(text, now, option=option))
