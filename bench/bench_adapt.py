"""Draft adaptation: acceptance, τ and tokens/s of layerskip:N before and after `specviz adapt`.

    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_adapt.py --layers 26          # one N, default training config
    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_adapt.py --layers 8 --eval forced --teacher full
    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_adapt.py --evaluate bench/out/adapters/default-ls8 --with-target

Training domain (bench/adapt_prompts.py): one-sentence explanations of a concept, three
phrasings; --train-prompts training prompts whose target's greedy outputs are the labels
(self-distillation, cached in bench/out/adapt_cache/ so repeated runs do not regenerate
them) and 16 held-out prompts on other topics. Held-out figures: teacher-forced agreement
(share of the target's output positions where the drafter's argmax is the target's) and,
with --eval record, recorded greedy runs at K = 4 (acceptance, τ, tokens/s). --evaluate
records the held-out prompts with saved adapters, unadapted and adapted (and the target
alone), so training can run at low priority and the timed runs alone under the lock. Goals (issue 8): acceptance +0.20 absolute on held-out prompts for the best N;
training <= 10 minutes for the default configuration on 2 CPUs; examples/s reported.
Prints `uptime` and a Markdown table; writes --out (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import specviz  # noqa: F401  (OpenBLAS before mlx)
from specviz.adapt import Item, TrainConfig, adapt, items_from_prompts
from specviz.adapt.session import model_fingerprint
from specviz.adapt.train import agreement, teacher_targets
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import build_drafter, parse_drafter
from specviz.engine.specs import build_target

sys.path.insert(0, str(Path(__file__).parent))
from adapt_prompts import held_out_prompts, training_prompts  # noqa: E402

CACHE = Path("bench/out/adapt_cache")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cached_items(target, prompts: list[str], max_tokens: int, all_positions: bool) -> list[Item]:
    """Self-distillation sequences, from the disk cache when this model and these prompts were done."""
    key = hashlib.sha256(json.dumps([model_fingerprint(target), prompts, max_tokens]).encode()).hexdigest()[:16]
    path = CACHE / f"items-{key}.json"
    if path.exists():
        rows = json.loads(path.read_text())
    else:
        t0 = time.perf_counter()
        rows = [[it.ids, it.positions[0]] for it in items_from_prompts(target, prompts, max_tokens)]
        print(f"self-distillation: {len(rows)} sequences in {time.perf_counter() - t0:.0f} s ({uptime()})", flush=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))
    return [Item(ids, list(range(1 if all_positions else first, len(ids)))) for ids, first in rows]


def forced_agreement(target, spec: str, items: list[Item]) -> float:
    """Teacher-forced: share of the held-out outputs' positions where the drafter's argmax is the target's."""
    d = parse_drafter(spec)
    if d.option("lora"):
        from specviz.engine.drafters.lora import adapted_early_exit

        model = adapted_early_exit(target.model, d.n, d.option("lora"))
    else:
        from specviz.engine.drafters.lora import EarlyExitModule

        model = EarlyExitModule(target.model, d.n)
    return agreement(model, items, [teacher_targets(target.model, it) for it in items])


def record(target, spec: str | None, prompts: list[str], max_tokens: int) -> dict:
    method = "speculative" if spec else "autoregressive"
    engine = Engine(target, build_drafter(spec, target) if spec else None, drafter_spec=spec or "none")
    fin = [engine.record(p, RunOptions(k=4, max_tokens=max_tokens, baseline=False, method=method), recording="null").finished
           for p in prompts]
    tested = sum(f.tested for f in fin)
    return {"acceptance": sum(f.accepted for f in fin) / tested if tested else 0.0, "tested": tested,
            "tau": statistics.mean(f.tau or 0 for f in fin), "tok_s": statistics.mean(f.tokens_per_s or 0 for f in fin),
            "uptime": uptime()}


def config_from(args) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def train_one(target, n: int, items: list[Item], held: list[Item], held_prompts: list[str], args) -> dict:
    spec = f"layerskip:{n}"
    row: dict = {"drafter": spec, "forced_before": forced_agreement(target, spec, held)}
    if args.eval == "record":
        row["before"] = record(target, spec, held_prompts, args.max_tokens)
    config = config_from(args)
    out = Path(args.adapters) / f"{args.tag}-ls{n}"
    cpu0 = time.process_time()
    path, result = adapt(target, spec, items, out, config,
                         progress=lambda i, loss, tps: print(f"  {spec} step {i} loss {loss:.3f} {tps:.0f} tok/s", flush=True)
                         if i % 20 == 0 else None)
    row.update({"adapter": str(path), "config": dataclasses.asdict(config), "train_cpu_s": time.process_time() - cpu0,
                "train_s": result.seconds, "examples_per_s": result.examples_per_s, "loss": [result.losses[0], result.losses[-1]],
                "val_agreement": [result.val_agreement_before, result.val_agreement_after], "train_uptime": uptime(),
                "forced_after": forced_agreement(target, f"{spec}+lora:{path}", held)})
    if args.eval == "record":
        row["after"] = record(target, f"{spec}+lora:{path}", held_prompts, args.max_tokens)
        row["gain"] = row["after"]["acceptance"] - row["before"]["acceptance"]
    return row


def print_rows(rows: list[dict]) -> None:
    print("\n| drafter | held-out acceptance before → after (recorded) | gain | τ before → after | tok/s before → after | "
          "held-out agreement (forced) | val agreement | train loss | training CPU-s | examples/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, a = r.get("before"), r.get("after")
        rec = (f"{b['acceptance']:.1%} → {a['acceptance']:.1%} | {r['gain']:+.2f} | {b['tau']:.2f} → {a['tau']:.2f} | "
               f"{b['tok_s']:.2f} → {a['tok_s']:.2f}") if b else "– | – | – | –"
        print(f"| {r['drafter']} | {rec} | {r['forced_before']:.1%} → {r['forced_after']:.1%} | "
              f"{r['val_agreement'][0]:.1%} → {r['val_agreement'][1]:.1%} | {r['loss'][0]:.2f} → {r['loss'][1]:.2f} | "
              f"{r['train_cpu_s']:.0f} | {r['examples_per_s']:.2f} |")


def evaluate(target, adapters: list[str], prompts: list[str], max_tokens: int, with_target: bool,
             adapted_only: bool = False) -> list[dict]:
    """Record the held-out prompts with each saved adapter's drafter unadapted, then adapted
    (and the target alone first with ``with_target``): acceptance gain and tokens/s per N.
    ``adapted_only``: the adapted drafters alone, back to back (which N is fastest)."""
    base = record(target, None, prompts, max_tokens) if with_target else None
    rows = []
    for path in adapters:
        spec = json.loads((Path(path) / "specviz_adapter.json").read_text())["drafter"]
        before = None if adapted_only else record(target, spec, prompts, max_tokens)
        after = record(target, f"{spec}+lora:{path}", prompts, max_tokens)
        before = before or after
        rows.append({"drafter": spec, "adapter": path, "before": before, "after": after, "target_alone": base,
                     "gain": after["acceptance"] - before["acceptance"]})
        print(json.dumps(rows[-1]), flush=True)
    if base:
        print(f"target alone: {base['tok_s']:.2f} tok/s ({base['uptime']})")
    print("\n| drafter | acceptance before → after | gain | tested positions | τ before → after | tok/s before → after | uptime |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        b, a = r["before"], r["after"]
        print(f"| {r['drafter']} | {b['acceptance']:.1%} → {a['acceptance']:.1%} | {r['gain']:+.2f} | {b['tested']} → {a['tested']} | "
              f"{b['tau']:.2f} → {a['tau']:.2f} | {b['tok_s']:.2f} → {a['tok_s']:.2f} | {a['uptime'].split('load average: ')[-1]} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="26")
    ap.add_argument("--train-prompts", type=int, default=200)
    ap.add_argument("--held-out", type=int, default=16)
    ap.add_argument("--all-positions", action="store_true", help="train on the prompt's positions too")
    ap.add_argument("--eval", choices=["record", "forced"], default="record")
    ap.add_argument("--evaluate", help="comma-separated saved adapter directories: record held-out runs only")
    ap.add_argument("--with-target", action="store_true", help="with --evaluate: record the target alone too")
    ap.add_argument("--adapted-only", action="store_true", help="with --evaluate: skip the unadapted drafters")
    for f in dataclasses.fields(TrainConfig):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--tag", default="default")
    ap.add_argument("--adapters", default="bench/out/adapters")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    target = build_target("bundled")
    held_prompts = held_out_prompts(args.held_out)
    print(uptime(), flush=True)
    if args.evaluate:
        rows = evaluate(target, args.evaluate.split(","), held_prompts, args.max_tokens, args.with_target,
                        args.adapted_only)
        out = Path(args.out or f"bench/out/adapt-eval-{args.tag}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        return out.write_text(json.dumps(rows, indent=1))
    items = cached_items(target, training_prompts(args.train_prompts), args.max_tokens, args.all_positions)
    held = cached_items(target, held_prompts, args.max_tokens, False)
    rows = []
    for n in [int(x) for x in args.layers.split(",")]:
        rows.append(train_one(target, n, items, held, held_prompts, args))
        print(json.dumps(rows[-1]), flush=True)
    env = {"cpus": os.cpu_count(), "uptime_end": uptime(), "train_prompts": len(items), "held_out": len(held),
           "all_positions": args.all_positions, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""),
           "max_tokens": args.max_tokens}
    out = Path(args.out or f"bench/out/adapt-{args.tag}-{args.layers.replace(',', '-')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    print_rows(rows)
    print(f"Environment: {env}")


if __name__ == "__main__":
    main()
