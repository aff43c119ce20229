"""`specviz record` and `specviz sweep`: live generations, recorded event by event.

Commands of this module are registered on the root group by recorder.cli.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from specviz.baselines import CHOICES as BASELINE_CHOICES
from specviz.statuses import METHODS, TERMINAL_COLOURS
from specviz.engine.drafters import syntax_summary


def model_options(f: Callable) -> Callable:
    """Options shared by record and sweep: which models."""
    from specviz.targets import registry

    for decorator in reversed([
        click.option("--target", "target", envvar="SPECVIZ_TARGET", default=registry.DEFAULT_TARGET, show_default=True,
                     help=f"Target model: {registry.usage()} (env SPECVIZ_TARGET)."),
        click.option("--target-model", envvar="SPECVIZ_TARGET_MODEL", default=None,
                     help="Model name on an openai: server (env SPECVIZ_TARGET_MODEL)."),
        click.option("--max-tokens", type=click.IntRange(1), envvar="SPECVIZ_MAX_TOKENS", default=256, show_default=True,
                     help="Stop after this many generated tokens (env SPECVIZ_MAX_TOKENS)."),
        click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), envvar="SPECVIZ_TOP_P", default=1.0,
                     show_default=True, help="Nucleus sampling mass; 1 = off (env SPECVIZ_TOP_P)."),
        click.option("--top-k", type=click.IntRange(0), envvar="SPECVIZ_TOP_K", default=0, show_default=True,
                     help="Sample among the k most likely tokens; 0 = off (env SPECVIZ_TOP_K)."),
        click.option("--seed", type=int, envvar="SPECVIZ_SEED", default=None,
                     help="Random seed; with a local target a re-run reproduces the tokens (env SPECVIZ_SEED)."),
        click.option("--eos-token-id", "eos_token_ids", type=int, multiple=True, envvar="SPECVIZ_EOS_TOKEN_IDS",
                     help="Extra token id that ends generation, besides the tokenizer's EOS; repeatable "
                          "(env SPECVIZ_EOS_TOKEN_IDS, space-separated)."),
        click.option("--flush", envvar="SPECVIZ_FLUSH", default="round", show_default=True,
                     help="When events reach the trace log: event, round, close, or every N events (env SPECVIZ_FLUSH)."),
        click.option("--n-top", type=click.IntRange(0, 20), envvar="SPECVIZ_N_TOP", default=5, show_default=True,
                     help="Alternatives recorded per position (env SPECVIZ_N_TOP)."),
        click.option("--no-chat-template", is_flag=True, envvar="SPECVIZ_NO_CHAT_TEMPLATE",
                     help="Feed the prompt as raw text instead of one chat user turn (env SPECVIZ_NO_CHAT_TEMPLATE)."),
    ]):
        f = decorator(f)
    from specviz.targets.cli_options import remote_target_options

    return remote_target_options(f)


def _remote(kwargs: dict) -> dict:
    """Pop the --target-* options of openai: targets (specviz.targets.cli_options)."""
    return {name: kwargs.pop(name) for name in list(kwargs) if name.startswith("target_") and name != "target_model"}


def _flush_policy(value: str) -> Any:
    if value in ("event", "round", "close"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter("use event, round, close or a positive integer", param_hint="--flush")


def read_prompts(path: str) -> list[str]:
    """One prompt per line, or JSONL objects with a "prompt" field; blank lines skipped."""
    prompts = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
            if not isinstance(obj.get("prompt"), str):
                raise click.ClickException(f"{path}:{n}: a JSON line needs a string \"prompt\" field")
            prompts.append(obj["prompt"])
        else:
            prompts.append(line)
    if not prompts:
        raise click.ClickException(f"{path}: no prompts")
    return prompts


def _convert_notice() -> None:
    click.echo("Converting the bundled model into an MLX-LM directory (once)...", err=True)


_ENGINES = None


def _load_engine(target: str, drafter: str, target_model: str | None, method: str, remote: dict):
    """One Engine per (target, drafter) per process; models themselves are shared."""
    from specviz.sweep import EngineCache, EngineSpec

    global _ENGINES
    _ENGINES = _ENGINES or EngineCache(on_convert=_convert_notice)
    drafter = "none" if method == "autoregressive" else drafter
    return _ENGINES.get(EngineSpec(target, drafter, target_model, tuple(sorted(remote.items()))))


def summary_line(result) -> str:
    f = result.finished
    parts = [f"{f.produced} tokens"]
    if f.tau is not None and f.rounds:
        parts.append(f"τ {f.tau:.2f}")
    if f.acceptance_rate is not None:
        parts.append(f"acceptance {f.acceptance_rate:.0%}")
    if f.tokens_per_s:
        parts.append(f"{f.tokens_per_s:.1f} tok/s")
    if f.speedup is not None:
        if f.baseline_run_id:
            parts.append(f"speedup {f.speedup:.2f}× (vs run {f.baseline_run_id[:12]})")
        else:
            parts.append(f"speedup {f.speedup:.2f}×" + (" (baseline estimated)" if f.baseline_estimated else ""))
    status = "" if f.status == "completed" else f" [{f.status}]"
    return " · ".join(parts) + f" · run {result.run_id}{status}"


class KType(click.ParamType):
    """-k: a positive integer, or ``auto`` (adaptive K)."""

    name = "K|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        if str(value).strip().isdigit() and int(value) >= 1:
            return int(value)
        self.fail(f"{value!r} is neither a positive integer nor auto", param, ctx)


@click.command("record")
@click.argument("prompt", required=False)
@click.option("--drafter", envvar="SPECVIZ_DRAFTER", default="ngram", show_default=True,
              help=f"Drafter: {syntax_summary()}; options as +name[:value] (`specviz models` lists them) (env SPECVIZ_DRAFTER).")
@click.option("-k", "k", type=KType(), envvar="SPECVIZ_K", default="4", show_default=True,
              help="Draft tokens per round, or auto: chosen each round from the run's own acceptance "
                   "and draft/verify times, up to 16 (env SPECVIZ_K).")
@click.option("--temperature", type=click.FloatRange(0), envvar="SPECVIZ_TEMPERATURE", default=0.0, show_default=True,
              help="Sampling temperature; 0 = greedy (env SPECVIZ_TEMPERATURE).")
@click.option("--method", type=click.Choice(METHODS), envvar="SPECVIZ_METHOD", default="speculative",
              show_default=True, help="speculative, autoregressive (target alone) or mlx-lm (its own speculative decoding) (env SPECVIZ_METHOD).")
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False), envvar="SPECVIZ_PROMPTS",
              help="Record a batch: one prompt per line, or JSONL with a \"prompt\" field (env SPECVIZ_PROMPTS).")
@click.option("--baseline", type=click.Choice(BASELINE_CHOICES), envvar="SPECVIZ_BASELINE", default="auto", show_default=True,
              help="Speedup's denominator: measured (a matched autoregressive run from the store, recorded first when "
                   "there is none), estimated (a few autoregressive tokens timed after the run), none, or auto "
                   "(measured when the store has a match, else estimated) (env SPECVIZ_BASELINE).")
@model_options
@click.pass_context
def record_command(ctx, prompt, drafter, k, temperature, method, prompts_file, baseline, target, target_model, max_tokens,
                   top_p, top_k, seed, eos_token_ids, flush, n_top, no_chat_template, **remote) -> None:
    """Generate from PROMPT, recording every draft, verify and metric event.

    \b
    Examples:
      specviz record "Explain speculative decoding in two sentences."
      specviz record "Summarise: ..." --drafter ngram:3 -k 6 --temperature 0.7 --seed 1
      specviz record "Hi" --method autoregressive
      specviz record --prompts prompts.jsonl --baseline measured
    """
    from specviz.baselines import BaselineIndex
    from specviz.engine import RunOptions

    if (prompt is None) == (prompts_file is None):
        raise click.UsageError("give a PROMPT or --prompts FILE (not both)")
    traces = (ctx.obj or {}).get("traces", "traces")
    policy = _flush_policy(flush)
    options = RunOptions(method=method, k=4 if k == "auto" else k, k_policy="auto" if k == "auto" else "fixed",
                         max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                         top_k=top_k, seed=seed, eos_token_ids=tuple(eos_token_ids), n_top=n_top,
                         chat_template=not no_chat_template, baseline=baseline)
    recover_at_start(traces)
    engine = _load_engine(target, drafter, target_model, method, _remote(remote))
    baselines = BaselineIndex.from_store(traces) if baseline in ("auto", "measured") else None
    if prompt is not None:
        result = engine.record(prompt, options, traces=traces, flush=policy, baselines=baselines,
                               on_text=lambda piece, status: click.echo(click.style(piece, fg=TERMINAL_COLOURS.get(status)), nl=False))
        click.echo()
        _report(result)
        return
    prompts = read_prompts(prompts_file)
    results = []
    with click.progressbar(prompts, label="Recording", file=sys.stderr) as bar:
        for p in bar:
            result = engine.record(p, options, traces=traces, flush=policy, baselines=baselines)
            results.append(result)
            if result.finished.status == "interrupted":
                break
    for result in results:
        click.echo(summary_line(result))
    _exit_for(results[-1])


def recover_at_start(traces: str) -> None:
    """Publish runs left by crashed recorders before recording more (readers never do)."""
    from specviz.store import recover

    report = recover(traces)
    if report.recovered:
        click.echo(f"Recovered {len(report.recovered)} run(s) left by a stopped recorder as interrupted.", err=True)
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)


def _report(result) -> None:
    click.echo(summary_line(result), err=False)
    _exit_for(result)


def _exit_for(result) -> None:
    if result.finished.status == "failed":
        raise click.ClickException(f"run {result.run_id} failed: {result.error or result.finished.finish_reason}")
    if result.finished.status == "interrupted":
        raise click.exceptions.Exit(130)


def _csv(kind: type, label: str) -> Callable:
    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            items = [kind(v.strip()) for v in str(value).split(",") if v.strip()]
        except ValueError as exc:
            raise click.BadParameter(f"comma-separated {label} expected, got {value!r}") from exc
        if not items:
            raise click.BadParameter(f"at least one {label} expected")
        return items

    return convert


@click.command("sweep")
@click.argument("prompt", required=False)
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False), envvar="SPECVIZ_PROMPTS",
              help="Prompts to sweep: one per line, or JSONL with a \"prompt\" field (env SPECVIZ_PROMPTS).")
@click.option("--drafter", "drafters", envvar="SPECVIZ_SWEEP_DRAFTERS", default="ngram", show_default=True,
              callback=_csv(str, "drafter specs"),
              help=f"Comma-separated drafters, each one of {syntax_summary()} (env SPECVIZ_SWEEP_DRAFTERS).")
@click.option("-k", "ks", envvar="SPECVIZ_SWEEP_K", default="2,4,8", show_default=True,
              callback=_csv(int, "integers"), help="Comma-separated K values (env SPECVIZ_SWEEP_K).")
@click.option("--temperature", "temperatures", envvar="SPECVIZ_SWEEP_TEMPERATURES", default="0", show_default=True,
              callback=_csv(float, "numbers"), help="Comma-separated temperatures (env SPECVIZ_SWEEP_TEMPERATURES).")
@click.option("--method", "methods", envvar="SPECVIZ_SWEEP_METHODS", default="speculative", show_default=True,
              callback=_csv(str, "methods"), help="Comma-separated methods: speculative, mlx-lm (env SPECVIZ_SWEEP_METHODS).")
@click.option("--baseline", type=click.Choice(BASELINE_CHOICES[1:]), envvar="SPECVIZ_SWEEP_BASELINE", default="measured",
              show_default=True, help="measured: each repeat first records one autoregressive run per prompt and "
              "temperature, and every run of the repeat divides by its own; estimated; none (env SPECVIZ_SWEEP_BASELINE).")
@click.option("--repeats", type=click.IntRange(1), envvar="SPECVIZ_SWEEP_REPEATS", default=1, show_default=True,
              help="Record the whole grid this many times (tag repeat=0..N-1), for the speedups view's "
                   "confidence intervals (env SPECVIZ_SWEEP_REPEATS).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]", envvar="SPECVIZ_RAY_ADDRESS",
              help="Run each job as a task on Ray: a local cluster when no ADDRESS is given, else the cluster at "
                   "ADDRESS (e.g. ray://head:10001). Workers load their models once. Needs the ray extra (env SPECVIZ_RAY_ADDRESS).")
@click.option("--ray-workers", type=click.IntRange(1), default=2, show_default=True, envvar="SPECVIZ_RAY_WORKERS",
              help="Worker processes for --ray (env SPECVIZ_RAY_WORKERS).")
@click.option("--shard", "shard_spec", metavar="I/N", default=None, envvar="SPECVIZ_SWEEP_SHARD",
              help="Run only the I-th of N slices of the sweep (split by prompt, baselines with their prompts), "
                   "for job arrays: e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT (env SPECVIZ_SWEEP_SHARD).")
@model_options
@click.pass_context
def sweep_command(ctx, prompt, prompts_file, drafters, ks, temperatures, methods, baseline, repeats, ray_address,
                  ray_workers, shard_spec, target, target_model, max_tokens, top_p, top_k, seed, eos_token_ids, flush, n_top,
                  no_chat_template, **remote) -> None:
    """Record a grid of runs (drafter × K × temperature × method) for cross-run SQL.

    \b
    Example:
      specviz sweep "Rewrite: ..." -k 2,4,8 --temperature 0,0.7 --drafter ngram,layerskip:8
      specviz sweep --prompts prompts.txt -k 2,4 --repeats 3     # then: specviz sql "FROM speedups"
      specviz sweep --prompts prompts.txt -k 2,4,8 --ray         # on a local Ray cluster
    """
    from specviz.engine import RunOptions
    from specviz.engine.drafters import parse_drafter
    from specviz.sweep import EngineSpec, parse_shard, plan_jobs, shard

    if (prompt is None) == (prompts_file is None):
        raise click.UsageError("give a PROMPT or --prompts FILE (not both)")
    for m in methods:
        if m not in METHODS:
            raise click.BadParameter(f"unknown method {m!r}", param_hint="--method")
    if any(k < 1 for k in ks):
        raise click.BadParameter("K must be >= 1", param_hint="-k")
    if any(t < 0 for t in temperatures):
        raise click.BadParameter("temperatures must be >= 0", param_hint="--temperature")
    for d in drafters:
        parse_drafter(d)
    shard_of = parse_shard(shard_spec) if shard_spec else None
    traces = (ctx.obj or {}).get("traces", "traces")
    prompts = [prompt] if prompt is not None else read_prompts(prompts_file)
    recover_at_start(traces)
    base = RunOptions(max_tokens=max_tokens, top_p=top_p, top_k=top_k, seed=seed, eos_token_ids=tuple(eos_token_ids),
                      n_top=n_top, baseline=baseline, chat_template=not no_chat_template)
    remote_key = tuple(sorted(_remote(dict(remote)).items()))
    jobs = plan_jobs(prompts, lambda d: EngineSpec(target, d, target_model, remote_key), base, drafters=drafters,
                     methods=methods, ks=ks, temperatures=temperatures, repeats=repeats, baseline=baseline)
    if shard_spec:
        jobs = shard(jobs, *shard_of)
    outcomes = _run_sweep(jobs, traces, _flush_policy(flush), ray_address, ray_workers)
    for o in outcomes:
        label = f"{o.job.options.method:<14} {o.job.engine.drafter:<14} k={o.job.k:<2} T={o.job.options.temperature:<4}"
        click.echo(f"{label} {_outcome_line(o)}")
    if outcomes and outcomes[-1].status == "interrupted" and ray_address is None:
        raise click.exceptions.Exit(130)


def _run_sweep(jobs, traces: str, flush, ray_address: str | None, ray_workers: int) -> list:
    """Run jobs in-process, or on Ray (``ray_address`` "" = a local cluster), under one progress bar."""
    from specviz.sweep import run_local

    with click.progressbar(length=len(jobs), label="Sweeping", file=sys.stderr,
                           item_show_func=lambda o: o.job.label if o else "") as bar:
        def step(outcome) -> None:
            bar.update(1, outcome)

        if ray_address is None:
            outcomes = []
            for outcome in run_local(jobs, traces, flush, _ENGINES):
                outcomes.append(outcome)
                step(outcome)
            return outcomes
        from specviz.ray_sweep import run_on_ray

        return run_on_ray(jobs, traces, flush, address=ray_address or None, workers=ray_workers,
                          on_outcome=step)


def _outcome_line(outcome) -> str:
    if outcome.finished is not None:
        return summary_line(outcome)
    return f"{outcome.status}: {outcome.error or 'no run'}" + (f" (run {outcome.run_id})" if outcome.run_id else "")


COMMANDS: list = [record_command, sweep_command]
