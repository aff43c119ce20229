"""Bad files beside good ones, newer schemas, export and import with duplicates."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import store_sample

from specviz.sql import open_views
from specviz.store import TraceError, export_runs, import_files, inspect_file, list_runs, read_events, scan


@pytest.fixture
def two_runs(tmp_path):
    traces = tmp_path / "traces"
    a, _ = store_sample.record(traces, k=2)
    b, _ = store_sample.record(traces, k=4)
    return traces, a, b


def _sibling(path, name):
    return path.with_name(f"run-{name}.parquet")


def _rewrite_metadata(src, dst, **kv):
    table = pq.read_table(src)
    meta = {**table.schema.metadata, **{k.encode(): v.encode() for k, v in kv.items()}}
    pq.write_table(table.replace_schema_metadata(meta), dst)


def test_bad_files_never_hide_good_runs(two_runs):
    traces, a, b = two_runs
    data = a.path.read_bytes()
    _sibling(a.path, "dead0001").write_bytes(data[: len(data) // 2])  # truncated
    _sibling(a.path, "dead0002").write_bytes(b"not parquet at all")  # corrupt
    pq.write_table(pa.table({"x": [1, 2]}), _sibling(a.path, "dead0003"))  # someone else's Parquet
    _rewrite_metadata(a.path, _sibling(a.path, "dead0004"), **{"specviz.schema_version": "2.0"})
    listing = scan(traces)
    assert {r.run_id for r in listing.runs} == {a.run_id, b.run_id}
    messages = sorted(str(p) for p in listing.problems)
    assert len(messages) == 4
    assert any("corrupt or truncated" in m and "dead0001" in m for m in messages)
    assert any("corrupt or truncated" in m and "dead0002" in m for m in messages)
    assert any("not a specviz trace" in m and "dead0003" in m for m in messages)
    assert any("schema 2.0" in m and "upgrade specviz" in m for m in messages)
    opened = open_views(traces)
    assert sorted(opened.con.execute("SELECT k FROM runs").fetchall()) == [(2,), (4,)]
    assert len(opened.problems) == 4


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "corrupt or truncated"),
        (lambda p: p.write_bytes(b"PAR1" + b"\0" * 64), "corrupt or truncated"),
        (lambda p: pq.write_table(pa.table({"kind": ["x"]}), p), "not a specviz trace"),
        (lambda p: _rewrite_metadata(p, p, **{"specviz.schema_version": "3.1"}), "schema 3.1"),
    ],
)
def test_single_file_errors_are_one_line(tmp_path, damage, message):
    rec, _ = store_sample.record(tmp_path / "t")
    bad = tmp_path / "bad.parquet"
    shutil.copy(rec.path, bad)
    damage(bad)
    with pytest.raises(TraceError, match=message) as err:
        read_events(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_newer_minor_schema_is_read(tmp_path):
    rec, logged = store_sample.record(tmp_path / "t")
    newer = tmp_path / "newer.parquet"
    _rewrite_metadata(rec.path, newer, **{"specviz.schema_version": "1.9"})
    assert read_events(newer) == logged


def test_unknown_and_ambiguous_ids(tmp_path, monkeypatch):
    ids = iter(["abc1000000000000", "abc2000000000000"])
    monkeypatch.setattr("specviz.recording.new_run_id", lambda: next(ids))
    store_sample.record(tmp_path, k=2)
    store_sample.record(tmp_path, k=4)
    with pytest.raises(TraceError, match="no run 'zzzz'"):
        read_events(tmp_path, "zzzz")
    with pytest.raises(TraceError, match="'abc' is ambiguous: abc2000000000000, abc1000000000000"):
        read_events(tmp_path, "abc")
    assert read_events(tmp_path, "ABC1")[0].k == 2
    with pytest.raises(TraceError, match="empty run id"):
        read_events(tmp_path, " ")


def test_export_several_runs_then_import_elsewhere(two_runs, tmp_path):
    traces, a, b = two_runs
    out = export_runs(traces, [a.run_id[:8], b.run_id[:8]], tmp_path / "share.parquet")
    tf = inspect_file(out)
    assert sorted(tf.run_ids) == sorted([a.run_id, b.run_id]) and tf.num_rows == 2 * 14
    with pytest.raises(TraceError, match="holds 2 runs"):
        read_events(out)
    assert read_events(out, b.run_id[:6])[0].k == 4
    other = tmp_path / "other"
    report = import_files(other, [out])
    assert sorted(r for r, _ in report.imported) == sorted([a.run_id, b.run_id]) and not report.problems
    assert read_events(other, a.run_id) == read_events(traces, a.run_id)
    assert {r.run_id: r.status for r in list_runs(other)} == {a.run_id: "completed", b.run_id: "completed"}
    again = import_files(other, [out])
    assert again.imported == [] and len(again.problems) == 2
    assert all("already in" in p.message and "not imported" in p.message for p in again.problems)
    assert len(list(other.rglob("*.parquet"))) == 2


def test_import_keeps_going_past_bad_files(two_runs, tmp_path):
    traces, a, _ = two_runs
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"garbage")
    report = import_files(tmp_path / "dest", [bad, a.path, tmp_path / "missing.parquet"])
    assert [r for r, _ in report.imported] == [a.run_id]
    assert [p.path.name for p in report.problems] == ["bad.parquet", "missing.parquet"]


def test_export_refuses_live_runs_and_bad_destinations(two_runs, tmp_path):
    from specviz.recording import open_run

    traces, a, _ = two_runs
    live = open_run(traces, store_sample.started())
    with pytest.raises(TraceError, match="still recording"):
        export_runs(traces, [live.run_id], tmp_path / "x.parquet")
    with pytest.raises(TraceError, match="not writable|missing"):
        export_runs(traces, [a.run_id], tmp_path / "no" / "such" / "dir.parquet")
    with pytest.raises(TraceError, match="directory"):
        export_runs(traces, [a.run_id], tmp_path)
    live.finish(store_sample.finished())
