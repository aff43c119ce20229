"""The Runs page's *Open a trace file* validates a file "like `specviz import`", from one
read of it (`store.check_file`). Every hostile Parquet entry of tests/hostile.py, and a
pack of them: the page opens the file exactly when import takes its runs, and a file it
opens is one whose every run Replay can read in full (a damaged footer's run_id
statistics made readers of one run skip rows the whole-file read saw)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import hostile
import pytest

from specviz.store import import_files, read_events

with tempfile.TemporaryDirectory() as _tmp:
    VICTIM = hostile.victim_bytes(Path(_tmp))
# Files only (logs are not what the page checks this way); a link or special file is the
# page's `no such file` / open error either way, and import's.
ENTRIES = [e for e in hostile.all_entries(VICTIM) if not e.name.startswith(("log-", "binlog-", "special-log-", "pack-shadows"))]
SAMPLED = ENTRIES if os.environ.get("SPECVIZ_HOSTILE") == "all" else ENTRIES[::3]


def _opened(path: Path) -> list[str] | None:
    from viewer import data

    try:
        return data.open_file(str(path))[1]
    except data.trace_error_types() as e:
        assert "\n" not in str(e) and "Traceback" not in str(e)
        return None


@pytest.mark.timeout(600)
def test_open_a_trace_file_takes_a_hostile_file_exactly_when_import_does(tmp_path):
    assert len(ENTRIES) >= 300 and len(SAMPLED) >= 100
    disagree = []
    for i, entry in enumerate(SAMPLED):
        traces = tmp_path / f"t{i}"
        traces.mkdir()
        try:
            paths = entry.build(traces, f"{i + 16:04x}")
        except PermissionError:  # mknod of a device node needs root
            continue
        for path in (p for p in paths if p.suffix == ".parquet"):
            opened = _opened(path)
            imported = [run_id for run_id, _ in import_files(tmp_path / f"imported{i}", [path]).imported]
            if (opened or []) != imported:
                disagree.append((entry.name, opened, imported))
            for run_id in opened or []:  # what the page opened, Replay reads whole
                events = read_events(path, run_id)
                assert [e.seq for e in events] == list(range(len(events))) and events, (entry.name, run_id)
    assert not disagree, disagree


def test_damaged_rows_are_refused_by_export_import_and_the_page(tmp_path):
    """A run file whose draft_token rows lost their token_id (a damaged page reads as
    nulls): `export` wrote them out (a file import then refused), import and the page took
    them, and Replay failed on them later."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import store_sample
    from click.testing import CliRunner

    from recorder.cli import cli

    traces = tmp_path / "traces"
    rec, _ = store_sample.record(traces)
    table, meta = pq.read_table(rec.path), pq.read_metadata(rec.path).metadata
    kinds = table.column("kind").to_pylist()
    ids = [None if k == "draft_token" else v for k, v in zip(kinds, table.column("token_id").to_pylist())]
    table = table.set_column(table.column_names.index("token_id"), "token_id", pa.array(ids, table.schema.field("token_id").type))
    pq.write_table(table.replace_schema_metadata(meta), rec.path)
    r = CliRunner().invoke(cli, ["--traces", str(traces), "export", rec.run_id, "-o", str(tmp_path / "out.parquet")])
    assert r.exit_code == 1 and r.stderr == "Error: a draft_token event without its token_id (damaged rows)\n"
    assert not (tmp_path / "out.parquet").exists()
    assert _opened(rec.path) is None
    assert import_files(tmp_path / "other", [rec.path]).imported == []
