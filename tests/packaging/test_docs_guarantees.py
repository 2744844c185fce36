"""DOCS.md "What the app guarantees": every test a row names exists (file and function)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "hub_addon" / "DOCS.md"


def _section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## What the app guarantees")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _references(section: str) -> list[tuple[str, str | None]]:
    """(file under tests/hub, test name or None) for each `file.py[::name]` cited; a bare
    `::name` refers to the file cited before it."""
    references: list[tuple[str, str | None]] = []
    current = ""
    for cited in re.findall(r"`([^`]*(?:\.py|::)[^`]*)`", section):
        path, _, name = cited.partition("::")
        if path:
            current = path
        references.append((current, name or None))
    return references


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_cited_test_exists() -> None:
    references = _references(_section())
    assert len(references) >= 5
    for file, name in references:
        path = REPO / "tests" / "hub" / file
        assert path.is_file(), f"DOCS.md cites {file}, which does not exist"
        if name is not None:
            assert name in _test_names(path), f"DOCS.md cites {file}::{name}, which does not exist"


def test_every_row_cites_a_test() -> None:
    rows = [line for line in _section().splitlines() if line.startswith("| ") and "---" not in line]
    for row in rows[1:]:  # after the header
        assert ".py" in row.rsplit("|", 2)[-2], f"a guarantee without its test: {row}"
