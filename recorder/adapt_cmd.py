"""`specviz adapt`: LoRA-train a model drafter toward the target, and measure it (specviz.adapt)."""

from __future__ import annotations

import statistics
import sys
import time

import click

from recorder.record_cmds import read_prompts


def _source_items(ctx, target, prompts_file, dataset_file, runs, max_tokens):
    from specviz import dataset
    from specviz.adapt import items_from_prompts, items_from_table

    given = [x for x in (prompts_file, dataset_file, runs) if x]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --prompts FILE, --dataset FILE or --runs RUN,...")
    if prompts_file:
        click.echo(f"Generating the target's outputs for {prompts_file} (self-distillation)...", err=True)
        return items_from_prompts(target, read_prompts(prompts_file), max_tokens), f"prompts:{prompts_file}"
    if dataset_file:
        return items_from_table(dataset.read(dataset_file)), f"dataset:{dataset_file}"
    traces = (ctx.obj or {}).get("traces", "traces")
    ids = dataset.select_runs(traces, [r for r in runs.split(",") if r])
    return items_from_table(dataset.build(traces, ids)), f"runs:{','.join(ids)}"


def _record_all(target, spec, prompts, traces, max_tokens, label):
    from specviz.engine import Engine, RunOptions
    from specviz.engine.drafters import build_drafter

    engine = Engine(target, build_drafter(spec, target), drafter_spec=spec)
    options = RunOptions(max_tokens=max_tokens, tags={"adapt": label})
    with click.progressbar(prompts, label=f"Recording {label} ({spec})", file=sys.stderr) as bar:
        return [engine.record(p, options, traces=traces) for p in bar]


def _summary(results) -> dict:
    fin = [r.finished for r in results]
    tested = sum(f.tested for f in fin)
    return {
        "acceptance": sum(f.accepted for f in fin) / tested if tested else 0.0,
        "tau": statistics.mean(f.tau or 0 for f in fin),
        "tok_s": statistics.mean(f.tokens_per_s or 0 for f in fin),
        "runs": [r.run_id[:12] for r in results],
    }


def compare_links(before: list[str], after: list[str], prompts: list[str]) -> list[str]:
    """One Compare deep link per evaluation prompt: its run before and after training."""
    return [f"  /compare?runs={a},{b}   {p[:60]!r}" for a, b, p in zip(before, after, prompts)]


@click.command("adapt")
@click.option("--drafter", required=True, help="Model drafter to adapt: layerskip:N or mlx:<repo or path>.")
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False),
              help="Self-distillation: the target's greedy outputs on these prompts are the labels.")
@click.option("--dataset", "dataset_file", type=click.Path(exists=True, dir_okay=False),
              help="A Parquet file from `specviz dataset` (trains at its positions, e.g. --rejected-only ones).")
@click.option("--runs", help="Comma-separated run ids (prefixes): train on their tested positions.")
@click.option("--eval-prompts", type=click.Path(exists=True, dir_okay=False),
              help="Record these before and after training and print acceptance, τ, tokens/s before → after.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Adapter directory [default: adapters/<drafter>-<time>].")
@click.option("--target", default="bundled", show_default=True, help="Local target: bundled or mlx:<repo or path>.")
@click.option("--iters", type=click.IntRange(1), default=120, show_default=True, help="Training steps.")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True, help="Sequences per step.")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=2e-4, show_default=True,
              help="Peak learning rate (Adam).")
@click.option("--warmup", type=click.IntRange(0), default=10, show_default=True, help="Steps of linear warm-up.")
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine", show_default=True,
              help="After the warm-up: cosine decay to 0 at the last step, or constant.")
@click.option("--teacher", type=click.Choice(["top", "full"]), default="top", show_default=True,
              help="KL to the target's top 32 ids (computed once) or to its whole distribution (every step: slower).")
@click.option("--rank", type=click.IntRange(1), default=8, show_default=True, help="LoRA rank.")
@click.option("--max-tokens", type=click.IntRange(1), default=48, show_default=True,
              help="Tokens generated per prompt (training outputs and evaluation runs).")
@click.option("--seed", type=int, default=0, show_default=True, help="Held-out split and batch order.")
@click.pass_context
def adapt_command(ctx, drafter, prompts_file, dataset_file, runs, eval_prompts, output, target, iters, batch_size,
                  learning_rate, warmup, schedule, teacher, rank, max_tokens, seed) -> None:
    """Train a LoRA adapter so DRAFTER agrees more with the target; use it as DRAFTER+lora:DIR.

    \b
    Examples:
      specviz adapt --drafter layerskip:8 --prompts train.jsonl --eval-prompts held-out.jsonl
      specviz adapt --drafter layerskip:8 --dataset rejected.parquet -o adapters/ls8
    """
    from specviz.adapt import TrainConfig, adapt
    from specviz.engine.drafters import parse_drafter
    from specviz.engine.specs import build_target

    spec = parse_drafter(drafter).text
    out = output or f"adapters/{spec.replace(':', '')}-{time.strftime('%Y%m%d-%H%M%S')}"
    tgt = build_target(target)
    if not hasattr(tgt, "model"):
        raise click.UsageError("adapt needs a local target (bundled or mlx:<repo or path>)")
    items, source = _source_items(ctx, tgt, prompts_file, dataset_file, runs, max_tokens)
    traces = (ctx.obj or {}).get("traces", "traces")
    evals = read_prompts(eval_prompts) if eval_prompts else []
    before = _summary(_record_all(tgt, spec, evals, traces, max_tokens, "before")) if evals else None
    config = TrainConfig(iters=iters, batch_size=batch_size, learning_rate=learning_rate, warmup=warmup, schedule=schedule,
                         teacher=teacher, rank=rank, seed=seed)
    with click.progressbar(length=iters, label="Training", file=sys.stderr, show_pos=True,
                           item_show_func=lambda s: s or "") as bar:
        def progress(step: int, loss: float, tps: float) -> None:
            bar.update(1, f"loss {loss:.3f} · {tps:.0f} tok/s")

        path, result = adapt(tgt, spec, items, out, config, progress, source)
    click.echo(f"adapter {path}: train loss {result.losses[0]:.3f} → {result.losses[-1]:.3f}, held-out agreement "
               f"{result.val_agreement_before:.1%} → {result.val_agreement_after:.1%} ({result.val_items} sequences), "
               f"{result.examples_per_s:.2f} examples/s, {result.seconds:.0f} s")
    click.echo(f"use it as --drafter {spec}+lora:{path}")
    if evals:
        after = _summary(_record_all(tgt, f"{spec}+lora:{path}", evals, traces, max_tokens, "after"))
        click.echo(f"acceptance {before['acceptance']:.1%} → {after['acceptance']:.1%} · τ {before['tau']:.2f} → "
                   f"{after['tau']:.2f} · {before['tok_s']:.1f} → {after['tok_s']:.1f} tok/s")
        click.echo(f"before runs: {' '.join(before['runs'])}\nafter runs:  {' '.join(after['runs'])}")
        click.echo("each prompt before → after in the viewer's Compare (`specviz view`, then these paths):")
        click.echo("\n".join(compare_links(before["runs"], after["runs"], evals)))


COMMANDS = [adapt_command]
