"""specviz's autoregressive and n-gram methods against ``mlx_lm.generate``, side by side.

    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_autoregressive.py              # 5 reps, 64 tokens
    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_autoregressive.py --reps 3 --max-tokens 48

Same process, same model object (the bundled SmolLM2-135M), same BLAS, greedy, same prompt
token ids; every repetition runs each method once per prompt, interleaved, and the figures
are medians over repetitions (the machine's CPUs are shared: the load average is printed).

  tok/s          decode tokens per second as each tool reports it: specviz's recorded
                 ``tokens_per_s`` (produced / sum of round times, prefill excluded; the run is
                 recorded to a temporary trace directory, events and all), mlx_lm's
                 ``generation_tps`` (tokens after the first / time since the first)
  ratio          specviz tok/s / mlx_lm tok/s on the same prompt and repetition, then the median
  outside fwd    share of each round spent outside the target's forward pass (drafting,
                 deciding, events, text, and the caller recording the previous round's
                 events): (round_ms - verify_ms) / round_ms, median over rounds. Round times
                 partition the wall clock (round r runs from round r-1's decision to its own)
  α              the run's alpha (mean sum_x min(p, q) over tested positions; greedy n-gram:
                 accepted / tested), median over repetitions
  bound          Leviathan et al.'s expected speedup E / (cK + 1), E = (1 - a^(K+1)) / (1 - a)
                 tokens per round, c = draft ms per drafted token / verify ms per round, with
                 each round's own K (n-gram drafts fewer than K when a match runs out): sum of
                 E(K_r) over sum of (c K_r + 1). It assumes verifying K + 1 tokens costs one
                 autoregressive step
  v              what verifying costs here: verify ms per round / autoregressive ms per token
  bound at v     the same with the run's own costs: sum of E(K_r) / (sum of draft ms + verify
                 ms), over the autoregressive run's tokens per ms; "of it" = measured speedup
                 over specviz's autoregressive run / bound, which only engine overhead (and
                 acceptance that is not i.i.d.) keeps below 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict

import specviz  # noqa: F401  (OpenBLAS before mlx)
import mlx.core as mx
from mlx_lm.generate import stream_generate
from mlx_lm.sample_utils import make_sampler

from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import build_drafter
from specviz.engine.specs import build_target
from specviz.totals import expected_tokens, leviathan_bound
from specviz.store import read_events
from specviz.events import RoundMetrics

from bench_engine import GROUNDED as ENGINE_GROUNDED

# The first two grounded prompts of the engine benchmark, so the two scripts measure the same text.
GROUNDED = ENGINE_GROUNDED[:2]
OPEN = ["Explain speculative decoding in two sentences."]


def mlx_generate(target, ids: list[int], max_tokens: int) -> dict:
    tokens, last = [], None
    for last in stream_generate(target.model, target.tokenizer, mx.array(ids, mx.uint32), max_tokens=max_tokens,
                                sampler=make_sampler(temp=0.0)):
        tokens.append(last.token)
    return {"tps": last.generation_tps, "tokens": tokens}


def specviz_run(engine: Engine, prompt: str, method: str, k: int, max_tokens: int, traces: str) -> dict:
    engine.target.state.reset()  # a fresh cache, as mlx_lm starts with
    if getattr(engine.drafter, "state", None) is not None:
        engine.drafter.state.reset()
    options = RunOptions(method=method, k=max(k, 1), max_tokens=max_tokens, baseline="none")
    result = engine.record(prompt, options, traces=traces)
    f = result.finished
    rounds = [e for e in read_events(traces, result.run_id) if isinstance(e, RoundMetrics)]
    outside = [(r.round_ms - r.verify_ms) / r.round_ms for r in rounds if r.round_ms > 0]
    return {"tps": f.tokens_per_s, "tokens": result.token_ids, "alpha": f.alpha, "k": k, "tau": f.tau,
            "outside": statistics.median(outside), "outside_total": 1 - f.verify_ms / sum(r.round_ms for r in rounds),
            "draft_ms": f.draft_ms, "verify_ms": f.verify_ms, "drafted": [r.drafted for r in rounds],
            "draft_ms_per_token": f.draft_ms / f.drafted if f.drafted else 0.0,
            "verify_ms_per_round": f.verify_ms / f.rounds,
            "ms_per_token": sum(r.round_ms for r in rounds) / f.produced}


def bounds(g: dict, alpha: float, ar_ms_per_token: float) -> tuple[float, float]:
    """(textbook bound, bound at the run's own costs) of one speculative run; see the docstring."""
    ks = g["drafted"]
    tokens = sum(expected_tokens(alpha, k) for k in ks)
    textbook = leviathan_bound(alpha, ks, g["draft_ms_per_token"] / g["verify_ms_per_round"])
    at_costs = tokens / (g["draft_ms"] + g["verify_ms"]) * ar_ms_per_token
    return textbook, at_costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("-k", type=int, default=4, help="n-gram draft length")
    args = ap.parse_args()
    target = build_target("bundled")
    ar = Engine(target, None, target_spec="bundled", drafter_spec="none")
    ngram = Engine(target, build_drafter("ngram:3", target), target_spec="bundled", drafter_spec="ngram:3")
    prompts = [(p, "grounded") for p in GROUNDED] + [(p, "open") for p in OPEN]
    ids = {p: ar.encode_prompt(p)[0] for p, _ in prompts}
    res: dict = defaultdict(list)  # (method, prompt) -> per-rep results
    loads = []
    with tempfile.TemporaryDirectory() as traces:
        specviz_run(ar, "Hello.", "autoregressive", 0, 4, traces)  # imports, first allocations
        mlx_generate(target, ids[prompts[0][0]], 4)
        t0 = time.perf_counter()
        for rep in range(args.reps):
            for p, kind in prompts:
                order = [("specviz", lambda: specviz_run(ar, p, "autoregressive", 0, args.max_tokens, traces)),
                         ("mlx_lm", lambda: mlx_generate(target, ids[p], args.max_tokens))]
                if kind == "grounded":
                    order.append(("ngram", lambda: specviz_run(ngram, p, "speculative", args.k, args.max_tokens, traces)))
                if rep % 2:
                    order.reverse()  # neither method always runs first
                for name, fn in order:
                    res[(name, p)].append(fn())
            loads.append(os.getloadavg()[0])
        elapsed = time.perf_counter() - t0
    report(res, prompts, args, loads, elapsed)


def report(res, prompts, args, loads, elapsed) -> None:
    print(f"bundled SmolLM2-135M, greedy, {args.max_tokens} tokens, {args.reps} interleaved repetitions, "
          f"{elapsed:.0f} s; load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print("| prompt | specviz AR tok/s | mlx_lm tok/s | ratio | same tokens | AR outside fwd | "
          "ngram K tok/s | ngram / mlx_lm | ngram outside fwd | α | bound | of bound | v | bound at v | of it |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios, ngram_ratios, of_bound = [], [], []
    for p, kind in prompts:
        a, m = res[("specviz", p)], res[("mlx_lm", p)]
        ratio = statistics.median(x["tps"] / y["tps"] for x, y in zip(a, m))
        ratios.append(ratio)
        n = min(len(a[0]["tokens"]), len(m[0]["tokens"]))
        same = all(x["tokens"][:n] == y["tokens"][:n] for x, y in zip(a, m))
        row = [kind, f"{statistics.median(x['tps'] for x in a):.1f}", f"{statistics.median(y['tps'] for y in m):.1f}",
               f"{ratio:.2f}×", "yes" if same else "NO", f"{statistics.median(x['outside'] for x in a):.1%}"]
        g = res.get(("ngram", p))
        if g:
            nr = statistics.median(x["tps"] / y["tps"] for x, y in zip(g, m))
            ngram_ratios.append(nr)
            alpha = statistics.median(x["alpha"] for x in g)
            pairs = [(x["tps"] / y["tps"], *bounds(x, x["alpha"], y["ms_per_token"])) for x, y in zip(g, a)]
            measured = statistics.median(m for m, _, _ in pairs)
            of_text = statistics.median(m / b for m, b, _ in pairs)
            of_costs = statistics.median(m / b for m, _, b in pairs)
            of_bound.append((of_text, of_costs))
            v = statistics.median(x["verify_ms_per_round"] / y["ms_per_token"] for x, y in zip(g, a))
            row += [f"{statistics.median(x['tps'] for x in g):.1f}", f"{nr:.2f}×",
                    f"{statistics.median(x['outside'] for x in g):.1%}", f"{alpha:.2f}",
                    f"{statistics.median(b for _, b, _ in pairs):.2f}", f"{of_text:.2f}", f"{v:.2f}",
                    f"{statistics.median(b for _, _, b in pairs):.2f}", f"{of_costs:.2f}"]
        else:
            row += ["–"] * 9
        print("| " + " | ".join(row) + " |")
    print(f"\nspecviz autoregressive / mlx_lm.generate: median {statistics.median(ratios):.2f}× (goal ≥ 0.95×)")
    if ngram_ratios:
        print(f"ngram:3 K={args.k} / mlx_lm.generate on grounded prompts: median {statistics.median(ngram_ratios):.2f}× "
              f"(goal ≥ 2.0×); measured / Leviathan bound {statistics.median(t for t, _ in of_bound):.2f} "
              f"(verify = one step), {statistics.median(c for _, c in of_bound):.2f} at the run's own costs (goal ≥ 0.8)")


if __name__ == "__main__":
    main()
