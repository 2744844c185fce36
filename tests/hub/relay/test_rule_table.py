"""The rule -> test table (tests/hub/protocol/__init__.py) names only relay tests that exist,
and every section 6 rule has a row: a renamed or deleted test cannot leave a rule untested."""

from __future__ import annotations

import re
from pathlib import Path

import tests.hub.protocol as protocol

TESTS = Path(__file__).resolve().parents[2]


def _references(cell: str) -> list[tuple[str, str]]:
    found, module = [], None
    for raw in re.split(r"[,;]\s*", cell):
        item = raw.strip().split("[")[0].split(" (")[0].strip()
        if "::" in item:
            module, name = item.split("::", 1)
        elif module is not None and re.fullmatch(r"test_\w+", item):
            name = item
        else:
            continue
        found.append((module, name))
    return found


def test_relay_rows_name_existing_tests() -> None:
    doc = protocol.__doc__ or ""
    rows = [line for line in doc.splitlines() if line.startswith("| 6 ") or "relay/" in line]
    assert len(rows) >= 25
    for row in rows:
        cell = row.rstrip(" |").rsplit(" | ", 1)[1]
        references = [
            (m, n) for m, n in _references(cell) if m.startswith(("relay/", "city/", "packaging/"))
        ]
        assert references, row
        for module, name in references:
            path = TESTS / ("hub/" + module if not module.startswith("packaging/") else module)
            source = path.with_suffix(".py").read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{module}::{name}"
