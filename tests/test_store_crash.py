"""Real processes: SIGKILL mid-recording, live logs left alone, concurrent recorders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from specviz.events import DraftToken, RunFinished
from specviz.sql import connect
from specviz.store import list_runs, read_events, recover

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock and SIGKILL")

TESTS = Path(__file__).parent
ROOT = TESTS.parent

# Logs `rounds` flushed rounds plus one buffered draft, prints its run id, then waits.
RECORDER = r"""
import sys, time
sys.modules["pandas"] = None  # pyarrow would import it (seconds without bytecode); unused here
sys.path.insert(0, sys.argv[4])
import store_sample
from specviz.events import DraftToken, RoundMetrics, RunFinished
from specviz.recording import open_run
traces, rounds, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(runs):
    rec = open_run(traces, store_sample.started(), flush="round")
    for r in range(rounds):
        rec.log(DraftToken(round=r, position=0, token_id=r, token_text=f" t{r}"))
        rec.log(RoundMetrics(round=r, drafted=1, tested=1, accepted=1, produced=1))
    if runs == 1:
        rec.log(DraftToken(round=rounds, position=0, token_id=999))
        print(rec.run_id, flush=True)
        time.sleep(120)
    rec.finish(RunFinished(status="completed", produced=rounds))
"""


def _spawn(traces: Path, rounds: int, runs: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(traces), str(rounds), str(runs), str(TESTS)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )


@pytest.fixture
def killed_run(tmp_path):
    """A recorder that flushed 5 rounds, checked while alive, then killed with SIGKILL."""
    child = _spawn(tmp_path, rounds=5)
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, "child did not start"
        # Alive: its log is live, listed as recording, readable, and never "recovered".
        report = recover(tmp_path)
        assert report.live == [run_id] and not report.recovered
        (run,) = list_runs(tmp_path)
        assert (run.run_id, run.status, run.live) == (run_id, "recording", True)
        assert len(read_events(tmp_path, run_id)) == 1 + 2 * 5
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    return tmp_path, run_id


def test_sigkill_then_recover_keeps_every_flushed_event(killed_run):
    traces, run_id = killed_run
    log = traces / "_live" / f"run-{run_id}.jsonl"
    with open(log, "ab") as f:
        f.write(b'[{"kind":"draft_token","rou')  # a write torn by the crash
    report = recover(traces)
    assert [(r[0], r[2], r[3]) for r in report.recovered] == [(run_id, 1 + 2 * 5 + 1, True)]
    assert not log.exists() and not report.problems
    events = read_events(traces, run_id)
    assert [e.seq for e in events] == list(range(12))
    assert all(e.token_id != 999 for e in events if isinstance(e, DraftToken)), "unflushed event cannot survive"
    fin = events[-1]
    assert isinstance(fin, RunFinished) and (fin.status, fin.finish_reason, fin.produced) == ("interrupted", "recovered", 5)
    assert connect(traces).execute("SELECT status, n_events FROM runs").fetchall() == [("interrupted", 12)]
    assert recover(traces).recovered == []


def _snapshot(root: Path) -> dict:
    return {p: (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_reading_never_writes(killed_run):
    """Listing, SQL, the CLI's reading commands and the viewer's data layer leave a
    directory with an abandoned log byte-for-byte unchanged; only `recover` publishes it."""
    from click.testing import CliRunner

    from recorder.cli import cli

    traces, run_id = killed_run
    before = _snapshot(traces)
    (run,) = list_runs(traces)
    assert (run.run_id, run.status, run.live, run.path.suffix) == (run_id, "interrupted", False, ".jsonl")
    assert len(read_events(traces, run_id)) == 11
    con = connect(traces)
    assert con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]  # views hold published runs only
    con.close()
    for args in (["runs"], ["runs", "--problems"], ["show", run_id[:6]], ["sql", "SELECT count(*) FROM events"]):
        r = CliRunner().invoke(cli, ["--traces", str(traces), *args])
        assert r.exit_code == 0, r.output
    assert "specviz recover" in CliRunner().invoke(cli, ["--traces", str(traces), "runs"]).output
    from viewer import data  # the viewer's only way to the store

    assert [r["run_id"] for r in data.list_runs(str(traces))] == [run_id]
    assert data.run_sql(str(traces), "SELECT count(*) AS n FROM events")["n"].tolist() == [0]
    assert _snapshot(traces) == before
    assert [r[0] for r in recover(traces).recovered] == [run_id]
    (run,) = list_runs(traces)
    assert (run.status, run.path.suffix) == ("interrupted", ".parquet")


def test_concurrent_recorders_into_one_directory(tmp_path):
    children = [_spawn(tmp_path, rounds=40, runs=2) for _ in range(3)]
    for c in children:
        assert c.wait(timeout=120) == 0
        c.stdout.close()
    runs = list_runs(tmp_path)
    assert len(runs) == 6 and {r.status for r in runs} == {"completed"}
    assert len({r.run_id for r in runs}) == 6
    for r in runs:
        assert [e.seq for e in read_events(tmp_path, r.run_id)] == list(range(1 + 80 + 1))
    con = connect(tmp_path)
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM events").fetchone() == (6 * 82, 6)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".parquet")]
    assert leftovers == [] and not any(p.name.startswith(".") for p in tmp_path.rglob("*"))
    assert os.listdir(tmp_path / "_live") == []
