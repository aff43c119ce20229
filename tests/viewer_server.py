"""Run the real viewer for the browser test and the benchmark: a `streamlit run` server on
a free loopback port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from recorder.view_cmd import browse_url, streamlit_command, wait_until_up

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(traces: str | os.PathLike, timeout: float = 90.0):
    """Start the app headless on 127.0.0.1; yields its base URL; stops it (its process group)."""
    port = free_port()
    cmd = streamlit_command(str(traces), None, "127.0.0.1", port)
    log = open(Path(traces) / "streamlit.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = browse_url("127.0.0.1", port)
    try:
        if not wait_until_up(proc, url, timeout):
            raise RuntimeError(f"streamlit did not come up in {timeout:.0f} s (exit code {proc.poll()}); see {log.name}")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1800):
    """A fresh chromium page (headless, no sandbox: CI runs as root in a container)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_for_replay(page, n_charts: int = 3, timeout_ms: float = 60_000) -> None:
    """Until the Replay page shows every chart drawn (Plotly's main SVG in each) and the
    app is idle (Streamlit's status widget gone)."""
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n", arg=n_charts, timeout=timeout_ms
    )
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
    )
