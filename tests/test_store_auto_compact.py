"""Recording compacts as it goes: once a day holds enough small run files beyond its
newest ones, the run that finishes packs the older ones (Delta Lake's auto compaction),
one process at a time, without losing, doubling or blocking anything. Real recordings
through the Recording API, real Parquet files, real concurrent processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import store_sample
from click.testing import CliRunner

from recorder.cli import cli
from specviz.sql import connect, query
from specviz.store import read_events, scan
from specviz.store import compact as compact_mod
from specviz.store.compact import AUTO, Policy, compact
from specviz.store.layout import TraceError

DUE = AUTO.min_files + AUTO.keep_recent + 1  # the run whose finish packs (it stays a file itself)
TESTS = Path(__file__).parent


def record(traces: Path, n: int) -> list:
    """n sample runs; (recording, its events) each, in order."""
    return [store_sample.record(traces, k=1 + i % 4) for i in range(n)]


def layout(traces: Path) -> tuple[int, int]:
    names = [p.name for p in traces.glob("date=*/*.parquet")]
    return sum(n.startswith("run-") for n in names), sum(n.startswith("pack-") for n in names)


def holder(traces: Path) -> subprocess.Popen:
    """Another process holding the compaction lock until its stdin closes."""
    code = textwrap.dedent(f"""
        import sys
        from specviz.store.compact import compaction_lock
        with compaction_lock({str(traces)!r}) as held:
            print("held", flush=True)
            sys.stdin.read()
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_the_run_that_makes_it_due_packs_the_older_ones(tmp_path):
    traces = tmp_path / "traces"
    recorded = record(traces, DUE - 1)
    assert layout(traces) == (DUE - 1, 0) and all(rec.compacted is None for rec, _ in recorded)
    recorded += record(traces, 1)
    last = recorded[-1][0]
    assert last.compacted is not None and len(last.compacted.packed) == AUTO.min_files
    assert layout(traces) == (AUTO.keep_recent + 1, 1)
    assert last.path.exists()  # the path finish() returned still holds the run
    # The oldest runs went into the pack, the newest stayed files.
    packed = {run_id for run_id, _ in last.compacted.packed}
    assert packed == {rec.run_id for rec, _ in recorded[:AUTO.min_files]}
    listing = scan(traces)
    assert listing.problems == [] and len(listing.runs) == DUE
    for rec, events in recorded:
        assert read_events(traces, rec.run_id) == events
    con = connect(traces)
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (DUE, DUE)
    per_run = len(recorded[0][1])
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == DUE * per_run


def test_it_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIZ_AUTO_COMPACT", "0")
    traces = tmp_path / "traces"
    record(traces, DUE)
    assert layout(traces) == (DUE, 0)


def test_long_runs_and_other_days_are_left_alone(tmp_path, monkeypatch):
    traces = tmp_path / "traces"
    per_run = len(store_sample.body()) + 2
    monkeypatch.setattr(compact_mod, "AUTO", Policy(min_files=3, keep_recent=1, max_rows=per_run + 1))
    other_day = store_sample.started(t_wall_ns=1_000_000_000 * 86_400 * 20_000)  # 2024-10-04
    from specviz.recording import open_run

    for _ in range(4):  # an earlier day's runs: never packed by a run of today
        with open_run(traces, other_day) as rec:
            rec.finish(store_sample.finished())
    with open_run(traces, store_sample.started()) as long_run:  # twice the rows: as long as a pack's row group here
        for ev in store_sample.body() + store_sample.body():
            long_run.log(ev)
        long_run.finish(store_sample.finished())
    record(traces, 5)  # the fifth: 3 runs older than the newest, besides the long one
    packs = list(traces.glob("date=*/pack-*.parquet"))
    assert len(packs) == 1 and packs[0].parent.name != "date=2024-10-04" and layout(traces) == (4 + 1 + 2, 1)
    assert long_run.path.exists()
    assert len(list(traces.glob("date=2024-10-04/run-*.parquet"))) == 4


def test_a_compaction_elsewhere_is_not_waited_for(tmp_path):
    traces = tmp_path / "traces"
    record(traces, DUE - 1)
    other = holder(traces)
    try:
        t0 = time.monotonic()
        (rec, _), = record(traces, 1)
        assert time.monotonic() - t0 < 5 and rec.compacted is None
        assert layout(traces) == (DUE, 0)
    finally:
        other.communicate("")
    (rec, _), = record(traces, 1)  # the next finish looks again
    assert len(rec.compacted.packed) == AUTO.min_files + 1 and layout(traces) == (AUTO.keep_recent + 1, 1)


def test_specviz_compact_waits_for_a_running_compaction(tmp_path):
    traces = tmp_path / "traces"
    record(traces, 3)
    other = holder(traces)
    code = f"from recorder.cli import cli; cli(['--traces', {str(traces)!r}, 'compact'])"
    cmd = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = cmd.stderr.readline()  # blocks until the command has met the lock (however loaded the machine)
    assert "waiting for another compaction" in said
    time.sleep(0.5)
    assert cmd.poll() is None and layout(traces) == (3, 0)  # waiting, not packing beside the other one
    other.communicate("")
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == 0, err
    assert "packed 3 runs into 1 file(s)" in out and layout(traces) == (0, 1)


def test_concurrent_recorders_lose_and_double_nothing(tmp_path):
    traces = tmp_path / "traces"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import store_sample
        for i in range(int(sys.argv[1])):
            rec, _ = store_sample.record({str(traces)!r})
            print(rec.run_id, flush=True)
    """)
    per_process = (DUE + 10) // 2
    procs = [subprocess.Popen([sys.executable, "-c", code, str(per_process)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    ids = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0
        ids += out.split()
    assert len(ids) == 3 * per_process
    listing = scan(traces)
    assert listing.problems == []
    assert sorted(s.run_id for s in listing.runs) == sorted(ids)
    assert layout(traces)[1] >= 1
    con = connect(traces)
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (len(ids), len(ids))
    kinds = [type(ev).__name__ for ev in store_sample.body()]
    for run_id in ids[::7]:
        events = read_events(traces, run_id)
        assert [type(ev).__name__ for ev in events[1:-1]] == kinds and {ev.run_id for ev in events} == {run_id}


def test_a_query_over_files_packed_since_says_so(tmp_path):
    traces = tmp_path / "traces"
    record(traces, 3)
    con = connect(traces)
    assert query(con, "SELECT count(*) FROM runs").rows == [(3,)]
    compact(traces)
    with pytest.raises(TraceError, match=r"was packed or removed after the traces were opened.*run the query again"):
        query(con, "SELECT count(*) FROM events")
    assert query(connect(traces), "SELECT count(*) FROM runs").rows == [(3,)]
    # A path typed into a query is refused as before, even one shaped like a packed run's.
    missing = traces / "date=2026-01-01" / "run-0123456789abcdef.parquet"
    with pytest.raises(TraceError, match="refused: queries may read only"):
        query(connect(traces), f"SELECT * FROM read_parquet('{missing}')")


def test_the_lock_refuses_what_is_not_a_regular_file(tmp_path):
    traces = tmp_path / "traces"
    record(traces, 2)
    lock = traces / "_live" / "compact.lock"
    lock.unlink(missing_ok=True)
    os.mkfifo(lock)
    r = CliRunner().invoke(cli, ["--traces", str(traces), "compact"])
    assert r.exit_code != 0 and "not a regular file" in r.output and "Traceback" not in r.output
    lock.unlink()
    lock.symlink_to(tmp_path / "elsewhere")
    r = CliRunner().invoke(cli, ["--traces", str(traces), "compact"])
    assert r.exit_code != 0 and "cannot lock" in r.output
    assert not (tmp_path / "elsewhere").exists()


def test_an_import_packs_the_days_it_fills(tmp_path, monkeypatch):
    from specviz.store.transfer import import_files

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("SPECVIZ_AUTO_COMPACT", "0")
    recorded = record(elsewhere, DUE)
    monkeypatch.delenv("SPECVIZ_AUTO_COMPACT")
    traces = tmp_path / "traces"
    report = import_files(traces, sorted(elsewhere.glob("date=*/run-*.parquet")))
    assert len(report.imported) == DUE and not report.problems
    assert layout(traces) == (AUTO.keep_recent + 1, 1)
    assert scan(traces).problems == []
    for rec, events in recorded:
        assert read_events(traces, rec.run_id) == events


def test_sql_and_analyze_run_again_over_files_packed_under_them(tmp_path):
    """What `specviz sql` and `specviz analyze` do: the first attempt's files are packed
    (a real compaction) before it queries them; the second, over a new listing, answers."""
    from specviz.analysis import analyze
    from specviz.sql import with_views

    traces = tmp_path / "traces"
    recorded = record(traces, 3)
    events = 3 * len(recorded[0][1])
    for fn in (lambda con: query(con, "SELECT count(*) FROM events").rows,
               lambda con: analyze(con, [], where=None, replay="none")):
        record(traces, 2)
        attempts = []

        def packed_first(con, fn=fn):
            if not attempts:
                compact(traces)
            attempts.append(con)
            return fn(con)

        opened, result = with_views(traces, packed_first)
        assert len(attempts) == 2 and layout(traces)[0] == 0
        if isinstance(result, list):
            assert result == [(events + 2 * len(recorded[0][1]),)]
        else:
            assert len(result.runs) == 7 and all(r.status == "completed" for r in result.runs)
