"""`specviz analyze`: acceptance with intervals, τ(K) and speedup(K), best and oracle K,
what-if replay, losslessness audit and metric conventions (specviz.analysis).

Registered on the root group by recorder.cli.
"""

from __future__ import annotations

import click

from recorder.store_cmds import _traces, _warn, note_moved


@click.command("analyze")
@click.argument("runs", nargs=-1)
@click.option("--where", "where", default=None, envvar="SPECVIZ_ANALYZE_WHERE",
              help="SQL condition over the runs table selecting runs, e.g. \"drafter LIKE 'ngram%' AND k = 4\" "
                   "(env SPECVIZ_ANALYZE_WHERE).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for scripts.")
@click.option("--replay/--no-replay", "replay", default=None,
              help="What-if replay of greedy runs at K = 1..16: default n-gram runs of selections up to 50 runs; "
                   "--replay also re-runs model drafters (slow); --no-replay skips it.")
@click.pass_context
def analyze_cmd(ctx, runs, where, fmt, replay):
    """Analyse RUNS (ids or unique prefixes; all runs when none and no --where).

    \b
    Examples:
      specviz analyze 3fa2
      specviz analyze --where "prompt LIKE 'Summarise%'" --format json
    """
    from specviz.analysis import analyze, render_text, to_json
    from specviz.sql import with_views

    mode = "auto" if replay is None else ("all" if replay else "none")
    note_moved(_traces(ctx))
    opened, report = with_views(_traces(ctx), lambda con: analyze(con, list(runs), where=where, replay=mode))
    _warn(opened.problems)
    click.echo(to_json(report).decode() if fmt == "json" else render_text(report))


COMMANDS: list = [analyze_cmd]
