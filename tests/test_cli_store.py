"""The store commands through Click's CliRunner: exit codes and output."""

from __future__ import annotations

import csv
import io
import json

import pytest
import store_sample
from click.testing import CliRunner

from recorder.cli import cli
from recorder.store_cmds import COMMANDS


@pytest.fixture
def traces(tmp_path, monkeypatch):
    ids = iter(["abc1000000000000", "abc2000000000000", "ffff000000000000"])
    monkeypatch.setattr("specviz.recording.new_run_id", lambda: next(ids))
    store_sample.record(tmp_path / "traces", k=2)
    store_sample.record(tmp_path / "traces", k=4, method="autoregressive")
    return tmp_path / "traces"


def run(traces, *args):
    result = CliRunner().invoke(cli, ["--traces", str(traces), *args])
    assert "Traceback" not in result.output
    return result


def test_runs_lists_newest_first_with_filters(traces):
    r = run(traces, "runs")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split()[:4] == ["run", "started", "status", "method"]
    assert [l.split()[0] for l in lines[2:]] == ["abc200000000", "abc100000000"]
    assert "completed" in lines[2] and "Say 'hi' please" in lines[2]
    assert [row["run"] for row in json.loads(run(traces, "runs", "-k", "2", "--format", "json").output)] == ["abc1000000000000"]
    rows = list(csv.reader(io.StringIO(run(traces, "runs", "--method", "autoregressive", "--format", "csv").output)))
    assert len(rows) == 2 and rows[1][0] == "abc2000000000000" and rows[1][-1] == "Say 'hi'\nplease"
    assert "abc1" in run(traces, "runs", "--since", "2000-01-01").output
    assert "no runs" in run(traces, "runs", "--since", "2999-01-01").output
    r = run(traces, "runs", "--status", "failed")
    assert r.exit_code == 0 and "no runs" in r.output


def test_runs_warns_about_bad_files_and_still_lists(traces):
    (next(traces.glob("date=*")) / "run-bad.parquet").write_bytes(b"junk")
    r = run(traces, "runs", "--format", "json")
    assert r.exit_code == 0
    assert len(json.loads(r.stdout)) == 2 and "warning:" in r.stderr and "run-bad.parquet" in r.stderr


def test_show_colours_tokens_by_status(traces):
    r = CliRunner().invoke(cli, ["--traces", str(traces), "show", "abc1", "--color"])
    assert r.exit_code == 0, r.output
    assert "abc1000000000000" in r.output and "k=2" in r.output and "acceptance 67% (2/3)" in r.output
    assert "\x1b[32m the\x1b[0m" in r.output  # accepted: green
    assert "\x1b[34m sat\x1b[0m" in r.output  # bonus: blue
    assert "\x1b[33m down\x1b[0m" in r.output  # resampled: yellow
    assert "[target] timeout, retrying" in r.output
    plain = run(traces, "show", "abc1", "--no-color")
    assert "\x1b[" not in plain.output and " the cat sat down" in plain.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "abc"], "Error: run id 'abc' is ambiguous: abc2000000000000, abc1000000000000"),
        (["show", "9999"], "Error: no run '9999'"),
        (["sql", "SELEC 1"], "Error: malformed SQL"),
        (["sql", "CREATE TABLE x (a INT)"], "Error: only read-only queries are allowed; CREATE statements are refused"),
        (["sql", "COPY runs TO 'x.csv'"], "COPY statements are refused"),
        (["sql", "SELECT * FROM read_csv('/etc/passwd')"], "Error: refused"),
        (["sql", "ATTACH 'x.db'"], "ATTACH statements are refused"),
        (["export", "abc1", "-o", "/nonexistent-dir/x.parquet"], "Error: cannot write /nonexistent-dir/x.parquet"),
        (["export", "nope", "-o", "x.parquet"], "Error: no run 'nope'"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(traces, args, message):
    r = run(traces, *args)
    assert r.exit_code == 1 and r.output.startswith("Error: ") and message in r.output and r.output.count("\n") == 1, r.output


def test_sql_formats(traces):
    q = "SELECT run_id, k FROM runs ORDER BY k"
    assert run(traces, "sql", q, "--format", "csv").output == "run_id,k\nabc1000000000000,2\nabc2000000000000,4\n"
    assert json.loads(run(traces, "sql", q, "--format", "json").output) == [
        {"run_id": "abc1000000000000", "k": 2},
        {"run_id": "abc2000000000000", "k": 4},
    ]
    nested = run(traces, "sql", "SELECT top FROM drafts WHERE run_id LIKE 'abc1%' ORDER BY seq LIMIT 1", "--format", "csv").output
    assert json.loads(list(csv.reader(io.StringIO(nested)))[1][0])[1] == {"id": 11, "text": " a", "logprob": -1.5}
    table = run(traces, "sql", "SELECT token_text, status FROM tokens WHERE run_id LIKE 'abc1%' ORDER BY token_index").output
    assert table.splitlines()[2:] == [" the        accepted", " cat        accepted", " sat        bonus", " down       resampled"]


def test_export_import_recover(traces, tmp_path):
    out = tmp_path / "share.parquet"
    r = run(traces, "export", "abc1", "abc2", "-o", str(out))
    assert r.exit_code == 0 and "exported 2 run(s)" in r.output
    other = tmp_path / "other"
    r = run(other, "import", str(out))
    assert r.exit_code == 0 and r.output.count("imported abc") == 2
    r = run(other, "import", str(out))
    assert r.exit_code == 1 and "already in" in r.stderr and "not imported" in r.stderr
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    r = run(tmp_path / "third", "import", str(tmp_path / "junk.parquet"), str(out))
    assert r.exit_code == 1 and r.stdout.count("imported") == 2 and "junk.parquet" in r.stderr
    r = run(traces, "recover")
    assert r.exit_code == 0 and r.output == "nothing to recover\n"


def test_recover_reports_recovered_logs(traces):
    from specviz.recording import open_run

    rec = open_run(traces, store_sample.started())
    for ev in store_sample.body()[:6]:
        rec.log(ev)
    r = run(traces, "recover")
    assert r.output == "skipped ffff000000000000: still being recorded\n"
    rec._writer.close()  # the writer dies: its lock goes with it
    r = run(traces, "recover")
    assert r.exit_code == 0 and r.output.startswith("recovered ffff000000000000: 8 events")
    assert "interrupted" in run(traces, "runs").output


def test_every_command_has_help():
    for command in COMMANDS:
        r = CliRunner().invoke(cli, [command.name, "--help"])
        assert r.exit_code == 0 and command.help and len(command.help.strip()) > 20
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{command.name} --{param.name} has no help"


def test_unwritable_or_bad_trace_directory(traces, tmp_path):
    (path,) = list(traces.glob("date=*/run-abc1*.parquet"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = run(blocker / "traces", "import", str(path))
    assert r.exit_code == 1 and r.output.startswith("Error: cannot create trace directory") and r.output.count("\n") == 1
    r = run(blocker, "runs")  # a file as --traces is read as a trace file: this one is not
    assert r.exit_code == 1 and r.output.startswith(f"Error: {blocker}: not a readable Parquet file") and r.output.count("\n") == 1


def test_sql_table_output_is_capped_and_says_so(traces):
    q = "SELECT * FROM range(1500) t(i)"
    table = CliRunner().invoke(cli, ["--traces", str(traces), "sql", q])
    assert table.exit_code == 0
    assert len(table.stdout.splitlines()) == 2 + 1000  # header, rule, the first 1,000 rows
    assert "the first 1,000 rows are shown" in table.stderr and "--max-rows 0" in table.stderr
    everything = CliRunner().invoke(cli, ["--traces", str(traces), "sql", q, "--max-rows", "0"])
    assert len(everything.stdout.splitlines()) == 2 + 1500 and "note:" not in everything.stderr
    few = CliRunner().invoke(cli, ["--traces", str(traces), "sql", q, "--max-rows", "3", "--format", "csv"])
    assert few.stdout == "i\n0\n1\n2\n" and "first 3 rows" in few.stderr
    assert len(run(traces, "sql", q, "--format", "csv").output.splitlines()) == 1 + 1500


def test_runs_says_when_it_shows_only_the_newest(tmp_path):
    """`runs` stops at 50 by default: a store of more runs must not look like one that lost
    its oldest (a new user's 78 runs listed as 50, nothing said). An -n the user gave is
    what they asked for: no note then."""
    from synthetic_runs import record_synthetic

    for seed in range(52):
        record_synthetic(tmp_path, rounds=1, k=2 if seed < 51 else 3, seed=seed)
    cut = run(tmp_path, "runs")
    assert len(cut.stdout.splitlines()) == 2 + 50
    assert "the newest 50 of 52 runs are shown" in cut.stderr and "-n 0" in cut.stderr
    assert "note:" not in run(tmp_path, "runs", "-n", "0").stderr and "note:" not in run(tmp_path, "runs", "-n", "3").stderr
    assert "note:" not in run(tmp_path, "runs", "-k", "3").stderr  # the filter left one
