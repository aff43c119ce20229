"""The README's column tables and the SQL views cannot drift apart.

Each `##### \\`view\\`` section's table is parsed (a row may name several columns,
comma-separated, and give one type for all or one per column) and compared with what
DuckDB's DESCRIBE says of that view over the example traces.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from specviz.sql import connect

ROOT = Path(__file__).resolve().parents[1]
HEADING = re.compile(r"^##### `(\w+)`")


def readme_tables() -> dict[str, list[tuple[str, str]]]:
    tables: dict[str, list[tuple[str, str]]] = {}
    view = None
    for line in (ROOT / "README.md").read_text().splitlines():
        if m := HEADING.match(line):
            view = m.group(1)
            continue
        if view is None or not line.startswith("| ") or line.startswith(("| column", "| ---")):
            if view in tables and not line.startswith("|"):
                view = None if line.startswith("#") else view
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = [n.strip() for n in cells[0].split(",")]
        types = [t.strip() for t in re.split(r",\s*(?![^()]*\))", cells[1])] if cells[1] else []
        if len(types) == 1:
            types = types * len(names)
        for i, name in enumerate(names):
            tables.setdefault(view, []).append((name, types[i] if types else ""))
    return tables


def _norm(sql_type: str) -> str:
    return sql_type.replace('"', "").replace(" ", "").upper()


@pytest.fixture(scope="module")
def described():
    con = connect(ROOT / "traces" / "examples")
    return lambda view: [(r[0], r[1]) for r in con.execute(f"DESCRIBE {view}").fetchall()]


def test_every_documented_view_is_parsed():
    assert set(readme_tables()) >= {"runs", "drafts", "verifications", "rounds", "tokens", "errors"}


@pytest.mark.parametrize("view", sorted(readme_tables()))
def test_readme_table_lists_the_views_columns(view, described):
    documented = readme_tables()[view]
    actual = described(view)
    assert sorted({n for n, _ in documented}) == sorted({n for n, _ in actual}), (
        f"README table for `{view}` and the view disagree: "
        f"undocumented {sorted({n for n, _ in actual} - {n for n, _ in documented})}, "
        f"documented but absent {sorted({n for n, _ in documented} - {n for n, _ in actual})}")
    types = dict(actual)
    for name, doc_type in documented:
        # A row may abbreviate a struct type (`STRUCT(id, text, logprob)[]`) or leave it blank.
        if doc_type and "(" not in doc_type.replace("MAP(", ""):
            assert _norm(doc_type) == _norm(types[name]), f"{view}.{name}: README says {doc_type}, view has {types[name]}"
