"""`specviz dataset`: the disagreement dataset of recorded runs (specviz.dataset)."""

from __future__ import annotations

import click


@click.command("dataset")
@click.argument("runs", nargs=-1)
@click.option("--where", "where", metavar="SQL",
              help="Select runs with a SQL predicate over the runs view, e.g. \"drafter LIKE 'layerskip%'\".")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write; .jsonl means JSONL unless --format says otherwise.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default=None,
              help="parquet (default; token ids and numbers) or jsonl (mlx_lm.lora's text format).")
@click.option("--rejected-only", is_flag=True, help="Only positions where the target rejected the draft token.")
@click.option("--tokenizer", default="bundled", show_default=True,
              help="Model whose tokenizer decodes JSONL text: bundled or mlx:<repo or path>.")
@click.pass_context
def dataset_command(ctx, runs, where, output, fmt, rejected_only, tokenizer) -> None:
    """One row per tested draft position of RUN... (unique prefixes) and/or --where runs.

    \b
    Examples:
      specviz dataset 3fa2 91c0 -o disagreements.parquet
      specviz dataset --where "drafter = 'layerskip:8'" --rejected-only -o rejected.parquet
      specviz dataset --where "true" -o train.jsonl
    """
    from specviz import dataset

    traces = (ctx.obj or {}).get("traces", "traces")
    ids = dataset.select_runs(traces, runs, where)
    table = dataset.build(traces, ids, rejected_only=rejected_only)
    tok = None
    if (fmt or ("jsonl" if output.endswith(".jsonl") else "parquet")) == "jsonl":
        from specviz.models.loading import load_mlx

        _, tok, _ = load_mlx("bundled" if tokenizer == "bundled" else tokenizer.removeprefix("mlx:"))
    path = dataset.write(table, output, fmt, tok)
    click.echo(f"{table.num_rows} rows from {len(ids)} runs -> {path}")


COMMANDS = [dataset_command]
