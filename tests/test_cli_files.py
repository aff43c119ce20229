"""Any trace file anywhere the CLI takes traces: runs, show, sql, view, on files,
several files, and files mixed with directories; a bad file gets one line and the good
ones beside it still open. And export never replaces what it should not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import store_sample
from click.testing import CliRunner

from recorder.cli import cli


@pytest.fixture
def shared(tmp_path):
    """Two directories of runs, and one file exported from each (as a colleague sends them)."""
    store_sample.record_as(["aaa1000000000000", "aaa2000000000000", "bbb1000000000000"],
                           (tmp_path / "one", {"k": 2}), (tmp_path / "one", {"k": 3, "prompt": "second prompt"}),
                           (tmp_path / "two", {"k": 4, "method": "autoregressive"}))
    for name, traces, runs in (("a.parquet", "one", ["aaa1", "aaa2"]), ("b.parquet", "two", ["bbb1"])):
        r = run(tmp_path / traces, "export", *runs, "-o", str(tmp_path / name))
        assert r.exit_code == 0, r.output
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    return tmp_path


def run(traces, *args):
    result = CliRunner().invoke(cli, ["--traces", str(traces), *args])
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _ids(result) -> list[str]:
    return [row["run"] for row in json.loads(result.stdout)]


def test_runs_on_files_and_a_mix_with_directories(shared):
    r = run(shared / "nowhere", "runs", str(shared / "a.parquet"), "--format", "json")
    assert r.exit_code == 0 and sorted(_ids(r)) == ["aaa1000000000000", "aaa2000000000000"]
    r = run(shared / "nowhere", "runs", str(shared / "a.parquet"), str(shared / "two"), "--format", "json")
    assert sorted(_ids(r)) == ["aaa1000000000000", "aaa2000000000000", "bbb1000000000000"]
    r = run(shared / "nowhere", "runs", str(shared / "bad.parquet"), str(shared / "b.parquet"), "--format", "json")
    assert r.exit_code == 0 and _ids(r) == ["bbb1000000000000"]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"warning: {shared / 'bad.parquet'}: not a readable Parquet file")
    r = run(shared / "nowhere", "runs", str(shared / "bad.parquet"))
    assert r.exit_code == 1 and r.output.startswith(f"Error: {shared / 'bad.parquet'}: ") and r.output.count("\n") == 1
    r = run(shared / "nowhere", "runs", str(shared / "missing.parquet"))
    assert r.exit_code == 1 and r.output == f"Error: {shared / 'missing.parquet'}: no such file or directory\n"
    r = run(shared / "b.parquet", "runs", "--format", "json")  # the root --traces takes a file too
    assert _ids(r) == ["bbb1000000000000"]


def test_runs_problems_lists_the_unreadable_files(shared):
    bad = shared / "one" / "date=2001-01-01"
    bad.mkdir()
    (bad / "run-dead.parquet").write_bytes(b"junk")
    r = run(shared / "one", "runs", "--problems", "--format", "json")
    assert r.exit_code == 0
    (problem,) = json.loads(r.stdout)
    assert problem["file"] == str(bad / "run-dead.parquet") and "corrupt or truncated" in problem["problem"]
    r = run(shared / "two", "runs", "--problems")
    assert r.exit_code == 0 and r.stdout == "" and "no problems" in r.stderr


def test_show_a_file(shared):
    r = run(shared / "nowhere", "show", str(shared / "b.parquet"), "--no-color")
    assert r.exit_code == 0 and r.output.startswith("run         bbb1000000000000  (completed)")
    assert " the cat sat down" in r.output
    r = run(shared / "nowhere", "show", str(shared / "a.parquet"), "--no-color")
    assert r.output.count("run         aaa") == 2  # a file with two runs shows both
    r = run(shared / "nowhere", "show", str(shared / "bad.parquet"))
    assert r.exit_code == 1 and r.output.startswith("Error: ") and r.output.count("\n") == 1


def test_sql_over_files_and_directories(shared):
    q = "SELECT run_id, k FROM runs ORDER BY run_id"
    r = run(shared / "nowhere", "sql", "--traces", str(shared / "a.parquet"), q, "--format", "csv")
    assert r.exit_code == 0 and r.stdout == "run_id,k\naaa1000000000000,2\naaa2000000000000,3\n"
    r = run(shared / "nowhere", "sql", "--traces", str(shared / "b.parquet"), "--traces", str(shared / "one"),
            "--traces", str(shared / "bad.parquet"), "SELECT count(DISTINCT run_id) AS n FROM events", "--format", "csv")
    assert r.exit_code == 0 and r.stdout == "n\n3\n" and "warning: " in r.stderr and "bad.parquet" in r.stderr
    r = run(shared / "nowhere", "sql", "--traces", str(shared / "bad.parquet"), "SELECT 1")
    assert r.exit_code == 1 and r.output.startswith(f"Error: {shared / 'bad.parquet'}: ") and r.output.count("\n") == 1


def _view(monkeypatch, *args):
    from recorder import view_cmd

    calls = []  # the server itself is exercised by the viewer's own tests
    monkeypatch.setattr(view_cmd, "run_server", lambda cmd, env, url, open_browser: calls.append(cmd) or 0)
    return CliRunner().invoke(cli, ["view", *args]), calls


def test_view_a_file_opens_straight_into_replay(shared, monkeypatch):
    result, (cmd,) = _view(monkeypatch, str(shared / "b.parquet"))
    assert result.exit_code == 0, result.output
    assert cmd[cmd.index("--") + 1:] == ["--traces", str((shared / "b.parquet").resolve()), "--run", "bbb1000000000000"]
    result, (cmd,) = _view(monkeypatch, "--traces", str(shared / "a.parquet"), "aaa2")
    assert cmd[cmd.index("--") + 1:][-2:] == ["--run", "aaa2000000000000"]
    result, (cmd,) = _view(monkeypatch, str(shared / "a.parquet"))  # two runs: the Runs page lists them
    assert "--run" not in cmd
    for bad in ("bad.parquet", "missing.parquet"):
        result, calls = _view(monkeypatch, str(shared / bad))
        assert result.exit_code == 1 and result.output.startswith(f"Error: {shared / bad}: ") and not calls


def test_viewer_replays_a_launch_file(shared):
    """What `specviz view FILE` launches: the app on the file, opening on Replay."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "viewer" / "app.py"), default_timeout=60)
    at.session_state["traces_dir"] = str(shared / "b.parquet")
    at.session_state["launch_run"] = "bbb1000000000000"
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert [h.value for h in at.header] == ["Replay"]
    assert [(s.label, s.value) for s in at.selectbox] == [("Run", "bbb1000000000000")]


def test_export_refuses_to_replace_without_force_and_never_a_link_or_device(shared):
    out = shared / "a.parquet"
    before = out.read_bytes()
    r = run(shared / "two", "export", "bbb1", "-o", str(out))
    assert r.exit_code == 1 and r.output == f"Error: {out} exists; use --force to replace it\n"
    assert out.read_bytes() == before
    r = run(shared / "two", "export", "bbb1", "-o", str(out), "--force")
    assert r.exit_code == 0 and out.read_bytes() != before
    link = shared / "link.parquet"
    link.symlink_to(shared / "b.parquet")
    for target in (link, "/dev/null"):
        for fmt in ("parquet", "perfetto"):
            r = run(shared / "two", "export", "bbb1", "-o", str(target), "--force", "--format", fmt)
            assert r.exit_code == 1 and "not a regular file" in r.output and r.output.count("\n") == 1
    assert link.is_symlink() and os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    r = run(shared / "two", "export", "bbb1", "-o", str(out), "--format", "perfetto")
    assert r.exit_code == 1 and "use --force" in r.output
    assert run(shared / "two", "export", "bbb1", "-o", str(out), "--format", "perfetto", "--force").exit_code == 0


def test_viewer_runs_page_lists_unreadable_files_beside_the_runs(shared):
    from streamlit.testing.v1 import AppTest

    day = next((shared / "one").glob("date=*"))
    (day / "run-dead0000.parquet").write_bytes(b"junk")
    os.mkfifo(day / "run-dead0001.parquet")  # would hang a reader that opened it
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "viewer" / "app.py"), default_timeout=60)
    at.session_state["traces_dir"] = str(shared / "one")
    at.run()
    at.switch_page("views/runs.py").run()
    assert not at.exception, at.exception
    assert {"aaa1000000000000", "aaa2000000000000"} <= set(at.dataframe[0].value["run_id"])
    (expander,) = [e for e in at.expander if "unreadable" in e.label]
    assert expander.label == "2 unreadable file(s)"
    (problems,) = [d.value for d in at.dataframe if "problem" in d.value.columns]
    assert sorted(Path(f).name for f in problems["file"]) == ["run-dead0000.parquet", "run-dead0001.parquet"]
    assert "FIFO" in " ".join(problems["problem"])


def test_view_several_files_and_directories(shared, monkeypatch):
    a, two = (shared / "a.parquet").resolve(), (shared / "two").resolve()
    result, (cmd,) = _view(monkeypatch, str(shared / "a.parquet"), str(shared / "two"))
    assert result.exit_code == 0, result.output
    assert cmd[cmd.index("--") + 1:] == ["--traces", str(a), "--traces", str(two)]  # three runs: the Runs page
    result, (cmd,) = _view(monkeypatch, "bbb", str(shared / "a.parquet"), str(shared / "two"))
    assert cmd[cmd.index("--") + 1:][-2:] == ["--run", "bbb1000000000000"]
    result, (cmd,) = _view(monkeypatch, str(shared / "bad.parquet"), str(shared / "b.parquet"))
    assert result.exit_code == 0 and cmd[-2:] == ["--run", "bbb1000000000000"]
    assert result.stderr.startswith(f"warning: {(shared / 'bad.parquet').resolve()}: ") and result.stderr.count("\n") == 1
    result, calls = _view(monkeypatch, str(shared / "bad.parquet"), str(shared / "missing.parquet"))
    assert result.exit_code == 1 and "Error: no runs in " in result.output and not calls
    result, calls = _view(monkeypatch, "aaa", str(shared / "a.parquet"), str(shared / "two"))
    assert result.exit_code == 1 and "ambiguous" in result.output and not calls


def test_viewer_on_several_sources_lists_replays_and_queries_them_all(shared):
    from streamlit.testing.v1 import AppTest

    from viewer import data

    sources = os.pathsep.join([str(shared / "a.parquet"), str(shared / "two")])  # what `view A B` launches
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "viewer" / "app.py"), default_timeout=60)
    at.session_state["traces_dir"] = sources
    at.run()
    at.switch_page("views/runs.py").run()
    assert not at.exception, at.exception
    assert set(at.dataframe[0].value["run_id"]) == {"aaa1000000000000", "aaa2000000000000", "bbb1000000000000"}
    for run_id in ("aaa2000000000000", "bbb1000000000000"):  # one from the file, one from the directory
        index = data.load_index(data.Source(sources, run_id))
        assert index.n_events > 2
    assert data.run_sql(sources, "SELECT count(*) AS n FROM runs")["n"].tolist() == [3]
