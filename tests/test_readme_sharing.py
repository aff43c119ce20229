"""README's "Sharing traces": the snippets that read the directory with other tools read
every run, also once runs live in packs (recording compacts as it goes, so most runs of a
store in use are in `pack-*.parquet`, not in a run file of their own)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.sql import connect
from synthetic_runs import record_synthetic

ROOT = Path(__file__).resolve().parents[1]


def sharing_snippet(module: str) -> str:
    """The README line that reads the directory with `module` (e.g. `duckdb.sql(`)."""
    section = ROOT.joinpath("README.md").read_text().split("### Sharing traces", 1)[1].split("\n### ", 1)[0]
    (line,) = [line for line in section.splitlines() if line.startswith(module)]
    return re.sub(r"\s+#.*$", "", line)


@pytest.fixture
def packed_store(tmp_path, monkeypatch):
    traces = tmp_path / "traces"
    shutil.copytree(ROOT / "traces" / "examples", traces)
    assert CliRunner().invoke(cli, ["--traces", str(traces), "compact"]).exit_code == 0
    assert list(traces.glob("date=*/pack-*.parquet")) and not list(traces.glob("date=*/run-*.parquet"))
    record_synthetic(traces, rounds=3, k=2)  # and one run in a file of its own
    monkeypatch.chdir(tmp_path)  # the snippets name ./traces
    return traces


def test_duckdb_snippet_reads_packed_and_unpacked_runs(packed_store):
    got = dict(eval(sharing_snippet("duckdb.sql(")).fetchall())
    want = dict(connect(packed_store).execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
    assert got == want and want["run_started"] == 6


def test_pyarrow_snippet_reads_packed_and_unpacked_runs(packed_store):
    import pyarrow.dataset as ds  # noqa: F401  (the snippet's own import)

    frame = eval(sharing_snippet("ds.dataset("))
    assert frame["run_id"].nunique() == 6 and len(frame) == connect(packed_store).execute(
        "SELECT count(*) FROM events").fetchone()[0]
