"""RFC 3339 UTC timestamps, the only time format in JSON bodies (PROTOCOL.md, top)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(ts: float, *, millis: bool = False) -> str:
    """Format Unix seconds as RFC 3339 UTC with a `Z` suffix."""
    moment = datetime.fromtimestamp(ts, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 time with an explicit offset into Unix seconds; ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("time must carry a UTC offset")
    return moment.timestamp()
