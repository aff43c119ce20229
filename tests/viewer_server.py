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
    """Start the app headless on 127.0.0.1; yields its base URL; stops it (its process group).
    ``traces``: a directory (the log is written into it) or a trace file (beside it)."""
    port = free_port()
    cmd = streamlit_command(str(traces), None, "127.0.0.1", port)
    log = open((Path(traces) if Path(traces).is_dir() else Path(traces).parent) / "streamlit.log", "wb")
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


def player_frame(page, timeout_ms: float = 60_000):
    """The Replay player's iframe (a Streamlit component), once its script is running."""
    handle = page.wait_for_selector("iframe[title*='specviz_player']", timeout=timeout_ms)
    frame = handle.content_frame()
    frame.wait_for_function("() => window.specviz !== undefined", timeout=timeout_ms)
    return frame


def player_with_run(page, run_id: str, timeout_ms: float = 60_000):
    """The player frame once it holds `run_id` (after a switch, the old frame may linger)."""
    page.wait_for_function(
        """id => [...document.querySelectorAll('iframe')].some((f) => {
            const p = f.contentWindow && f.contentWindow.specviz;
            return p && p.run && p.run.d.run.run_id === id; })""", arg=run_id, timeout=timeout_ms)
    for handle in page.query_selector_all("iframe"):
        frame = handle.content_frame()
        if frame and frame.evaluate("id => !!(window.specviz && window.specviz.run && window.specviz.run.d.run.run_id === id)", run_id):
            return frame
    raise LookupError(run_id)


def wait_for_replay(page, timeout_ms: float = 60_000):
    """Until the Replay player has the run and every chart drawn for its position; returns
    the player's frame."""
    frame = player_frame(page, timeout_ms)
    frame.wait_for_function("() => window.specviz.drawn()", timeout=timeout_ms)
    return frame
