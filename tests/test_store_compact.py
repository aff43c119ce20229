"""`specviz compact`: each day's run files packed into a few large files, with every view,
every run's events and every listing exactly as before, and safe at every moment: a
compaction killed at any point leaves each run listed once and counted once, and the
next one finishes the job. Real recordings, real Parquet files, real kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import store_sample
from click.testing import CliRunner

from recorder.cli import cli
from specviz.sql import VIEWS, connect
from specviz.store import list_runs, read_events, scan
from specviz.store import compact as compact_mod
from specviz.store.compact import compact

IDS = [f"{i:04x}0000000c0ffe" for i in range(1, 9)]
VIEW_NAMES = ["events", "runs", *VIEWS]


@pytest.fixture()
def store(tmp_path) -> Path:
    traces = tmp_path / "traces"
    store_sample.record_as(IDS, *[(traces, {"k": 1 + i % 4, "temperature": 0.1 * i}) for i in range(len(IDS))])
    return traces


def snapshot(traces: Path) -> dict:
    """Every view's rows and every run's events, order-free where SQL has no order."""
    con = connect(traces)
    views = {v: sorted(map(repr, con.execute(f"SELECT * FROM {v}").fetchall())) for v in VIEW_NAMES}
    events = {r: list(map(repr, read_events(traces, r))) for r in IDS}
    return {"views": views, "events": events, "listed": sorted(s.run_id for s in list_runs(traces))}


def files(traces: Path) -> list[str]:
    return sorted(p.name for p in traces.glob("date=*/*.parquet"))


def run_cli(traces: Path, *args: str):
    return CliRunner().invoke(cli, ["--traces", str(traces), *args])


def test_compact_keeps_every_view_and_run(store):
    before = snapshot(store)
    r = run_cli(store, "compact")
    assert r.exit_code == 0, r.output
    assert f"packed {len(IDS)} runs into 1 file(s)" in r.stdout
    names = files(store)
    assert len(names) == 1 and names[0].startswith("pack-")
    assert snapshot(store) == before
    assert scan(store).problems == []
    again = run_cli(store, "compact")
    assert again.exit_code == 0 and "nothing to compact" in again.stdout


def test_a_pack_of_many_row_groups_reads_each_run_whole(store, monkeypatch):
    before = snapshot(store)
    monkeypatch.setattr(compact_mod, "ROW_GROUP_ROWS", 20)  # a few runs per row group
    report = compact(store)
    assert len(report.packed) == len(IDS) and not report.problems
    (pack,) = store.glob("date=*/pack-*.parquet")
    assert pq.read_metadata(pack).num_row_groups >= 3
    assert snapshot(store) == before


def test_packs_split_beyond_the_row_limit(store, monkeypatch):
    before = snapshot(store)
    monkeypatch.setattr(compact_mod, "MAX_PACK_ROWS", 40)
    compact(store)
    assert len(files(store)) > 1 and all(n.startswith("pack-") for n in files(store))
    assert snapshot(store) == before


def test_runs_recorded_after_a_compact_are_packed_by_the_next(store):
    compact(store)
    more = [f"{i:04x}0000000beef0" for i in range(1, 3)]
    store_sample.record_as(more, (store, {"k": 7}), (store, {"k": 8}))
    assert len(files(store)) == 3
    report = compact(store)
    assert sorted(r for r, _ in report.packed) == more
    assert len(files(store)) == 2
    assert {s.run_id for s in list_runs(store)} == {*IDS, *more}


def _copies(store: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in store.glob("date=*/run-*.parquet")}


def test_run_files_left_beside_their_pack_are_served_once_then_removed(store):
    before = snapshot(store)
    originals = _copies(store)
    compact(store)
    for path, data in originals.items():  # as if killed after the pack was published
        path.write_bytes(data)
    assert snapshot(store) == before  # each run listed and counted once
    r = run_cli(store, "compact")
    assert r.exit_code == 0, r.output
    assert f"removed {len(IDS)} run file(s) an interrupted compact had already packed" in r.stdout
    assert len(files(store)) == 1 and snapshot(store) == before


def test_a_differing_copy_is_kept_and_reported(store):
    victim = next(store.glob(f"date=*/run-{IDS[2]}.parquet"))
    original = victim.read_bytes()
    compact(store)
    victim.write_bytes(original)
    (pack,) = store.glob("date=*/pack-*.parquet")
    # The pack's copy of one run altered, keeping the pack valid: its tokens rewritten.
    table, meta = pq.read_table(pack), pq.read_metadata(pack).metadata
    text = pa.array([("X" if r == IDS[2] and t else t) for r, t in zip(table["run_id"].to_pylist(), table["token_text"].to_pylist())])
    pq.write_table(table.set_column(table.schema.get_field_index("token_text"), "token_text", text).replace_schema_metadata(meta), pack)
    events = list(map(repr, read_events(store, IDS[2])))
    assert events == list(map(repr, read_events(victim)))  # the run file is the one served
    con = connect(store)
    assert con.execute(f"SELECT count(*) FROM events WHERE run_id = '{IDS[2]}'").fetchone()[0] == len(store_sample.body()) + 2
    assert con.execute("SELECT count(*) FROM tokens WHERE token_text = 'X'").fetchone()[0] == 0
    r = run_cli(store, "compact")
    assert r.exit_code == 1 and f"run {IDS[2]} differs from" in r.stderr
    assert victim.exists()


KILLER = """
import sys, time
from specviz.store.compact import compact
print("ready", flush=True)
t0 = time.perf_counter()
compact(sys.argv[1])
print(time.perf_counter() - t0, flush=True)
"""


def _start(work: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(work)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "SPECVIZ_CACHE_DIR": "off"})
    assert proc.stdout.readline().strip() == "ready"  # imports done: the kill lands in compact()
    return proc


def test_kill_minus_9_at_any_moment_loses_and_doubles_nothing(tmp_path):
    """Killed at moments spread over a real compaction (fractions of its measured
    duration): afterwards every run is listed once and counted once in SQL, and a second
    compaction finishes with nothing lost and no temp file left."""
    traces = tmp_path / "big"
    ids = [f"{i:04x}00000000dead" for i in range(1, 41)]
    store_sample.record_as(ids, *[(traces, {"k": 1 + i % 5}) for i in range(len(ids))])
    per_run = len(store_sample.body()) + 2
    shutil.copytree(traces, tmp_path / "timed")
    timed = _start(tmp_path / "timed")
    duration = float(timed.communicate()[0].strip())
    for fraction in (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.97, 1.0):
        work = tmp_path / f"kill-{fraction}"
        shutil.copytree(traces, work)
        proc = _start(work)
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        listed = [s.run_id for s in list_runs(work)]
        assert sorted(listed) == ids, f"killed at {fraction:.0%}: runs listed {len(listed)}"
        counts = dict(connect(work).execute("SELECT run_id, count(*) FROM events GROUP BY ALL").fetchall())
        assert counts == dict.fromkeys(ids, per_run), f"killed at {fraction:.0%}"
        r = run_cli(work, "compact")
        assert r.exit_code == 0, r.output
        assert [n for n in files(work) if n.startswith("run-")] == []
        for tmp in work.glob("date=*/.*.tmp"):  # a killed writer's temp file, once idle, goes
            os.utime(tmp, (time.time() - 3600, time.time() - 3600))
        run_cli(work, "compact")
        assert not list(work.glob("date=*/.*.tmp"))
        assert sorted(s.run_id for s in list_runs(work)) == ids
        assert dict(connect(work).execute("SELECT run_id, count(*) FROM events GROUP BY ALL").fetchall()) == dict.fromkeys(ids, per_run)


def test_a_pack_from_another_day_is_a_problem_not_a_run(store):
    compact(store)
    (pack,) = store.glob("date=*/pack-*.parquet")
    other = store / "date=1999-01-01"
    other.mkdir()
    shutil.copy(pack, other / pack.name)
    listing = scan(store)
    assert any("not started on the pack's day" in p.message for p in listing.problems)
    assert sorted(s.run_id for s in listing.runs) == IDS


def test_compact_reports_a_damaged_run_file_and_packs_the_others(store):
    victim = next(store.glob(f"date=*/run-{IDS[0]}.parquet"))
    data = bytearray(victim.read_bytes())
    # Damage a data page, not the footer: the file lists, its rows do not read.
    data[200:260] = bytes(60)
    victim.write_bytes(bytes(data))
    listed = {s.run_id for s in list_runs(store)}
    r = run_cli(store, "compact")
    assert r.exit_code in (0, 1)
    if IDS[0] in listed:  # the damage may already show in the footer check
        assert victim.exists() and r.exit_code == 1 and "not packed" in r.stderr
    assert {s.run_id for s in list_runs(store)} >= set(IDS[1:])
    assert len([n for n in files(store) if n.startswith("pack-")]) == 1


def test_compact_of_a_missing_directory_is_one_line(tmp_path):
    r = run_cli(tmp_path / "missing", "compact")
    assert r.exit_code == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.output


def test_runs_suggests_compact_for_many_run_files(store, monkeypatch):
    from recorder import store_cmds

    monkeypatch.setattr(store_cmds, "COMPACT_HINT_FILES", len(IDS))
    r = run_cli(store, "runs")
    assert r.exit_code == 0 and f"note: {len(IDS)} run files; `specviz compact`" in r.stderr
    compact(store)
    r = run_cli(store, "runs")
    assert r.exit_code == 0 and "compact" not in r.stderr and r.stdout.count("completed") == len(IDS)
