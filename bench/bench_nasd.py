"""NASD vs prompt lookup (ngram) vs autoregressive, on grounded and open-ended prompts.

    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_nasd.py              # 8 prompts, ~5 min on 2 CPUs
    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_nasd.py --reps 2     # best of 2 interleaved repeats

Measures exactly as bench/bench_engine.py (its ``run``): tokens per CPU-second of the whole
run (the speedup basis: immune to other processes' load), wall decode tokens/s, τ and
acceptance as recorded. Goal (issue 8): NASD ≥ 0.95× autoregressive on open-ended prompts.
Prints a Markdown table and writes bench/out/nasd.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench_engine import GROUNDED, METRIC, OPEN, run

from specviz.engine import Engine
from specviz.engine.drafters import build_drafter
from specviz.engine.specs import build_target

PROMPTS = [("grounded", p) for p in GROUNDED + [
    "Translate this list into a numbered list, keeping each item's words: apples, pears, red plums, "
    "green grapes, ripe cherries, blood oranges, small lemons.",
]] + [("open", p) for p in OPEN + [
    "What are three good habits for writing clear code?",
    "Tell me a fact about the moon.",
]]
CONFIGS = [  # (label, drafter spec, K); autoregressive first: speedups are relative to it
    ("autoregressive", "none", 0),
    ("ngram:3 K=4", "ngram:3", 4),
    ("nasd:4 K=4", "nasd:4", 4),  # stops at unknown contexts (the default)
    ("nasd:4+stop_if_unknown:0 K=4", "nasd:4+stop_if_unknown:0", 4),  # guesses the most frequent token there
    ("nasd:4+top_k_filler:3 K=4", "nasd:4+top_k_filler:3", 4),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out", default="bench/out/nasd.json")
    args = ap.parse_args()
    t0 = time.time()
    target = build_target("bundled")
    engines = {spec: Engine(target, build_drafter(spec, target), target_spec="bundled", drafter_spec=spec)
               for _, spec, _ in CONFIGS}
    for label, spec, k in CONFIGS:  # warm-up
        run(engines[spec], "Hello there.", "autoregressive" if k == 0 else "speculative", k, 4)
    rows = []
    for kind, prompt in PROMPTS:
        best: dict[str, dict] = {}
        for _ in range(args.reps):
            for label, spec, k in CONFIGS:
                r = run(engines[spec], prompt, "autoregressive" if k == 0 else "speculative", k, args.max_tokens)
                if label not in best or r[METRIC] > best[label][METRIC]:
                    best[label] = r
        ar = best["autoregressive"]
        for label, spec, k in CONFIGS:
            r = best[label]
            r.update(kind=kind, prompt=prompt[:40], config=label, speedup=r[METRIC] / ar[METRIC],
                     same_tokens_as_ar=r["tokens"] == ar["tokens"])
            rows.append(r)
            print(f"{kind:8} {label:28} {r[METRIC]:6.1f} tok/CPU-s {r['decode_tps']:6.1f} tok/s wall  "
                  f"speedup {r['speedup']:.2f}  tau {r['tau'] or 0:.2f}", flush=True)
    summary = []
    for label, _, _ in CONFIGS:
        for kind in ("grounded", "open"):
            sel = [r for r in rows if r["config"] == label and r["kind"] == kind]
            acc = [r["acceptance"] for r in sel if r["acceptance"] is not None]
            summary.append({
                "config": label, "kind": kind, "prompts": len(sel),
                "tok_s": statistics.mean(r[METRIC] for r in sel),
                "tok_s_wall": statistics.mean(r["decode_tps"] for r in sel),
                "speedup": statistics.geometric_mean([r["speedup"] for r in sel]),
                "tau": statistics.mean(r["tau"] or 0 for r in sel),
                "acceptance": statistics.mean(acc) if acc else None,
                "same_tokens": all(r["same_tokens_as_ar"] for r in sel),
            })
    env = {"cpus": os.cpu_count(), "load_avg_1m_end": os.getloadavg()[0], "max_tokens": args.max_tokens,
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""), "minutes": (time.time() - t0) / 60}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"env": env, "rows": [{k: v for k, v in r.items() if k != "tokens"} for r in rows],
                                          "summary": summary}, indent=1))
    print("\n| config | prompts | tok per CPU-s | speedup vs AR (CPU) | wall decode tok/s | τ | acceptance | same tokens as AR |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summary:
        acc = "–" if s["acceptance"] is None else f"{s['acceptance']:.0%}"
        print(f"| {s['config']} | {s['kind']} ({s['prompts']}) | {s['tok_s']:.1f} | {s['speedup']:.2f}× | {s['tok_s_wall']:.1f} | "
              f"{s['tau']:.2f} | {acc} | {'yes' if s['same_tokens'] else 'NO'} |")
    open_nasd = [s for s in summary if s["kind"] == "open" and s["config"].startswith("nasd")]
    print(f"\nGoal NASD >= 0.95x autoregressive on open-ended prompts: "
          + ", ".join(f"{s['config']} {s['speedup']:.2f}x {'met' if s['speedup'] >= 0.95 else 'NOT met'}" for s in open_nasd))
    print(f"Environment: {env}")


if __name__ == "__main__":
    main()
