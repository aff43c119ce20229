"""`specviz view`: the streamlit command it runs, loopback by default, a warning otherwise."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner

from recorder.cli import cli
from synthetic_runs import record_synthetic


def run_view(monkeypatch, args):
    calls = []

    class FakeServer:
        def __init__(self, cmd, env=None):
            calls.append((cmd, env))

        def wait(self):
            return 0

        def terminate(self):
            pass

    monkeypatch.setattr(subprocess, "Popen", FakeServer)
    result = CliRunner().invoke(cli, ["view", *args])
    return result, calls


def test_view_binds_loopback_and_passes_traces_and_run(monkeypatch, tmp_path):
    run_id = record_synthetic(tmp_path, rounds=2, k=2)
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "--port", "8765", "--no-browser", run_id[:6]])
    assert result.exit_code == 0, result.output
    (cmd, env), = calls
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    app_args = cmd[cmd.index("--") + 1:]
    assert app_args == ["--traces", str(tmp_path.resolve()), "--run", run_id]
    assert "Warning" not in result.output


def test_view_warns_when_binding_elsewhere_and_rejects_unknown_run(monkeypatch, tmp_path):
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "Warning: binding to 0.0.0.0" in result.output
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "abcd"])
    assert result.exit_code == 1 and "no run 'abcd'" in result.output and not calls
