"""Adaptive K (`-k auto`) against every fixed K, on the bundled model with n-gram drafts,
greedy, over prompts mixing input-grounded (copy, rewrite, extract) and open-ended ones.

    uv run python bench/bench_adaptive.py [--ks 1,2,4,8,16] [--max-tokens 96] [--repeats 1]

Greedy decoding makes every configuration produce the same tokens, so tokens/s compares
time alone. Configurations are interleaved prompt by prompt (each prompt runs every K and
auto back to back), so load changes on the shared machine hit all of them alike.
Figures: tokens per CPU-second of the process over the whole set (run with
OPENBLAS_NUM_THREADS=1 so CPU time is the work done; on a shared machine wall time also
counts waiting for a core), and wall-clock decode tokens/s beside it; auto against the
best fixed K in hindsight (the one K that did best over the set).
Goal: auto ≥ 1.05 × best fixed K.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from specviz.engine import Engine, RunOptions  # noqa: E402

PASSAGE = ("The committee met on Tuesday to review the budget. It approved funding for the new library, "
           "postponed the decision on the bridge repairs, and asked the treasurer to report on the pension fund "
           "before the next meeting in March.")
CODE = ("def total(items):\n    result = 0\n    for item in items:\n        if item.price > 0:\n"
        "            result += item.price * item.quantity\n    return result\n")
PROMPTS = {
    "grounded: copy list": "Copy this list exactly, twice: red apple, green pear, yellow banana, purple plum, orange peach.",
    "grounded: passive voice": f"Rewrite in the passive voice, keeping every detail: {PASSAGE}",
    "grounded: rename variable": f"Rename the variable result to subtotal in this code and show the whole code:\n{CODE}",
    "grounded: repeat passage": f"Repeat the following passage word for word: {PASSAGE}",
    "open: poem": "Write a short poem about the sea at night.",
    "open: explain": "Explain why the sky is blue to a ten-year-old.",
    "open: ideas": "Give three ideas for a weekend trip near the mountains.",
    "open: story": "Tell a very short story about a robot who learns to cook.",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,2,4,8,16", help="fixed K values to compare with auto")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=1, help="passes over the prompt set")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    configs = [str(k) for k in ks] + ["auto"]
    engine = Engine.from_specs("bundled", "ngram:3")
    engine.record("warm up", RunOptions(k=4, max_tokens=8, baseline=False), recording="null")
    tokens = {c: 0 for c in configs}
    seconds = {c: 0.0 for c in configs}
    cpu = {c: 0.0 for c in configs}
    per_prompt: dict[str, dict[str, float]] = {}
    outputs: dict[str, set] = {}
    t_start = time.perf_counter()
    for _ in range(args.repeats):
        for name, prompt in PROMPTS.items():
            for c in configs:
                opts = RunOptions(k=4 if c == "auto" else int(c), k_policy="auto" if c == "auto" else "fixed",
                                  max_tokens=args.max_tokens, baseline=False)
                c0 = time.process_time()
                f = engine.record(prompt, opts, recording="null").finished
                used = time.process_time() - c0
                decode_s = f.produced / f.tokens_per_s if f.tokens_per_s else 0.0
                tokens[c] += f.produced
                seconds[c] += decode_s
                cpu[c] += used
                per_prompt.setdefault(name, {})[c] = f.produced / used if used else 0.0
                outputs.setdefault(name, set()).add(tuple(f.output_token_ids))
    rate = {c: tokens[c] / cpu[c] for c in configs}
    wall = {c: tokens[c] / seconds[c] for c in configs}
    best = max((c for c in configs if c != "auto"), key=rate.get)
    best_wall = max((c for c in configs if c != "auto"), key=wall.get)
    print(f"{len(PROMPTS)} prompts × {args.repeats} pass(es), greedy, ngram:3, max {args.max_tokens} tokens; "
          f"{time.perf_counter() - t_start:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared)")
    same = all(len(v) == 1 for v in outputs.values())
    print(f"every configuration produced the same tokens per prompt: {same}")
    print("tokens per CPU-second (prefill included, the same for every configuration):")
    header = "prompt".ljust(28) + "".join(f"{'K=' + c if c != 'auto' else 'auto':>9}" for c in configs)
    print(header)
    for name, row in per_prompt.items():
        print(name.ljust(28) + "".join(f"{row[c]:>9.1f}" for c in configs))
    print("whole set, tok per CPU-s".ljust(28) + "".join(f"{rate[c]:>9.2f}" for c in configs))
    print("whole set, wall decode tok/s".ljust(28) + "".join(f"{wall[c]:>9.2f}" for c in configs))
    ratio = rate["auto"] / rate[best]
    print(f"best fixed K in hindsight (per CPU-s): K={best} ({rate[best]:.2f}); auto {rate['auto']:.2f} = "
          f"{ratio:.3f}× [{'PASS' if ratio >= 1.05 else 'FAIL'}: ≥ 1.05×]")
    print(f"wall clock: best fixed K={best_wall} ({wall[best_wall]:.2f} tok/s); auto {wall['auto']:.2f} = "
          f"{wall['auto'] / wall[best_wall]:.3f}×")


if __name__ == "__main__":
    main()
