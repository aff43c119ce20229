"""Library errors reach the user as one `Error:` line from one place (recorder.cli)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from recorder.cli import SpecvizGroup
from specviz.engine import EngineError
from specviz.errors import SpecvizError
from specviz.models.bundled import BundledModelError
from specviz.store import TraceError
from specviz.targets.errors import TargetError


def _cli_raising(exc: BaseException) -> click.Group:
    @click.group(cls=SpecvizGroup)
    def root() -> None:
        pass

    @root.command()
    def boom() -> None:
        raise exc

    return root


@pytest.mark.parametrize("error", [TraceError, EngineError, TargetError, BundledModelError])
def test_every_layer_error_is_a_specviz_error(error):
    assert issubclass(error, SpecvizError)


@pytest.mark.parametrize("exc, line", [
    (TraceError("no run 'ab' in traces\nsecond line"), "Error: no run 'ab' in traces"),
    (EngineError("bad drafter 'x'"), "Error: bad drafter 'x'"),
    (FileNotFoundError(2, "No such file or directory", "p.jsonl"), "Error: p.jsonl: No such file or directory"),
])
def test_user_errors_print_one_line_and_exit_1(exc, line):
    result = CliRunner().invoke(_cli_raising(exc), ["boom"])
    assert result.exit_code == 1
    assert result.output.strip() == line
    assert "Traceback" not in result.output


def test_bugs_keep_their_traceback():
    result = CliRunner().invoke(_cli_raising(ZeroDivisionError("bug")), ["boom"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_duckdb_errors_are_user_errors(tmp_path):
    from recorder.cli import cli

    result = CliRunner().invoke(cli, ["--traces", str(tmp_path), "sql", "SELECT * FROM no_such_view"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1


def test_output_into_a_closed_pipe_is_no_error(tmp_path):
    """`specviz show pack.parquet | head` (a file of many runs): the reader leaves early, the
    next write fails with EPIPE. That is the reader's choice, not an error: no `Error: Broken
    pipe` line (the OSError handler took it for a file the user named), exit as Click does."""
    import subprocess
    import sys
    from pathlib import Path

    from synthetic_runs import record_synthetic

    record_synthetic(tmp_path, rounds=2, k=2)
    specviz = Path(sys.executable).parent / "specviz"
    proc = subprocess.Popen([str(specviz), "--traces", str(tmp_path), "runs"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before it writes anything: its first write meets a closed pipe
    _, err = proc.communicate(timeout=60)
    assert b"Error" not in err and b"Traceback" not in err, err
    assert proc.returncode == 1


def test_an_error_duckdb_raises_itself_is_one_line(tmp_path):
    """DuckDB 2's exception classes live in `_duckdb`: one escaping a command (the views
    meeting a damaged page, say) kept its traceback. A real one, from a real query."""
    import duckdb

    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    try:
        duckdb.connect().execute(f"SELECT * FROM read_parquet('{damaged}')")
    except duckdb.Error as e:
        error = e
    assert type(error).__module__ == "_duckdb"
    result = CliRunner().invoke(_cli_raising(error), ["boom"])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and len(result.output.splitlines()) == 1
