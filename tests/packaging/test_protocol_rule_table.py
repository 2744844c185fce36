"""The PROTOCOL rule -> test table (tests/hub/protocol/__init__.py): every test a row cites
exists, so a renamed or deleted test cannot leave a rule silently untested.

A citation is `module::test` or, after one, a bare `test` of the same module. `module` is
relative to tests/hub (`test_unlock` alone is tests/hub/protocol/test_unlock.py, `clips/...` is
tests/hub/clips/...), except `integration/...`, `packaging/...` and `e2e/...`, which are relative
to tests/. Parametrised ids (`[a, b]`) are only for parametrised tests and are checked to occur
in the module's source unless they hold a `*`; a parenthesised remark after a citation is not
part of it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TABLE = TESTS / "hub" / "protocol" / "__init__.py"
OUTSIDE_HUB = ("integration/", "packaging/", "e2e/")
CITATION = re.compile(r"(?:(?P<module>[\w/]+)::)?(?P<name>test_\w+)(?:\[(?P<ids>[^\]]*)\])?")


@dataclass(frozen=True)
class Citation:
    row: str
    module: str
    name: str
    ids: tuple[str, ...]


def _rows() -> list[tuple[str, str]]:
    """(rule, test cell) of every row below the table's header."""
    doc = ast.get_docstring(ast.parse(TABLE.read_text(encoding="utf-8"))) or ""
    rows = []
    for line in doc.splitlines():
        if not line.startswith("| ") or line.startswith(("| PROTOCOL rule", "| ---")):
            continue
        rule, _, cell = line.strip().strip("|").rpartition(" | ")
        rows.append((rule.strip(), cell.strip()))
    return rows


def _split_top_level(cell: str) -> list[str]:
    """Items separated by `,` or `;` outside brackets and parentheses."""
    items, depth, current = [], 0, ""
    for char in cell:
        depth += char in "[("
        depth -= char in "])"
        if char in ",;" and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    items.append(current.strip())
    return [item for item in items if item]


def _citations() -> list[Citation]:
    citations = []
    for rule, cell in _rows():
        module: str | None = None
        for item in _split_top_level(cell):
            found = CITATION.match(item)
            if found is None:
                continue  # a remark such as "conftest Recorder (every test)"
            module = found["module"] or module
            assert module is not None, f"{found['name']} cited without a module in: {rule}"
            ids = tuple(i.strip() for i in (found["ids"] or "").split(",") if i.strip())
            citations.append(Citation(rule, module, found["name"], ids))
    return citations


def _path(module: str) -> Path:
    if module.startswith(OUTSIDE_HUB):
        return TESTS / f"{module}.py"
    if "/" not in module:
        return TESTS / "hub" / "protocol" / f"{module}.py"
    return TESTS / "hub" / f"{module}.py"


@cache
def _tests(path: Path) -> dict[str, bool]:
    """Every test function of a module, and whether it is parametrised."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: any("parametrize" in ast.unparse(d) for d in node.decorator_list)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_the_table_covers_every_section() -> None:
    sections = {rule.split()[0].split(".")[0] for rule, _ in _rows()}
    assert sections >= {"1", "2", "3", "4", "5", "6", "7"}, sections


def test_every_row_cites_a_test() -> None:
    cited_rows = {citation.row for citation in _citations()}
    for rule, cell in _rows():
        assert rule in cited_rows, f"a rule without its test: {rule} | {cell}"


def test_every_cited_test_exists() -> None:
    citations = _citations()
    assert len(citations) >= 300
    for citation in citations:
        path = _path(citation.module)
        where = f"{citation.module}::{citation.name} (row: {citation.row})"
        assert path.is_file(), f"no module {path.relative_to(TESTS)} for {where}"
        assert citation.name in _tests(path), f"no test {where}"
        if citation.ids:
            assert _tests(path)[citation.name], f"parameter ids cited for {where}, not parametrised"
        source = path.read_text(encoding="utf-8")
        for test_id in citation.ids:
            if "*" not in test_id:
                assert test_id in source, f"no parameter id {test_id!r} in {where}"


def test_the_parser_reads_the_forms_the_table_uses() -> None:
    items = _split_top_level("a::test_x[p, q] (a remark, with commas), test_y; b/c::test_z[*]")
    assert items == ["a::test_x[p, q] (a remark, with commas)", "test_y", "b/c::test_z[*]"]
    assert _path("test_unlock") == TESTS / "hub" / "protocol" / "test_unlock.py"
    assert _path("clips/test_clip_api") == TESTS / "hub" / "clips" / "test_clip_api.py"
    assert _path("integration/test_api") == TESTS / "integration" / "test_api.py"
