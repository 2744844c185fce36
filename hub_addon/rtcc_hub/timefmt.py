"""RFC 3339 UTC timestamps, the only time format in JSON bodies (PROTOCOL.md, top)."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def rfc3339(ts: float, *, millis: bool = False) -> str:
    """Format Unix seconds as RFC 3339 UTC with a `Z` suffix."""
    moment = datetime.fromtimestamp(ts, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# RFC 3339 section 5.6 date-time: full date, "T", full time, fractions optional, and an offset.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 time with an explicit offset into Unix seconds; ValueError otherwise
    (also for a time whose offset moves it out of the years 1..9999 in UTC)."""
    if not _DATE_TIME.fullmatch(text):
        raise ValueError("not an RFC 3339 date-time with an offset")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # datetime keeps microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6], 1)
    moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError) as err:
        raise ValueError("time out of range") from err
    return utc.timestamp()
