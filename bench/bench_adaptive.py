"""Adaptive K (`-k auto`) against every fixed K of a grid, one drafter/target pair, over
prompts mixing input-grounded (copy, rewrite, extract) and open-ended ones.

    OPENBLAS_NUM_THREADS=1 flock /work/wt/notes/bench.lock uv run python bench/bench_adaptive.py \\
        --drafter layerskip:8+lora:bench/out/adapters/final-ls8 [--ks 1,2,3,4,6,8] [--max-tokens 64] [--repeats 1] \\
        [--set tuning|held-out]

Two prompt sets of 8: ``tuning`` (PROMPTS; every K policy so far was designed and tuned on
them) and ``held-out`` (HELD_OUT, written later with other content and used only to evaluate:
the evidence for the goal).

Greedy decoding (the default) makes every configuration produce the same tokens, which is
checked and printed, so tokens/s compares time alone; with --temperature > 0 the runs are
sampled (seeded) and their outputs differ between configurations. Configurations are
interleaved prompt by prompt (each prompt runs every K and auto back to back), so load
changes on the shared machine hit all of them alike. Figures over the whole set, prefill
included (the same work in every configuration): tokens per CPU-second of the process (run
with OPENBLAS_NUM_THREADS=1 so CPU time is the work done) and tokens per wall-clock second
(which also counts waiting for a core on a shared machine); auto against the best fixed K in
hindsight (the one K of the grid that did best over the set), with `uptime` before and after.
Goal: auto ≥ 1.05 × the best fixed K.
"""

from __future__ import annotations

import argparse
import subprocess
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
# Held out: written after every K policy so far was tuned on PROMPTS, and used only to
# evaluate (the same mix: 4 grounded on text given in the prompt, 4 open-ended; other content).
NOTICE = ("Residents are reminded that the swimming pool will close for cleaning on Monday morning. "
          "The gym stays open as usual, but the sauna will reopen only on Thursday, after the new heater is fitted.")
PARSER = ("def parse_line(line):\n    fields = line.strip().split(',')\n    if len(fields) != 3:\n"
          "        return None\n    name, age, city = fields\n    return {'name': name, 'age': int(age), 'city': city}\n")
HELD_OUT = {
    "grounded: copy address": "Copy this address exactly, then copy it once more: Dr. Maria Lopez, 42 Harbour Street, "
                              "Flat 7, Bristol BS1 4QA, United Kingdom.",
    "grounded: past tense": f"Rewrite this notice in the past tense, changing nothing else: {NOTICE}",
    "grounded: rename function": f"Rename the function parse_line to parse_record in this code and show all of it:\n{PARSER}",
    "grounded: quote notice": f"Quote this notice word for word, then say who it is for: {NOTICE}",
    "open: letter": "Write a short letter to a friend about moving to a new city.",
    "open: garden": "Describe a garden you would like to have one day.",
    "open: guitar": "What advice would you give someone learning the guitar?",
    "open: printing": "Tell me how the printing press changed the world.",
}
SETS = {"tuning": PROMPTS, "held-out": HELD_OUT}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def options(config: str, args: argparse.Namespace) -> RunOptions:
    k = 4 if config == "auto" else int(config)
    return RunOptions(k=k, k_policy="auto" if config == "auto" else "fixed", max_tokens=args.max_tokens,
                      temperature=args.temperature, seed=args.seed, baseline="none")


def measure(engine: Engine, configs: list[str], args: argparse.Namespace) -> dict:
    """Every prompt × every configuration, interleaved; totals and per-prompt rates."""
    totals = {c: dict(tokens=0, cpu=0.0, wall=0.0, drafted=0, rounds=0, accepted=0, tested=0) for c in configs}
    per_prompt: dict[str, dict[str, float]] = {}
    outputs: dict[str, set] = {}
    for _ in range(args.repeats):
        for name, prompt in SETS[args.set].items():
            for c in configs:
                c0, w0 = time.process_time(), time.perf_counter()
                f = engine.record(prompt, options(c, args), recording="null").finished
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                t = totals[c]
                for key, value in dict(tokens=f.produced, cpu=cpu, wall=wall, drafted=f.drafted, rounds=f.rounds,
                                       accepted=f.accepted, tested=f.tested).items():
                    t[key] += value
                per_prompt.setdefault(name, {})[c] = f.produced / cpu if cpu else 0.0
                outputs.setdefault(name, set()).add(tuple(f.output_token_ids))
    return dict(totals=totals, per_prompt=per_prompt, same=all(len(v) == 1 for v in outputs.values()))


def report(m: dict, configs: list[str], args: argparse.Namespace) -> None:
    totals = m["totals"]
    label = {c: "auto" if c == "auto" else f"K={c}" for c in configs}
    print("per prompt, tokens per CPU-second:")
    print("prompt".ljust(28) + "".join(f"{label[c]:>9}" for c in configs))
    for name, row in m["per_prompt"].items():
        print(name.ljust(28) + "".join(f"{row[c]:>9.2f}" for c in configs))
    rate = {c: totals[c]["tokens"] / totals[c]["cpu"] for c in configs}
    wall = {c: totals[c]["tokens"] / totals[c]["wall"] for c in configs}
    rows = [("whole set, tok per CPU-s", rate, ".3f"), ("whole set, tok per wall-s", wall, ".3f"),
            ("drafted per round", {c: totals[c]["drafted"] / totals[c]["rounds"] for c in configs}, ".2f"),
            ("acceptance", {c: totals[c]["accepted"] / max(1, totals[c]["tested"]) for c in configs}, ".2f")]
    for title, values, fmt in rows:
        print(title.ljust(28) + "".join(f"{values[c]:>9{fmt}}" for c in configs))
    fixed = [c for c in configs if c != "auto"]
    for title, values in (("per CPU-second", rate), ("per wall-clock second", wall)):
        best = max(fixed, key=values.get)
        ratio = values["auto"] / values[best]
        print(f"{title}: best fixed K in hindsight K={best} ({values[best]:.3f} tok/s); auto {values['auto']:.3f} = "
              f"{ratio:.3f}× [{'PASS' if ratio >= 1.05 else 'FAIL'}: ≥ 1.05×]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drafter", default="ngram:3", help="drafter spec (the same for auto and every fixed K)")
    ap.add_argument("--ks", default="1,2,3,4,6,8", help="the grid of fixed K values")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1, help="passes over the prompt set")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", choices=sorted(SETS), default="tuning",
                    help="the prompts: 'tuning' (every K policy was tuned on them) or 'held-out' (the evidence)")
    args = ap.parse_args()
    configs = [str(int(k)) for k in args.ks.split(",")] + ["auto"]
    engine = Engine.from_specs("bundled", args.drafter)
    engine.record("warm up", RunOptions(k=4, max_tokens=8, baseline="none"), recording="null")
    print(f"before: {uptime()}", flush=True)
    t0 = time.perf_counter()
    m = measure(engine, configs, args)
    print(f"after:  {uptime()}")
    print(f"{len(SETS[args.set])} {args.set} prompts × {args.repeats} pass(es), T={args.temperature}, bundled target, drafter "
          f"{args.drafter}, max {args.max_tokens} tokens; {time.perf_counter() - t0:.0f} s")
    if args.temperature == 0:
        print(f"every configuration produced the same tokens on every prompt: {m['same']}")
    report(m, configs, args)


if __name__ == "__main__":
    main()
