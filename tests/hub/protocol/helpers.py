"""Small assertion helpers shared by the protocol tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.hub.protocol.conftest import Resp

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def parse_time(value: str) -> float:
    assert isinstance(value, str), value
    assert RFC3339_UTC.match(value), f"not an RFC 3339 UTC time: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_error(resp: Resp, status: int, code: str | None) -> dict[str, Any]:
    """`status` with a JSON body {"error": code, "message": str} (code None: any string)."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("message"), str), body
    if code is not None:
        assert body["error"] == code, body
    return body


def assert_no_store(resp: Resp, what: str = "") -> None:
    cc = resp.headers.get("Cache-Control", "")
    assert "no-store" in [p.strip().lower() for p in cc.split(",")], (
        f"{what}: Cache-Control is {cc!r}"
    )


def find(entries: list[dict[str, Any]], event: str, **match: Any) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if e.get("event") != event:
            continue
        detail = e.get("detail") or {}
        if all((e[k] if k in e else detail.get(k)) == v for k, v in match.items()):
            out.append(e)
    return out
