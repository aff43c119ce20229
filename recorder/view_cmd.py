"""`specviz view`: start the Streamlit replay viewer on the trace directory.

Commands of this module are registered on the root group by recorder.cli.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import webbrowser
from pathlib import Path

import click

APP = Path(__file__).resolve().parent.parent / "viewer" / "server.py"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
EXAMPLES = "examples"  # committed example traces, used when the directory has no runs


def _has_runs(traces: Path) -> bool:
    return any(traces.glob("date=*/*.parquet")) or any(traces.glob("_live/run-*.jsonl"))


def streamlit_command(traces: str | list[str], run: str | None, host: str, port: int) -> list[str]:
    """The `streamlit run` command line: server flags before `--`, the app's own after.

    Streamlit asks for an e-mail address on its first start (no
    ~/.streamlit/credentials.toml) unless it runs headless or showEmailPrompt is off;
    both are set, so a first start never waits on a prompt. specviz opens the browser
    itself (``--open``), watches no source files (nothing to hot-reload for users),
    shows no developer toolbar (no Deploy button) and logs only warnings and errors (its
    "Uvicorn server started" line is not for users: specviz prints its own banner).
    """
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.showEmailPrompt", "false",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
        "--logger.level", "warning",
        "--",
    ]
    for source in [traces] if isinstance(traces, str) else traces:
        cmd += ["--traces", source]
    if run:
        cmd += ["--run", run]
    return cmd


def browse_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server bound to `host`."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def wait_until_up(proc: subprocess.Popen, url: str, timeout: float = 120.0) -> bool:
    """Until the server answers its health check; False if it exits (or never answers)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def run_server(cmd: list[str], env: dict, url: str, open_browser: bool) -> int:
    """Run Streamlit until it stops; print specviz's banner once it serves; its exit code."""
    # Streamlit's stdout carries only its own chatter (URLs, the usage-statistics notice,
    # advertisements); its log, errors included, goes to stderr, which stays visible.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    # A TERM sent to this command alone must not leave the server running.
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        up = wait_until_up(proc, url)
        if proc.poll() is None:
            click.echo(f"specviz viewer on {url} (Ctrl-C to stop)" + ("" if up else " - not answering yet"), err=True)
            if open_browser:
                webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group)
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_sources(paths: list[Path], run: str | None) -> str | None:
    """Check trace files and directories before the server starts; the run to open on
    Replay (``run``, or the only run), or None for the Runs page. No runs at all: one
    clear line (the problem itself when there is one); else a warning per unreadable file."""
    from recorder.store_cmds import note_moved
    from specviz.store import TraceError, resolve, scan_sources

    note_moved(*paths)
    listing = scan_sources(paths)
    if not listing.runs:
        if len(listing.problems) == 1:
            raise TraceError(str(listing.problems[0]))
        raise TraceError(f"no runs in {', '.join(map(str, paths))}")
    for problem in listing.problems:
        click.echo(f"warning: {problem}", err=True)
    if run:
        return resolve(", ".join(map(str, paths)), run, listing).run_id
    return listing.runs[0].run_id if len(listing.runs) == 1 else None


def _split_targets(targets: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """RUN (an id prefix: anything that is not a path) and the trace files and directories."""
    run, paths = None, []
    for t in targets:
        if os.path.lexists(t) or Path(t).suffix in (".parquet", ".jsonl"):
            paths.append(t)
        elif run is None:
            run = t
        else:
            raise click.UsageError(f"{t}: no such file or directory (and only one RUN may be given)")
    return run, paths


@click.command("view")
@click.argument("targets", nargs=-1, metavar="[RUN] [FILE|DIR]...")
@click.option("--traces", "traces_opt", type=click.Path(path_type=str), default=None,
              help="Trace directory or trace file (default: the root --traces / SPECVIZ_TRACES).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes your traces to the network.")
@click.option("--open", "open_browser", is_flag=True, help="Open the viewer in a browser tab once it serves.")
@click.option("--no-browser", is_flag=True, hidden=True, help="Kept for old scripts: never opening is the default.")
@click.pass_context
def view_command(ctx: click.Context, targets: tuple[str, ...], traces_opt: str | None, port: int, host: str,
                 open_browser: bool, no_browser: bool) -> None:
    """Replay runs in the browser: token tree, timeline, metrics, compare, SQL.

    \b
    Examples:
      specviz view                 # every run in ./traces
      specviz view --open          # ...and open it in a browser tab
      specviz view 3fa2            # open run 3fa2... on the Replay page
      specviz view shared.parquet  # a trace file someone sent: straight to Replay
      specviz view a.parquet b.parquet ../lab/traces   # several files and directories at once
      specviz view --traces other --port 8600
    """
    root = ctx.find_root()
    run, paths = _split_targets(targets)
    if traces_opt:
        paths.insert(0, traces_opt)
    from specviz.store.layout import real_path

    if len(paths) > 1:
        several = [real_path(p) for p in paths]
        for path in several:
            if os.pathsep in str(path):
                raise click.UsageError(f"{path}: a path with {os.pathsep!r} in it cannot be one of several sources")
        run = _open_sources(several, run)
        _serve(ctx, [str(p) for p in several], run, host, port, open_browser and not no_browser)
        return
    traces_opt = paths[0] if paths else None
    traces = Path(traces_opt or (root.obj or {}).get("traces", "traces"))
    explicit = traces_opt is not None or root.get_parameter_source("traces_dir") not in (
        click.core.ParameterSource.DEFAULT, None)
    if not explicit and not _has_runs(traces) and _has_runs(traces / EXAMPLES):
        click.echo(f"No runs in {traces}; showing the example traces in {traces / EXAMPLES}.", err=True)
        traces = traces / EXAMPLES
    if not traces.is_dir() and (os.path.lexists(traces) or traces.suffix in (".parquet", ".jsonl")):
        run = _open_sources([traces], run)
    elif run:
        from specviz.store import resolve

        run = resolve(traces, run).run_id
    _serve(ctx, [str(real_path(traces))], run, host, port, open_browser and not no_browser)


def _serve(ctx: click.Context, sources: list[str], run: str | None, host: str, port: int, open_browser: bool) -> None:
    if host not in LOCAL_HOSTS:
        click.echo(click.style(
            f"Warning: binding to {host} makes the viewer (and every trace in {', '.join(sources)}) reachable from "
            "other machines. It has no authentication.", fg="yellow"), err=True)
    cmd = streamlit_command(sources, run, host, port)
    env = dict(os.environ, SPECVIZ_TRACES=os.pathsep.join(sources))
    code = run_server(cmd, env, browse_url(host, port), open_browser)
    ctx.exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code)


COMMANDS = [view_command]
