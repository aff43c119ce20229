"""A run file named by path (from `specviz runs`, a README, a shell history) still opens
its run after a compaction packed it: the store, every CLI command that takes a trace
file, and the viewer read that run from the pack, say so in one line, and never show the
pack's other runs. So does a live log named while its run recorded, once the run has
finished. A file that is truly gone is one clear error. Real recordings, real
compaction, real Parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import store_sample
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from recorder.cli import cli
from specviz.sql import connect
from specviz.store import TraceError, find_moved, inspect_file, read_events, scan_sources
from specviz.store.compact import AUTO, compact

APP = str(Path(__file__).resolve().parent.parent / "viewer" / "app.py")
IDS = ["c0ffee0000000001", "c0ffee0000000002", "c0ffee0000000003"]


@pytest.fixture
def packed(tmp_path):
    """Three recorded runs, their run files' paths (as `specviz runs` showed them), then
    `specviz compact`: the paths are gone, the runs in one pack."""
    traces = tmp_path / "traces"
    store_sample.record_as(IDS, *[(traces, {"k": k, "prompt": f"prompt {k}"}) for k in (1, 2, 3)])
    files = {f.name.removeprefix("run-").removesuffix(".parquet"): f for f in traces.glob("date=*/run-*.parquet")}
    events = {run_id: read_events(traces, run_id) for run_id in IDS}
    assert len(compact(traces).packed) == 3
    (pack,) = traces.glob("date=*/pack-*.parquet")
    assert not any(f.exists() for f in files.values())
    return {"traces": traces, "files": files, "events": events, "pack": pack, "named": files[IDS[1]]}


def cli_run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def note_line(packed) -> str:
    return f"note: {packed['named']} was packed into {packed['pack'].name} (compaction); reading run {IDS[1]} from it\n"


def test_the_store_reads_a_packed_run_file_from_its_pack(packed):
    named, pack = packed["named"], packed["pack"]
    found = find_moved(named)
    assert (found.now, found.run_id) == (pack, IDS[1])
    assert read_events(named) == packed["events"][IDS[1]]
    assert read_events(named, IDS[1][:14]) == packed["events"][IDS[1]]
    with pytest.raises(TraceError, match=f"run id '{IDS[0]}' is not in"):
        read_events(named, IDS[0])  # a file names one run: never another run of the pack
    listing = scan_sources([named])
    assert [s.run_id for s in listing.runs] == [IDS[1]] and listing.problems == []
    con = connect(named)
    assert con.execute("SELECT list(DISTINCT run_id), count(*) FROM events").fetchone() == (
        [IDS[1]], len(packed["events"][IDS[1]]))
    assert con.execute("SELECT list(run_id) FROM runs").fetchone() == ([IDS[1]],)
    # Named together with the whole directory, every run is served, each once.
    con = connect([named, packed["traces"]])
    assert con.execute("SELECT count(DISTINCT run_id), count(*) FROM events").fetchone() == (
        3, sum(map(len, packed["events"].values())))


def test_a_run_file_no_pack_holds_is_one_clear_error(packed):
    never = packed["named"].with_name("run-deadbeef00000000.parquet")
    with pytest.raises(TraceError, match=f"no such file, and no pack in .* holds run deadbeef00000000"):
        read_events(never)
    elsewhere = packed["traces"].parent / "run-c0ffee0000000002.parquet"  # not in a date= directory
    assert find_moved(elsewhere) is None
    for args in (["show", never], ["--traces", never, "show", "c0ff"], ["runs", never], ["--traces", never, "analyze"],
                 ["--traces", never, "sql", "SELECT 1"], ["--traces", never, "export", "c0ff", "-o", never.parent / "x.json"]):
        r = cli_run(*args)
        assert r.exit_code == 1 and r.output.startswith("Error: ") and r.output.count("\n") == 1, (args, r.output)
        assert "no pack in" in r.output, (args, r.output)


def test_every_command_given_a_packed_run_file_reads_its_run(packed, tmp_path):
    named, note = packed["named"], note_line(packed)
    r = cli_run("show", named, "--no-color")
    assert r.exit_code == 0 and r.stdout.startswith(f"run         {IDS[1]}  (completed)") and r.stderr == note
    assert r.stdout.count("run         ") == 1 and " the cat sat down" in r.stdout
    r = cli_run("--traces", named, "show", IDS[1][:8], "--no-color")
    assert r.exit_code == 0 and r.stdout.startswith(f"run         {IDS[1]}") and r.stderr == note
    r = cli_run("runs", named, "--format", "json")
    assert [row["run"] for row in json.loads(r.stdout)] == [IDS[1]] and r.stderr == note
    r = cli_run("--traces", named, "sql", "SELECT run_id, k FROM runs", "--format", "csv")
    assert r.stdout == f"run_id,k\n{IDS[1]},2\n" and r.stderr == note
    r = cli_run("--traces", named, "analyze", "--format", "json", "--no-replay")
    assert r.exit_code == 0 and r.stderr == note
    assert json.dumps(json.loads(r.stdout)).count(IDS[1]) >= 1 and IDS[0] not in r.stdout and IDS[2] not in r.stdout
    out = tmp_path / "one.parquet"
    r = cli_run("--traces", named, "export", IDS[1][:6], "-o", out)
    assert r.exit_code == 0 and r.stderr == note and inspect_file(out).run_ids == [IDS[1]]
    assert pq.read_table(out).num_rows == len(packed["events"][IDS[1]])
    r = cli_run("--traces", named, "export", IDS[1][:6], "-o", tmp_path / "one.json")
    assert r.exit_code == 0 and r.stderr == note
    r = cli_run("--traces", named, "export", IDS[1][:6], "-o", tmp_path / "one.html")
    assert r.exit_code == 0 and r.stderr == note and f"exported run {IDS[1]}" in r.stdout


def test_view_a_packed_run_file_opens_its_run_on_replay(packed, monkeypatch):
    from recorder import view_cmd

    calls = []  # the server itself: test_browser_packed.py
    monkeypatch.setattr(view_cmd, "run_server", lambda cmd, env, url, open_browser: calls.append(cmd) or 0)
    r = CliRunner().invoke(cli, ["view", str(packed["named"])])
    assert r.exit_code == 0, r.output
    (cmd,) = calls
    assert cmd[cmd.index("--") + 1:] == ["--traces", str(packed["named"].resolve()), "--run", IDS[1]]
    assert r.stderr == note_line(packed)


def test_run_files_auto_compaction_packed_still_open(tmp_path):
    """Recording's own compaction: the paths the first recordings' finish() returned."""
    traces = tmp_path / "traces"
    recorded = [store_sample.record(traces, k=1 + i % 4) for i in range(AUTO.min_files + AUTO.keep_recent + 1)]
    first, events = recorded[0]
    assert not first.path.exists() and find_moved(first.path) is not None
    assert read_events(first.path) == events
    r = cli_run("show", first.path, "--no-color")
    assert r.exit_code == 0 and r.stdout.startswith(f"run         {first.run_id}") and "was packed into pack-" in r.stderr


def _viewer(traces_dir: str, page: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["traces_dir"] = traces_dir
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_viewer_launched_on_a_packed_run_file_shows_that_run_alone(packed):
    from viewer import data

    named = str(packed["named"])
    at = _viewer(named, "views/runs.py")
    assert list(at.dataframe[0].value["run_id"]) == [IDS[1]] and not at.error
    assert note_line(packed).removeprefix("note: ").strip() in [c.value for c in at.caption]
    at = _viewer(named, "views/replay.py", launch_run=IDS[1])
    assert not at.error, [e.value for e in at.error]
    assert [(s.label, s.value) for s in at.selectbox] == [("Run", IDS[1])]
    assert data.load_index(data.Source(named, IDS[1])).n_events == len(packed["events"][IDS[1]])
    assert data.run_sql(named, "SELECT run_id FROM runs")["run_id"].tolist() == [IDS[1]]
    # A file truly gone: said on the Runs page, nothing else listed, no exception.
    gone = str(packed["named"].with_name("run-deadbeef00000000.parquet"))
    at = _viewer(gone, "views/runs.py")
    assert len(at.dataframe[0].value) == 0
    problems = at.dataframe[1].value
    assert problems["file"].tolist() == [gone] and "no pack in" in problems["problem"].item()


def test_runs_page_opens_a_packed_run_file_by_path(packed, tmp_path):
    at = _viewer(str(tmp_path / "empty"), "views/runs.py")
    at.text_input(key="open_path").input(str(packed["named"])).run()
    at.button(key="open_btn").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert list(at.dataframe[0].value["run_id"]) == [IDS[1]]
    assert note_line(packed).removeprefix("note: ").strip() in [c.value for c in at.caption]


def test_opening_a_pack_on_the_runs_page_reads_it_once(packed, tmp_path, monkeypatch):
    """The page validates every run's rows, from one read of the pack (it read the pack
    run by run: 64 reads of a 64-run pack). The real reader, counted."""
    import specviz.store.parquet_file as parquet_file
    import specviz.store.transfer as transfer

    reads = []
    real = parquet_file.read_rows

    def counted(path, *args, **kwargs):
        reads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(parquet_file, "read_rows", counted)
    monkeypatch.setattr(transfer, "read_rows", counted)
    at = _viewer(str(tmp_path / "empty"), "views/runs.py")
    at.text_input(key="open_path").input(str(packed["pack"])).run()
    at.button(key="open_btn").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sorted(at.dataframe[0].value["run_id"]) == IDS
    assert reads == [packed["pack"]]


def test_a_live_log_named_while_recording_opens_the_finished_run(tmp_path):
    """`specviz view traces/_live/run-X.jsonl` (the file `specviz show` names while X
    records): once X finishes the log is gone; its run is read from its published file,
    and, once that is packed too, from the pack. The viewer open on it keeps its run."""
    from synthetic_runs import record_synthetic, synthetic_events
    from viewer import data

    traces = tmp_path / "traces"
    others = [record_synthetic(traces, rounds=3, k=2, seed=s) for s in (1, 2)]
    rec = record_synthetic(traces, rounds=6, k=3, seed=3, finish=False, upto=20, flush="event")
    log = traces / "_live" / f"run-{rec.run_id}.jsonl"
    at = _viewer(str(log), "views/replay.py", launch_run=rec.run_id)
    assert not at.error and [s.value for s in at.selectbox] == [rec.run_id]
    rec.finish(synthetic_events(rounds=1)[-1])
    assert not log.exists()
    events = read_events(traces, rec.run_id)
    published = rec.path
    assert read_events(log) == events and find_moved(log).now == published
    at.run()  # the page open on the log when the run finished
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["run"] == rec.run_id
    assert data.load_index(data.Source(str(log), rec.run_id)).n_events == len(events)
    r = cli_run("show", log, "--no-color")
    assert r.exit_code == 0 and r.stdout.startswith(f"run         {rec.run_id}  (completed)")
    assert r.stderr == f"note: {log} has finished, and its run was published as {published}; reading run {rec.run_id} from it\n"
    assert len(compact(traces).packed) == 3  # ... and packed
    (pack,) = traces.glob("date=*/pack-*.parquet")
    assert read_events(log) == events and find_moved(log).now == pack
    r = cli_run("--traces", log, "sql", "SELECT run_id FROM runs", "--format", "csv")
    assert r.stdout == f"run_id\n{rec.run_id}\n" and f"its run was packed into {pack}" in r.stderr
    at = _viewer(str(log), "views/runs.py")
    assert list(at.dataframe[0].value["run_id"]) == [rec.run_id] and others[0] not in str(at.dataframe[0].value)
    gone = traces / "_live" / "run-deadbeef00000000.jsonl"
    r = cli_run("show", gone)
    assert r.exit_code == 1 and r.output == f"Error: {gone}: no such file, and run deadbeef00000000 is not in {traces}\n"
