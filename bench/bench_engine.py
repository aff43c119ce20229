"""Engine benchmark: every drafter and method side by side on a fixed prompt set.

    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_engine.py            # full set (~10 min, 2 CPUs)
    OPENBLAS_NUM_THREADS=1 uv run python bench/bench_engine.py --quick    # 2 prompts, fewer configs

Prints a Markdown table (paste into BENCHMARKS.md) and writes bench/out/engine.json.

Measured per (prompt, config), all in one process, configs interleaved per prompt and
repeated (--reps, best kept: the machine's CPUs are shared):
  tok per CPU-s produced tokens / CPU seconds of the whole run (prefill included; caches
                cold for every method). Used for speedups: it does not move with other
                processes' load (run with OPENBLAS_NUM_THREADS=1 so work = CPU time)
  wall tok/s    produced tokens / round wall time, round 0 excluded (mlx_lm prefills
                inside its first round)
  speedup       tok per CPU-s / the autoregressive run's on the same prompt
  tau, acceptance, alpha  as recorded (definitions in README.md, "Metrics")
  bound         Leviathan et al.'s expected speedup from measured alpha (acceptance where alpha
                is unknown) over the rounds the run drafted (specviz.totals.leviathan_bound:
                sum of (1 - a^(K_r+1)) / (1 - a) over sum of (c K_r + 1)), c = draft ms per
                drafted token / verify ms per round
Recording overhead: time spent inside the recording API (log/flush/finish) as a share of
wall time, and an A/B of wall time with open_run vs NullRecording.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import specviz  # noqa: F401  (OpenBLAS before mlx)
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import build_drafter
from specviz.engine.specs import build_target
from specviz.totals import leviathan_bound
from specviz.events import RoundMetrics
from specviz.recording import NullRecording, open_run

GROUNDED = [
    "Rewrite the following paragraph in the passive voice, keeping every detail: The engineers tested "
    "the new bridge on Monday. They loaded it with forty trucks and measured how far it bent. The "
    "inspectors then reviewed the data and approved the bridge for traffic.",
    "Summarise this text in two sentences, reusing its wording: Speculative decoding speeds up text "
    "generation by letting a small draft model propose several tokens that a large target model then "
    "verifies in a single forward pass. Tokens the target agrees with are kept, and the first "
    "disagreement is replaced by a token sampled from the target, so the output follows the target's "
    "distribution exactly.",
    "Rename the variable `total` to `running_sum` in this Python function and return the whole "
    "function:\n\ndef add_all(values):\n    total = 0\n    for value in values:\n        total = total + value\n"
    "    return total\n",
]
OPEN = [
    "Explain speculative decoding in two sentences.",
    "Write a short poem about the sea.",
]

# (label, method, drafter spec, K)
CONFIGS = [
    ("autoregressive", "autoregressive", "none", 0),
    ("ngram:3 K=2", "speculative", "ngram:3", 2),
    ("ngram:3 K=4", "speculative", "ngram:3", 4),
    ("ngram:3 K=8", "speculative", "ngram:3", 8),
    ("layerskip:26 K=2", "speculative", "layerskip:26", 2),
    ("mlx-lm layerskip:26 K=2", "mlx-lm", "layerskip:26", 2),
    ("mlx:bundled K=3", "speculative", "mlx:bundled", 3),
    ("mlx-lm mlx:bundled K=3", "mlx-lm", "mlx:bundled", 3),
]
# Wall time on a shared machine swings by +-50% between repeats; CPU seconds of this process
# (one BLAS thread) do not, so speedups are computed from tokens per CPU-second.
METRIC = "cpu_tps"
QUICK = ["autoregressive", "ngram:3 K=4", "layerskip:26 K=2", "mlx-lm layerskip:26 K=2"]


class MemoryRecording(NullRecording):
    """NullRecording that keeps the round_metrics events (to leave round 0 out)."""

    def __init__(self, *a, **kw):
        self.rounds: list[RoundMetrics] = []
        super().__init__(*a, **kw)

    def log(self, event):
        if isinstance(event, RoundMetrics):
            self.rounds.append(event)
        return super().log(event)


class TimedRecording:
    """A real recording whose API calls are timed: log/flush during the run, finish apart
    (finish publishes the Parquet file once, after generation)."""

    def __init__(self, rec):
        self.rec, self.seconds, self.finish_seconds = rec, 0.0, 0.0
        self.run_id = rec.run_id

    def _timed(self, bucket, fn, *args):
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            setattr(self, bucket, getattr(self, bucket) + time.perf_counter() - t)

    def log(self, event):
        return self._timed("seconds", self.rec.log, event)

    def flush(self):
        return self._timed("seconds", self.rec.flush)

    def finish(self, finished):
        return self._timed("finish_seconds", self.rec.finish, finished)


def engines() -> dict[str, Engine]:
    target = build_target("bundled")
    out = {}
    for _, _, spec, _ in CONFIGS:
        if spec not in out:
            out[spec] = Engine(target, build_drafter(spec, target), target_spec="bundled", drafter_spec=spec)
    return out


def run(engine: Engine, prompt: str, method: str, k: int, max_tokens: int) -> dict:
    options = RunOptions(method=method, k=max(k, 1), max_tokens=max_tokens, baseline=False)
    started = engine.started_event(prompt, options)
    rec = MemoryRecording(None, started)
    # Cold caches for every method alike (the engine would otherwise reuse the previous
    # run's prompt prefix, which mlx_lm's fresh caches cannot).
    engine.target.state.reset()
    if getattr(engine.drafter, "state", None) is not None:
        engine.drafter.state.reset()
    t, cpu = time.perf_counter(), time.process_time()
    result = engine._drive(rec, started, options, None)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    f = result.finished
    steady = rec.rounds[1:] or rec.rounds
    produced = sum(r.produced for r in steady)
    ms = sum(r.round_ms for r in steady)
    return {
        "produced": f.produced,
        "rounds": f.rounds,
        "decode_tps": produced / (ms / 1e3) if ms else 0.0,
        "cpu_tps": f.produced / cpu if cpu else 0.0,  # whole run, prefill included, CPU seconds
        "tps_recorded": f.tokens_per_s,
        "tau": f.tau,
        "acceptance": f.acceptance_rate,
        "alpha": f.alpha,
        "k_effective": f.k_effective,
        "draft_ms_per_token": (f.draft_ms / f.drafted) if f.drafted else 0.0,
        "verify_ms_per_round": f.verify_ms / f.rounds if f.rounds else 0.0,
        "drafted_per_round": [r.drafted for r in rec.rounds],
        "wall_s": wall,
        "finish": f.finish_reason,
        "tokens": result.token_ids,
    }


def recording_overhead(engine: Engine, prompts: list[str], max_tokens: int, reps: int) -> dict:
    shares, finish_shares, ab = [], [], {"record": [], "null": []}
    with tempfile.TemporaryDirectory() as traces:
        warm = engine.started_event("Hello.", RunOptions(max_tokens=2, baseline=False))
        engine._drive(open_run(traces, warm), warm, RunOptions(max_tokens=2, baseline=False), None)  # imports
        for rep in range(reps):
            for prompt in prompts:
                for mode in (("record", "null") if rep % 2 == 0 else ("null", "record")):
                    options = RunOptions(k=4, max_tokens=max_tokens, baseline=False)
                    started = engine.started_event(prompt, options)
                    engine.target.state.reset()
                    t, cpu = time.perf_counter(), time.process_time()
                    if mode == "record":
                        rec = TimedRecording(open_run(traces, started))
                        t0 = time.perf_counter()
                        engine._drive(rec, started, options, None)
                        wall = time.perf_counter() - t
                        shares.append((rec.seconds + (t0 - t)) / wall)  # open_run + log/flush
                        finish_shares.append(rec.finish_seconds / wall)
                    else:
                        engine._drive(NullRecording(None, started), started, options, None)
                    ab[mode].append(time.process_time() - cpu)  # CPU seconds: immune to other load
    return {
        "recording_api_share_of_wall": statistics.median(shares),
        "recording_api_share_max": max(shares),
        "finish_share_of_wall": statistics.median(finish_shares),
        "cpu_record_s": statistics.median(ab["record"]),
        "cpu_null_s": statistics.median(ab["null"]),
        "ab_ratio": statistics.median(ab["record"]) / statistics.median(ab["null"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="2 prompts, 4 configs")
    ap.add_argument("--overhead-reps", type=int, default=3)
    ap.add_argument("--reps", type=int, default=1, help="interleaved repeats per prompt; best kept")
    ap.add_argument("--out", default="bench/out/engine.json")
    args = ap.parse_args()

    prompts = [("grounded", p) for p in GROUNDED] + [("open", p) for p in OPEN]
    configs = CONFIGS
    if args.quick:
        prompts = [prompts[0], prompts[3]]
        configs = [c for c in CONFIGS if c[0] in QUICK]
    t0 = time.time()
    eng = engines()
    for label, method, spec, k in configs:  # warm-up: first calls allocate and compile
        run(eng[spec], "Hello there.", method, k, 4)

    rows = []
    for kind, prompt in prompts:
        ar = None
        best: dict[str, dict] = {}
        for rep in range(args.reps):  # interleaved repeats; the best of each is kept (shared CPUs are noisy)
            for label, method, spec, k in configs:
                r = run(eng[spec], prompt, method, k, args.max_tokens)
                if label not in best or r[METRIC] > best[label][METRIC]:
                    best[label] = r
        for label, method, spec, k in configs:
            r = best[label]
            if method == "autoregressive":
                ar = r
            r.update(kind=kind, prompt=prompt[:40], config=label, method=method, drafter=spec, k=k)
            if ar is not None and ar[METRIC]:
                r["speedup"] = r[METRIC] / ar[METRIC]
                r["speedup_wall"] = r["decode_tps"] / ar["decode_tps"] if ar["decode_tps"] else None
                r["same_tokens_as_ar"] = r["tokens"] == ar["tokens"]
                a = r["alpha"] if r["alpha"] is not None else r["acceptance"]
                if k and a is not None and method != "mlx-lm":  # mlx-lm: no draft timing
                    c = r["draft_ms_per_token"] / r["verify_ms_per_round"]  # both wall ms
                    r["c"] = c
                    r["bound"] = leviathan_bound(a, r["drafted_per_round"], c)
            rows.append(r)
            print(f"{kind:8} {label:26} {r['cpu_tps']:6.1f} tok/CPU-s {r['decode_tps']:6.1f} tok/s wall  speedup {r.get('speedup', 1):.2f}  "
                  f"tau {r['tau'] or 0:.2f}  acc {r['acceptance'] if r['acceptance'] is not None else float('nan'):.2f}", flush=True)

    overhead = recording_overhead(eng["ngram:3"], GROUNDED[:2], args.max_tokens, args.overhead_reps)

    # Summary per config and prompt kind: geometric mean of speedups, mean tok/s.
    summary = []
    for label, method, spec, k in configs:
        for kind in ("grounded", "open"):
            sel = [r for r in rows if r["config"] == label and r["kind"] == kind]
            if not sel:
                continue
            sp = [r["speedup"] for r in sel if r.get("speedup")]
            geo = statistics.geometric_mean(sp) if sp else None
            acc = [r["acceptance"] for r in sel if r["acceptance"] is not None]
            bounds = [r["bound"] for r in sel if r.get("bound")]
            spw = [r["speedup_wall"] for r in sel if r.get("speedup_wall")]
            summary.append({
                "config": label, "kind": kind,
                "tok_s": statistics.mean(r[METRIC] for r in sel),
                "tok_s_wall": statistics.mean(r["decode_tps"] for r in sel),
                "speedup_wall": statistics.geometric_mean(spw) if spw else None,
                "speedup": geo,
                "tau": statistics.mean(r["tau"] or 0 for r in sel),
                "acceptance": statistics.mean(acc) if acc else None,
                "bound": statistics.mean(bounds) if bounds else None,
                "same_tokens": all(r.get("same_tokens_as_ar", True) for r in sel),
            })
    env = {
        "host": platform.node(), "cpus": os.cpu_count(), "load_avg_1m_end": os.getloadavg()[0],
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""), "max_tokens": args.max_tokens,
        "minutes": (time.time() - t0) / 60,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"env": env, "rows": [{k: v for k, v in r.items() if k not in ("tokens", "drafted_per_round")} for r in rows],
                                          "summary": summary, "recording_overhead": overhead}, indent=1))

    print()
    print("| config | prompts | tok per CPU-s | speedup vs AR (CPU) | wall decode tok/s | speedup (wall) | τ | acceptance | Leviathan bound | same tokens as AR |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v, f: "–" if v is None else format(v, f)  # noqa: E731
    for s in summary:
        print(f"| {s['config']} | {s['kind']} | {s['tok_s']:.1f} | {fmt(s['speedup'], '.2f')}× | {s['tok_s_wall']:.1f} | "
              f"{fmt(s['speedup_wall'], '.2f')}× | {s['tau']:.2f} | "
              f"{fmt(s['acceptance'], '.0%')} | {fmt(s['bound'], '.2f')} | {'yes' if s['same_tokens'] else 'NO'} |")
    print()
    print(f"Recording overhead (ngram:3 K=4, {args.max_tokens} tokens): open_run + log/flush take "
          f"{overhead['recording_api_share_of_wall']:.2%} of wall time (median; max {overhead['recording_api_share_max']:.2%}); "
          f"finish (publishing the Parquet file) {overhead['finish_share_of_wall']:.2%}; "
          f"A/B CPU time {overhead['cpu_record_s']:.2f}s recorded vs {overhead['cpu_null_s']:.2f}s NullRecording "
          f"(ratio {overhead['ab_ratio']:.3f}).")
    print(f"Environment: {env}")


if __name__ == "__main__":
    main()
