"""`specviz view`: start the Streamlit replay viewer on the trace directory.

Commands of this module are registered on the root group by recorder.cli.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

APP = Path(__file__).resolve().parent.parent / "viewer" / "app.py"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
EXAMPLES = "examples"  # committed example traces, used when the directory has no runs


def _has_runs(traces: Path) -> bool:
    return any(traces.glob("date=*/run-*.parquet")) or any(traces.glob("_live/run-*.jsonl"))


def streamlit_command(traces: str, run: str | None, host: str, port: int, headless: bool) -> list[str]:
    """The `streamlit run` command line: server flags before `--`, the app's own after."""
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false",
        "--", "--traces", traces,
    ]
    if run:
        cmd += ["--run", run]
    return cmd


@click.command("view")
@click.argument("run", required=False)
@click.option("--traces", "traces_opt", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Trace directory (default: the root --traces / SPECVIZ_TRACES).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes your traces to the network.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab (headless server).")
@click.pass_context
def view_command(ctx: click.Context, run: str | None, traces_opt: str | None, port: int, host: str, no_browser: bool) -> None:
    """Replay runs in the browser: token tree, timeline, metrics, compare, SQL.

    \b
    Examples:
      specviz view                 # every run in ./traces
      specviz view 3fa2            # open run 3fa2... on the Replay page
      specviz view --traces other --port 8600
    """
    root = ctx.find_root()
    traces = Path(traces_opt or (root.obj or {}).get("traces", "traces"))
    explicit = traces_opt is not None or root.get_parameter_source("traces_dir") not in (
        click.core.ParameterSource.DEFAULT, None)
    if not explicit and not _has_runs(traces) and _has_runs(traces / EXAMPLES):
        click.echo(f"No runs in {traces}; showing the example traces in {traces / EXAMPLES}.", err=True)
        traces = traces / EXAMPLES
    if run:
        from specviz.store import resolve

        run = resolve(traces, run).run_id
    if host not in LOCAL_HOSTS:
        click.echo(click.style(
            f"Warning: binding to {host} makes the viewer (and every trace in {traces}) reachable from "
            "other machines. It has no authentication.", fg="yellow"), err=True)
    cmd = streamlit_command(str(traces.resolve()), run, host, port, headless=no_browser)
    click.echo(f"specviz viewer on http://{host}:{port} (Ctrl-C to stop)", err=True)
    env = dict(os.environ, SPECVIZ_TRACES=str(traces.resolve()))
    proc = subprocess.Popen(cmd, env=env)
    # A TERM sent to this command alone must not leave the server running.
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group)
        code = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    ctx.exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code)


COMMANDS = [view_command]
