"""Draft adaptation: acceptance, τ and tokens/s of layerskip:N before and after `specviz adapt`.

    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_adapt.py                 # N = 8, 16, 26, default training config
    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_adapt.py --layers 8 --iters 20

Training domain: one-sentence explanations of a concept; 24 training prompts (the target's
greedy outputs are the labels: self-distillation) and 4 held-out prompts of the same form.
Held-out runs are greedy, K = 4. Goals (issue 8): acceptance +0.20 absolute on held-out
prompts for the best N; training <= 10 minutes for the default configuration on 2 CPUs;
examples/s reported. Prints a Markdown table; writes bench/out/adapt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import specviz  # noqa: F401  (OpenBLAS before mlx)
from specviz.adapt import TrainConfig, adapt, items_from_prompts
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import build_drafter
from specviz.engine.specs import build_target

TOPICS = ["a CPU", "a compiler", "photosynthesis", "a volcano", "inflation", "a vaccine", "gravity", "a database",
          "an atom", "a glacier", "democracy", "a rainbow", "a neuron", "a router", "erosion", "a contract",
          "an enzyme", "a hurricane", "a protocol", "osmosis", "a telescope", "a budget", "a magnet", "a virus"]
HELD_OUT = ["a battery", "an earthquake", "a cache", "evolution"]
TEMPLATE = "Explain what {} is in one sentence."


def evaluate(target, spec: str, prompts: list[str], max_tokens: int) -> dict:
    engine = Engine(target, build_drafter(spec, target), drafter_spec=spec)
    fin = [engine.record(p, RunOptions(k=4, max_tokens=max_tokens, baseline=False), recording="null").finished
           for p in prompts]
    tested = sum(f.tested for f in fin)
    return {"acceptance": sum(f.accepted for f in fin) / tested if tested else 0.0,
            "tau": statistics.mean(f.tau or 0 for f in fin), "tok_s": statistics.mean(f.tokens_per_s or 0 for f in fin)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="8,16,26")
    ap.add_argument("--iters", type=int, default=TrainConfig.iters)
    ap.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    ap.add_argument("--rank", type=int, default=TrainConfig.rank)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--out", default="bench/out/adapt.json")
    args = ap.parse_args()
    target = build_target("bundled")
    held = [TEMPLATE.format(t) for t in HELD_OUT]
    t0 = time.perf_counter()
    items = items_from_prompts(target, [TEMPLATE.format(t) for t in TOPICS], args.max_tokens)
    print(f"self-distillation data: {len(items)} sequences in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for n in [int(x) for x in args.layers.split(",")]:
        spec = f"layerskip:{n}"
        before = evaluate(target, spec, held, args.max_tokens)
        with tempfile.TemporaryDirectory() as tmp:
            config = TrainConfig(iters=args.iters, learning_rate=args.lr, rank=args.rank)
            cpu0 = time.process_time()
            path, result = adapt(target, spec, items, Path(tmp) / "adapter", config,
                                 progress=lambda i, loss, tps: print(f"  {spec} step {i} loss {loss:.3f} {tps:.0f} tok/s", flush=True)
                                 if i % 10 == 0 else None)
            train_cpu = time.process_time() - cpu0  # CPU-seconds: what the wall time is on an idle machine
            after = evaluate(target, f"{spec}+lora:{path}", held, args.max_tokens)
        row = {"drafter": spec, "before": before, "after": after, "gain": after["acceptance"] - before["acceptance"],
               "val_agreement": [result.val_agreement_before, result.val_agreement_after],
               "loss": [result.losses[0], result.losses[-1]], "train_s": result.seconds, "train_cpu_s": train_cpu,
               "examples_per_s": result.examples_per_s, "tokens_per_s": result.tokens_per_s}
        rows.append(row)
        print(json.dumps(row), flush=True)
    env = {"cpus": os.cpu_count(), "load_avg_1m_end": os.getloadavg()[0], "iters": args.iters, "lr": args.lr, "rank": args.rank,
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""), "max_tokens": args.max_tokens}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    print("\n| drafter | acceptance before → after (held-out) | gain | τ before → after | tok/s before → after | "
          "val agreement | train loss | training s (wall) | training CPU-s | examples/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, a = r["before"], r["after"]
        print(f"| {r['drafter']} | {b['acceptance']:.1%} → {a['acceptance']:.1%} | {r['gain']:+.2f} | {b['tau']:.2f} → {a['tau']:.2f} | "
              f"{b['tok_s']:.1f} → {a['tok_s']:.1f} | {r['val_agreement'][0]:.1%} → {r['val_agreement'][1]:.1%} | "
              f"{r['loss'][0]:.2f} → {r['loss'][1]:.2f} | {r['train_s']:.0f} | {r['train_cpu_s']:.0f} | {r['examples_per_s']:.2f} |")
    print(f"Environment: {env}")


if __name__ == "__main__":
    main()
