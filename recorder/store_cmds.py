"""Commands that read and move traces: runs, show, sql, export, import, recover.

The library raises `TraceError` with a one-line message; the root group (recorder.cli)
turns it into a `click.ClickException`, so users never see a traceback.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import sys
from collections import Counter
from pathlib import Path

import click
import msgspec

from specviz.events import RunFinished, RunStarted, Verify
from specviz.sql import DEFAULT_TIMEOUT_S, QueryInterrupted, query, with_views
from specviz.statuses import LISTED_RUN_STATUSES, TERMINAL_COLOURS
from specviz.store import (
    Listing,
    TraceError,
    export_runs,
    import_files,
    moved_notes,
    read_events,
    read_run,
    recover,
    resolve,
    scan,
    scan_sources,
    write_output,
)
from specviz.store.layout import names_a_file, printable

FORMATS = click.Choice(["table", "csv", "json"])
_JSON = msgspec.json.Encoder()


def _traces(ctx: click.Context) -> Path:
    return Path((ctx.obj or {}).get("traces", "traces"))


def _warn(problems) -> None:
    for p in problems:
        click.echo(f"warning: {printable(str(p))}", err=True)


def note_moved(*sources) -> None:
    """One line on stderr for each named run file or live log the store moved since (its run
    is read from where it is now: a pack, its published file)."""
    for note in moved_notes([s for s in sources if names_a_file(s)]):
        click.echo(f"note: {printable(note)}", err=True)


SOURCES = click.argument("sources", nargs=-1, metavar="[FILE|DIR]...", type=click.Path(path_type=Path))


def _listing(ctx: click.Context, sources: tuple[Path, ...] = ()) -> Listing:
    """Runs of the given trace files and directories, else of the trace directory.

    A bad file is a warning and the good ones beside it are listed; when nothing but
    bad files was named, the first problem is the command's one error line.
    """
    named = list(sources) or [_traces(ctx)]
    if not sources and not names_a_file(named[0]):
        return scan(named[0])  # the trace directory (none yet: no runs)
    note_moved(*named)
    listing = scan_sources(named)
    if listing.problems and not listing.runs and not any(s.is_dir() for s in named):
        more = len(listing.problems) - 1
        raise TraceError(printable(str(listing.problems[0])) + (f" (and {more} more bad files)" if more else ""))
    return listing


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (list, dict, tuple)):
        return _JSON.encode(value).decode()
    return str(value)


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict, tuple)):
        return _JSON.encode(value).decode()
    return value


def _render(columns: list[str], rows: list[tuple], fmt: str, *, width: int = 48) -> str:
    if fmt == "json":
        return _JSON.encode([dict(zip(columns, r)) for r in rows]).decode()
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        w.writerows([[_csv_cell(v) for v in r] for r in rows])
        return out.getvalue().rstrip("\n")
    cells = [[printable(_cell(v).replace("\n", "\\n"))[:width] for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _when(ns: int) -> str:
    try:
        return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M") if ns else ""
    except (OverflowError, OSError, ValueError, TypeError):  # a damaged clock in a file
        return "?"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


@click.command("runs")
@click.option("--status", type=click.Choice(LISTED_RUN_STATUSES), help="Only runs with this status.")
@click.option("--method", help="Only runs with this method (speculative, autoregressive, mlx-lm).")
@click.option("--drafter", help="Only runs whose drafter spec contains this text.")
@click.option("--target", help="Only runs whose target spec or model contains this text.")
@click.option("-k", "k", type=int, help="Only runs with this draft length K.")
@click.option("--prompt", "prompt_text", help="Only runs whose prompt contains this text (case-insensitive).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]), help="Only runs started at or after this local time.")
@click.option("-n", "--limit", type=int, default=50, show_default=True, help="Show at most this many runs (0: all).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--problems", "show_problems", is_flag=True, help="List the files that could not be read, and why, instead of runs.")
@SOURCES
@click.pass_context
def runs_cmd(ctx, status, method, drafter, target, k, prompt_text, since, limit, fmt, show_problems, sources):
    """List runs, newest first (live runs show as `recording`).

    With FILE or DIR arguments, lists the runs in those trace files and directories
    instead of the trace directory.
    """
    listing = _listing(ctx, sources) if not show_problems else scan_sources(list(sources) or [_traces(ctx)])
    if show_problems:
        _print_problems(listing, fmt)
        return
    _warn(listing.problems)
    abandoned = sum(1 for s in listing.runs if s.status == "interrupted" and s.path.suffix == ".jsonl")
    if abandoned:
        click.echo(f"note: {abandoned} run(s) left by a stopped recorder; `specviz recover` publishes them as Parquet", err=True)
    _hint_compact(listing)
    rows, hidden = [], 0
    for s in listing.runs:
        st, fin = s.started, s.finished
        if (status and s.status != status) or (method and st.method != method) or (k is not None and st.k != k):
            continue
        if drafter and drafter not in st.drafter:
            continue
        if target and target not in st.target and target not in st.target_model:
            continue
        if prompt_text and prompt_text.lower() not in st.prompt.lower():
            continue
        if since and st.t_wall_ns < since.timestamp() * 1e9:
            continue
        if limit and len(rows) >= limit:
            hidden += 1
            continue
        rows.append(
            (
                s.run_id if fmt != "table" else s.run_id[:12],
                _when(st.t_wall_ns) if fmt == "table" else dt.datetime.fromtimestamp(st.t_wall_ns / 1e9, dt.timezone.utc).isoformat(),
                s.status,
                st.method,
                st.drafter,
                st.target,
                st.k,
                st.temperature,
                fin.produced if fin else None,
                (_pct(fin.acceptance_rate) if fmt == "table" else fin.acceptance_rate) if fin else None,
                (round(fin.tokens_per_s, 1) if fin.tokens_per_s is not None else None) if fin else None,
                (round(fin.speedup, 2) if fin.speedup is not None else None) if fin else None,
                st.prompt if fmt != "table" else st.prompt.replace("\n", " ")[:40],
            )
        )
    columns = ["run", "started", "status", "method", "drafter", "target", "k", "temp", "tokens", "acceptance", "tok/s", "speedup", "prompt"]
    if not rows and fmt == "table":
        where = ", ".join(map(str, sources)) if sources else _traces(ctx)
        click.echo(f"no runs in {where}" + (" match" if listing.runs else ""), err=True)
        return
    click.echo(_render(columns, rows, fmt))
    if hidden and ctx.get_parameter_source("limit") is click.core.ParameterSource.DEFAULT:
        click.echo(f"note: the newest {len(rows):,} of {len(rows) + hidden:,} runs are shown; -n 0 lists all", err=True)


COMPACT_HINT_FILES = 256  # from here on, opening footers costs more than a query across runs


def _hint_compact(listing: Listing) -> None:
    single = sum(1 for f in listing.files if f.path.name.startswith("run-"))
    if single >= COMPACT_HINT_FILES:
        click.echo(f"note: {single:,} run files; `specviz compact` packs them so queries across runs open a few files", err=True)


def _print_problems(listing: Listing, fmt: str) -> None:
    if not listing.problems and fmt == "table":
        click.echo("no problems: every file is readable", err=True)
        return
    rows = [(str(p.path), printable(p.message)) for p in listing.problems]
    click.echo(_render(["file", "problem"], rows, fmt, width=200))


def _coloured_output(events: list, finished: RunFinished | None, eos_ids: list[int]) -> str:
    # The EOS token is produced (and counted) but is not part of the text, as in output_text.
    committed = [
        e for e in events if isinstance(e, Verify) and e.status in TERMINAL_COLOURS and e.token_id not in eos_ids
    ]
    if not committed:
        return printable(finished.output_text, keep="\n\t") if finished else ""
    return "".join(click.style(printable(str(e.token_text), keep="\n\t"), fg=TERMINAL_COLOURS[e.status]) for e in committed)


@click.command("show")
@click.argument("run", metavar="RUN|FILE")
@click.option("--color/--no-color", default=None, help="Colour the output text (default: when writing to a terminal).")
@click.pass_context
def show_cmd(ctx, run, color):
    """Show a run's configuration, totals and output, coloured by how each token was produced.

    RUN is a run id or any unique prefix of one; or name a trace file (.parquet, or a
    live .jsonl log) to show the runs in it.
    """
    if Path(run).suffix in (".parquet", ".jsonl") or Path(run).is_file():
        listing = _listing(ctx, (Path(run),))
        _warn(listing.problems)
        for i, summary in enumerate(sorted(listing.runs, key=lambda s: s.started.t_wall_ns)):
            click.echo("\n" if i else "", nl=False)
            _show_run(summary, read_run(summary), color)
        return
    traces = _traces(ctx)
    note_moved(traces)
    summary = resolve(traces, run)
    _show_run(summary, read_events(traces, summary.run_id), color)


def _show_run(summary, events: list, color: bool | None) -> None:
    st: RunStarted = events[0] if events and isinstance(events[0], RunStarted) else summary.started
    fin = next((e for e in reversed(events) if isinstance(e, RunFinished)), None)
    lines = [
        f"run         {summary.run_id}  ({summary.status})",
        f"started     {_when(st.t_wall_ns)}   events {len(events)}   file {summary.path}",
        f"method      {st.method}   acceptance rule {st.acceptance_rule}",
        f"drafter     {st.drafter or '-'}{'  (' + st.draft_model + ')' if st.draft_model else ''}",
        f"target      {st.target or '-'}{'  (' + st.target_model + ')' if st.target_model else ''}",
        f"sampling    k={st.k} temperature={st.temperature} top_p={st.top_p} top_k={st.top_k} max_tokens={st.max_tokens} seed={st.seed}",
        f"prompt      {st.prompt}",
    ]
    if fin is not None:
        tps = f"{fin.tokens_per_s:.1f}" if fin.tokens_per_s is not None else "-"
        speed = f"{fin.speedup:.2f}x" if fin.speedup is not None else "-"
        lines.append(
            f"result      {fin.status} ({fin.finish_reason or '-'}): {fin.produced} tokens in {fin.rounds} rounds, "
            f"acceptance {_pct(fin.acceptance_rate) or '-'} ({fin.accepted}/{fin.tested}), {tps} tok/s, speedup {speed}"
        )
    lines += _remote_lines(st, events)
    errors = [e for e in events if e.__struct_config__.tag == "error"]
    for e in errors[:5]:
        lines.append(f"error       [{e.where}] {e.message}")
    if len(errors) > 5:
        lines.append(f"            ... and {len(errors) - 5} more errors")
    click.echo(printable("\n".join(lines), keep="\n"))
    legend = " ".join(click.style(s, fg=c) for s, c in TERMINAL_COLOURS.items())
    click.echo(f"\noutput      ({legend})", color=color)
    click.echo(_coloured_output(events, fin, st.eos_token_ids), color=color)


def _remote_lines(st: RunStarted, events: list) -> list[str]:
    """What a remote target was sent and ignored, and why rows are not exact (with counts)."""
    lines = []
    if st.target_params:
        lines.append("sent        " + " ".join(f"{k}={v}" for k, v in st.target_params.items()))
    if st.target_ignored:
        lines.append(f"ignored     {', '.join(st.target_ignored)} (refused by the server)")
    reasons = Counter(e.inexact_reason or "(no reason recorded)" for e in events
                      if e.__struct_config__.tag == "verify" and not e.exact)
    rounds = len({e.round for e in events if e.__struct_config__.tag == "verify" and not e.exact})
    if reasons:
        lines.append(f"inexact     {sum(reasons.values())} verify rows in {rounds} rounds:")
        lines += [f"            {n}x {reason}" for reason, n in reasons.most_common(3)]
        if len(reasons) > 3:
            lines.append(f"            ... and {len(reasons) - 3} more reasons")
    return lines


TABLE_ROWS = 1000  # the table format's default --max-rows


@click.command("sql")
@click.argument("query_text", metavar="QUERY")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option("--max-rows", type=click.IntRange(min=0), default=None,
              help=f"Print at most this many rows (0: all). Default: {TABLE_ROWS:,} for the table format, all for csv and json.")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Stop the query after this many seconds (0: no limit).")
@click.option("--traces", "sources", multiple=True, type=click.Path(path_type=Path),
              help="Query these trace files or directories instead of the trace directory (repeatable).")
@click.pass_context
def sql_cmd(ctx, query_text, fmt, max_rows, timeout, sources):
    """Run a read-only SQL query over the trace views.

    \b
    Views: runs, events, drafts, verifications, rounds, tokens, errors.
    Allowed: SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT, UNPIVOT, EXPLAIN [ANALYZE];
    anything that writes or changes settings is refused. Ctrl-C stops a running query.
    Example:
      specviz sql "SELECT k, temperature, avg(acceptance_rate) FROM runs GROUP BY ALL"
    """
    # A table is for reading: a query that returns millions of rows would otherwise be held
    # in memory and laid out as text before anything is printed.
    limit = (TABLE_ROWS if fmt == "table" else 0) if max_rows is None else max_rows
    note_moved(*(sources or [_traces(ctx)]))
    try:
        opened, result = with_views(list(sources) if sources else _traces(ctx), lambda con: query(
            con, query_text, max_rows=limit + 1 if limit else None, timeout=timeout))
        _warn(opened.problems)
    except (QueryInterrupted, KeyboardInterrupt) as e:
        # 130 = killed by SIGINT, the shell convention; one line, no traceback.
        click.echo(f"Error: {e if isinstance(e, QueryInterrupted) else 'interrupted'}", err=True)
        _exit_at_once(ctx, 130)
    rows = result.rows[:limit] if limit else result.rows
    click.echo(_render(result.columns, rows, fmt, width=60))
    if limit and len(result.rows) > limit:
        click.echo(f"note: the first {limit:,} rows are shown; --max-rows 0 prints all of them "
                   "(or --format csv / json, which print all by default)", err=True)


def _exit_at_once(ctx: click.Context, code: int) -> None:
    """Exit now, skipping the interpreter's teardown.

    Ctrl-C should give the prompt back at once, but tearing down the interpreter runs the
    cyclic GC over every imported module (~1 s on a loaded 2-core machine). A stopped
    query leaves nothing to finalize (connection closed, nothing written). In-process
    callers (CliRunner, whose streams have no file descriptor) get a normal exit.
    """
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        ctx.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


EXPORT_FORMATS = {".parquet": "parquet", ".json": "perfetto", ".html": "html", ".htm": "html"}


@click.command("export")
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "perfetto", "html"]), default=None,
              help="parquet: a trace file any specviz, DuckDB or Polars reads; perfetto: Chrome Trace Event "
                   "JSON for ui.perfetto.dev and chrome://tracing; html: one run as a self-contained replay that "
                   "opens offline in a browser. Default: from the file's extension (.json = perfetto, .html = html).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists (never a link or a device).")
@click.pass_context
def export_cmd(ctx, runs, output, fmt, force):
    """Write one or more runs (ids or unique prefixes) into one shareable file.

    \b
    Examples:
      specviz export 3fa2 9c01 -o two-runs.parquet
      specviz export 3fa2 --format perfetto -o 3fa2.json    # open in ui.perfetto.dev
      specviz export 3fa2 -o 3fa2.html                      # a replay anyone can open offline
    """
    fmt = fmt or EXPORT_FORMATS.get(output.suffix.lower(), "parquet")
    note_moved(_traces(ctx))
    if fmt == "html":
        return _export_html(_traces(ctx), runs, output, force)
    if fmt == "perfetto":
        path = _export_perfetto(_traces(ctx), runs, output, force)
    else:
        path = export_runs(_traces(ctx), list(runs), output, force=force)
    click.echo(f"exported {len(set(runs))} run(s) to {path} ({path.stat().st_size:,} bytes)")


def _export_perfetto(traces: Path, runs, output: Path, force: bool) -> Path:
    from specviz.perfetto import chrome_trace

    ids = list(dict.fromkeys(resolve(traces, r).run_id for r in runs))
    document = chrome_trace(read_events(traces, run_id) for run_id in ids)
    return write_output(output, _JSON.encode(document), force=force)


def _export_html(traces: Path, runs: tuple[str, ...], output: Path, force: bool) -> None:
    from specviz.replay import build_index
    from viewer.player.export import render_html

    if len(set(runs)) != 1:
        raise click.ClickException("an HTML replay holds one run: give exactly one run id")
    events = read_events(traces, runs[0])
    if not events:
        raise click.ClickException(f"run {runs[0]} has no events")
    path = write_output(output, render_html(build_index(events)).encode(), force=force)
    click.echo(f"exported run {events[0].run_id} to {path} ({path.stat().st_size:,} bytes; opens offline in a browser)")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def import_cmd(ctx, files):
    """Validate trace files and copy their runs into the trace directory.

    Runs already present are refused; each bad file is reported and the others imported.
    """
    note_moved(*[f for f in files if f.suffix == ".parquet"])  # a live log is never imported
    report = import_files(_traces(ctx), list(files))
    for run_id, path in report.imported:
        click.echo(f"imported {run_id} -> {path}")
    if report.problems:
        for p in report.problems:
            click.echo(f"Error: {printable(str(p))}", err=True)
        ctx.exit(1)


@click.command("recover")
@click.pass_context
def recover_cmd(ctx):
    """Turn logs left by crashed recordings into traces marked `interrupted`.

    Logs of runs still being recorded by a live process are left alone.
    """
    report = recover(_traces(ctx))
    if report.cleaned:
        click.echo(f"removed {len(report.cleaned)} temp file(s) left by a killed recover or import")
    for run_id, path, n, torn in report.recovered:
        click.echo(f"recovered {run_id}: {n} events{' (torn last write dropped)' if torn else ''} -> {path}")
    for run_id in report.live:
        click.echo(f"skipped {run_id}: still being recorded")
    if not report.recovered and not report.live and not report.problems:
        click.echo("nothing to recover")
    if report.problems:
        for p in report.problems:
            click.echo(f"Error: {printable(str(p))}", err=True)
        ctx.exit(1)


@click.command("compact")
@click.pass_context
def compact_cmd(ctx):
    """Pack each day's finished runs into a few large files, so queries across many runs
    open a few footers instead of one per run (a 1,000-run store: ~6x less CPU per query).

    Safe to interrupt at any moment; run it again to finish. Runs are read and listed as
    before; live runs, older-schema files and unreadable files are left as they are.
    """
    from specviz.store.compact import compaction_lock, plan_compaction

    traces = _traces(ctx)
    with contextlib.ExitStack() as held:
        if not held.enter_context(compaction_lock(traces, wait=False)):
            click.echo("waiting for another compaction of these traces to finish", err=True)
            held.enter_context(compaction_lock(traces))
        plan = plan_compaction(traces)
        if plan.files and sys.stderr.isatty():
            with click.progressbar(length=plan.files, label="packing run files", file=sys.stderr, show_pos=True) as bar:
                report = plan.run(progress=bar.update)
        else:
            report = plan.run()
    packs = sorted({str(p) for _, p in report.packed})
    if report.packed:
        click.echo(f"packed {len(report.packed)} runs into {len(packs)} file(s): "
                   f"{report.bytes_before / 1e6:,.1f} MB -> {report.bytes_after / 1e6:,.1f} MB")
    leftovers = len(report.removed) - len(report.packed)
    if leftovers > 0:
        click.echo(f"removed {leftovers} run file(s) an interrupted compact had already packed")
    if not report.packed and leftovers <= 0 and not report.problems:
        click.echo("nothing to compact")
    if report.unreadable:
        click.echo(f"note: left alone {report.unreadable} file(s) that cannot be read (see `specviz runs --problems`)", err=True)
    if report.problems:
        for p in report.problems:
            click.echo(f"Error: {printable(str(p))}", err=True)
        ctx.exit(1)


COMMANDS: list = [runs_cmd, show_cmd, sql_cmd, export_cmd, import_cmd, recover_cmd, compact_cmd]
