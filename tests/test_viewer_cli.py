"""`specviz view`: the streamlit command it runs, loopback by default, a warning otherwise;
and a real first start in a pseudo-terminal with a fresh HOME, which must serve without input."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder import view_cmd
from recorder.cli import cli
from synthetic_runs import record_synthetic
from viewer_server import free_port

SPECVIZ = Path(sys.executable).parent / "specviz"


def run_view(monkeypatch, args):
    # The server itself is replaced here (these tests check the command line only);
    # test_first_start_in_a_terminal_serves_without_input runs the real one.
    calls = []
    monkeypatch.setattr(view_cmd, "run_server", lambda cmd, env, url, open_browser: calls.append(
        (cmd, env, url, open_browser)) or 0)
    result = CliRunner().invoke(cli, ["view", *args])
    return result, calls


def test_view_binds_loopback_and_passes_traces_and_run(monkeypatch, tmp_path):
    run_id = record_synthetic(tmp_path, rounds=2, k=2)
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "--port", "8765", run_id[:6]])
    assert result.exit_code == 0, result.output
    (cmd, env, url, open_browser), = calls
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    app_args = cmd[cmd.index("--") + 1:]
    assert app_args == ["--traces", str(tmp_path.resolve()), "--run", run_id]
    assert url == "http://127.0.0.1:8765" and not open_browser
    assert "Warning" not in result.output
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "--open", "--host", "::1"])
    assert calls[0][2:] == ("http://[::1]:8501", True)


def test_view_warns_when_binding_elsewhere_and_rejects_unknown_run(monkeypatch, tmp_path):
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "Warning: binding to 0.0.0.0" in result.output
    assert calls[0][2] == "http://127.0.0.1:8501"
    result, calls = run_view(monkeypatch, ["--traces", str(tmp_path), "abcd"])
    assert result.exit_code == 1 and "no run 'abcd'" in result.output and not calls


def read_until(fd: int, needle: str, timeout: float) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the command exited
                break
            if not chunk:
                break
            out += chunk
    return out.decode(errors="replace")


@pytest.mark.timeout(240)
def test_first_start_in_a_terminal_serves_without_input(tmp_path):
    """A machine where Streamlit never ran (empty HOME), in a real terminal (a pty, so
    Streamlit sees a TTY and would prompt for an e-mail if it were going to): the page is
    served with nothing typed, the browser is opened (--open, through $BROWSER), and only
    specviz's banner is printed."""
    home = tmp_path / "home"
    home.mkdir()
    traces = tmp_path / "traces"
    record_synthetic(traces, rounds=2, k=2)
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "opener.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    opener.chmod(0o755)
    port = free_port()
    env = dict(os.environ, HOME=str(home), BROWSER=f"{opener} %s", TERM="xterm")
    env.pop("XDG_CONFIG_HOME", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command as a user types it
        os.execve(str(SPECVIZ), [str(SPECVIZ), "view", "--traces", str(traces), "--port", str(port), "--open"], env)
    try:
        out = read_until(fd, "Ctrl-C to stop", timeout=180)
        url = f"http://127.0.0.1:{port}"
        assert f"specviz viewer on {url}" in out, out
        for path in ("/_stcore/health", "/"):
            with urllib.request.urlopen(url + path, timeout=10) as r:
                assert r.status == 200
        out += read_until(fd, "\n", timeout=2)
        # "No runtime found": Streamlit's warning for a @st.cache_data decorated before its
        # runtime starts (the server module imports the viewer's cached readers).
        for chatter in ("Email", "Welcome to Streamlit", "You can now view", "usage statistics", "gatherUsageStats",
                        "Uvicorn", "No runtime found"):
            assert chatter not in out, out
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert opened.read_text().strip() == url
        assert not (home / ".streamlit" / "credentials.toml").exists()
    finally:
        os.killpg(pid, signal.SIGTERM)  # the pty child leads its own process group
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) in (0, -signal.SIGTERM)
