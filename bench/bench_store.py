"""Trace store benchmark: recording throughput, bytes per event, cross-run aggregate time.

    uv run python bench/bench_store.py                 # all three figures
    uv run python bench/bench_store.py --events 2000000 --runs 1000 --run-events 10000 --top 0

Synthetic events shaped like the engine's: rounds of K=4 draft_token events, their
verify verdicts (accepted / rejected+resampled / bonus) and one round_metrics. Model
numbers (logprobs, entropies, probabilities) are float32 values, as the models produce
them; timings are float64. ``--top N`` adds N top-k alternatives to every draft and
verify event.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from specviz.events import DraftToken, RoundMetrics, RunFinished, RunStarted, TopToken, Verify
from specviz.recording import NullRecording, open_run
from specviz.sql import connect

WORDS = [f" w{i}" for i in range(2000)]


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def synthetic_events(n: int, *, k: int = 4, top: int = 0, seed: int = 0) -> list:
    rng = random.Random(seed)
    events: list = []
    rnd = 0
    while len(events) < n:
        drafts = []
        for pos in range(k):
            tid = rng.randrange(len(WORDS))
            alts = [TopToken(a, WORDS[a], f32(-rng.random() * 5)) for a in rng.sample(range(len(WORDS)), top)]
            drafts.append(tid)
            events.append(
                DraftToken(round=rnd, position=pos, token_id=tid, token_text=WORDS[tid], logprob=f32(-rng.random() * 3),
                           entropy=f32(rng.random() * 4), top=alts, draft_ms=round(rng.uniform(0.1, 0.4), 3))
            )
        for pos, tid in enumerate(drafts):
            p, q, u = f32(-rng.random() * 3), f32(-rng.random() * 3), f32(rng.random())
            accept = u < 0.75
            alts = [TopToken(a, WORDS[a], f32(-rng.random() * 5)) for a in rng.sample(range(len(WORDS)), top)]
            common = dict(round=rnd, position=pos, draft_token_id=tid, draft_token_text=WORDS[tid], draft_logprob=q,
                          target_logprob=p, acceptance_prob=f32(min(1.0, 2.718 ** (p - q))), target_entropy=f32(rng.random() * 4), u=u, top=alts)
            if accept:
                events.append(Verify(status="accepted", token_id=tid, token_text=WORDS[tid], final_logprob=p, **common))
            else:
                new = rng.randrange(len(WORDS))
                events.append(Verify(status="rejected", token_id=new, token_text=WORDS[new], final_logprob=p, **common))
                events.append(Verify(status="resampled", token_id=new, token_text=WORDS[new], final_logprob=p, **common))
                break
        else:
            b = rng.randrange(len(WORDS))
            events.append(Verify(round=rnd, position=k, status="bonus", token_id=b, token_text=WORDS[b], final_logprob=f32(-rng.random())))
        events.append(RoundMetrics(round=rnd, drafted=k, tested=k, accepted=3, produced=4, draft_ms=1.2, verify_ms=round(rng.uniform(5, 9), 3),
                                   sample_ms=0.1, round_ms=round(rng.uniform(7, 11), 3), acceptance_rolling=f32(rng.random()),
                                   acceptance_cumulative=f32(rng.random()), total_tokens=4 * (rnd + 1), tokens_per_s=f32(rng.uniform(20, 40))))
        rnd += 1
    return events[:n]


def started(k: int = 4, temperature: float = 0.7) -> RunStarted:
    return RunStarted(prompt="Explain speculative decoding.", drafter="ngram:3", target="bundled", k=k, temperature=temperature,
                      max_tokens=512, method="speculative", acceptance_rule="rejection-sampling", versions={"specviz": "0.1.0"})


def finished(n: int) -> RunFinished:
    return RunFinished(status="completed", finish_reason="max_tokens", rounds=n // 10, drafted=n, tested=n, accepted=n * 3 // 4,
                       produced=n, acceptance_rate=0.75, tokens_per_s=30.0, speedup=1.8)


def bench_recording(n: int, top: int, flush) -> None:
    events = synthetic_events(n, top=top)
    null = NullRecording(None, started())
    t0 = time.perf_counter()
    for ev in events:
        null.log(ev)
    t_null = time.perf_counter() - t0
    for ev in events:
        ev.seq = ev.t_mono_ns = ev.t_wall_ns = 0

    pa.array([0.0])  # pyarrow imports pandas on its first conversion: a one-off per process, not per run
    with tempfile.TemporaryDirectory() as d:
        u0 = resource.getrusage(resource.RUSAGE_SELF)
        w0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        rec = open_run(d, started(), flush=flush)
        for ev in events:
            rec.log(ev)
        w1, c1 = time.perf_counter(), time.process_time()
        u1 = resource.getrusage(resource.RUSAGE_SELF)
        path = rec.finish(finished(n))
        w2, c2, m2 = time.perf_counter(), time.process_time(), time.thread_time()
        u2 = resource.getrusage(resource.RUSAGE_SELF)
        size = path.stat().st_size
        columns = _column_bytes(path)
        t_encode = _parquet_encode_only(path, Path(d) / "again.parquet")
    import specviz.store

    print(f"recording ({n:,} events, top-k {top}, flush={flush!r}, {specviz.store.RECORDING_PATH} recording path); "
          "wall clock, and CPU time of this process (all its threads):")
    print(f"  recording off (NullRecording.log)  {n / t_null:>12,.0f} events/s")
    print(f"  log() into the live log           {n / (w1 - w0):>12,.0f} events/s   cpu {n / (c1 - c0):>12,.0f} events/s")
    print(f"  finish(): events -> Parquet       {n / (w2 - w1):>12,.0f} events/s   cpu {n / (c2 - c1):>12,.0f} events/s")
    print(f"  log() + finish() end to end       {n / (w2 - w0):>12,.0f} events/s   cpu {n / (c2 - c0):>12,.0f} events/s   ({w2 - w0:.2f} s)")
    main_cpu, other_cpu = m2 - m0, (c2 - c0) - (m2 - m0)
    print(f"  CPU by thread, end to end           recording thread {main_cpu * 1e9 / n:.0f} ns/event, "
          f"other threads (the Parquet encoder) {other_cpu * 1e9 / n:.0f} ns/event: with two free cores the "
          f"wall clock would be bounded by the larger ({n / max(main_cpu, other_cpu):,.0f} events/s; not a measurement)")
    print(
        f"  kernel (sys) share of the CPU time  log() {(u1.ru_stime - u0.ru_stime) * 1e9 / n:.0f} ns/event, "
        f"finish() {(u2.ru_stime - u1.ru_stime) * 1e9 / n:.0f} ns/event (writes, page faults); peak RSS {u2.ru_maxrss / 1024:,.0f} MB"
    )
    print(f"  Parquet encoder alone (the same table written again: no Python per event)  {n / t_encode:>12,.0f} events/s")
    print(f"  on disk                           {size / n:>12.2f} bytes/event ({size:,} bytes)")
    print("  largest columns (bytes/event): " + ", ".join(f"{name} {b / n:.2f}" for name, b in columns[:8]))
    print(f"  load average while measuring      {os.getloadavg()[0]:>12.2f} (2 cores)")
    rate, per_event = n / (w2 - w0), size / n
    print(f"  [{'PASS' if rate >= 1e6 else 'FAIL'}] end to end {rate:,.0f} events/s vs goal 1,000,000 ({rate / 1e6:.2f}x)")
    print(f"  [{'PASS' if per_event <= 16 else 'FAIL'}] {per_event:.2f} bytes/event vs goal 16 ({per_event / 16:.2f}x)")


def _parquet_encode_only(path: Path, out: Path) -> float:
    """Seconds pyarrow's writer takes for the finished table with the store's options: the
    floor under finish() that no Python-side change can lower."""
    from specviz.store.parquet_file import WRITE_OPTIONS

    table = pq.read_table(path)
    t0 = time.perf_counter()
    pq.write_table(table, out, row_group_size=table.num_rows, store_schema=False, **WRITE_OPTIONS)
    return time.perf_counter() - t0


def _column_bytes(path: Path) -> list[tuple[str, int]]:
    meta = pq.read_metadata(path)
    sizes: dict[str, int] = {}
    for r in range(meta.num_row_groups):
        rg = meta.row_group(r)
        for i in range(rg.num_columns):
            col = rg.column(i)
            name = col.path_in_schema.split(".")[0]
            sizes[name] = sizes.get(name, 0) + col.total_compressed_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])


def bench_aggregate(runs: int, per_run: int, keep: Path | None) -> None:
    d = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="specviz-bench-"))
    template = synthetic_events(per_run)
    t0 = time.perf_counter()
    if not any(d.glob("date=*/run-*.parquet")):
        for i in range(runs):
            rec = open_run(d, started(k=(2, 4, 6, 8)[i % 4], temperature=(0.0, 0.7, 1.0)[i % 3]), flush="close")
            for ev in template:
                ev.seq = ev.t_mono_ns = ev.t_wall_ns = 0
                rec.log(ev)
            rec.finish(finished(per_run))
    t_write = time.perf_counter() - t0
    run_files, packs = (len(list(d.glob(f"date=*/{kind}-*.parquet"))) for kind in ("run", "pack"))
    auto = "off" if os.environ.get("SPECVIZ_AUTO_COMPACT", "1").strip() == "0" else "on"
    queries = {
        "acceptance by k, temperature (runs)": "SELECT k, temperature, avg(acceptance_rate) AS acc, count(*) AS n FROM runs GROUP BY ALL ORDER BY ALL",
        "acceptance by k, temperature (verifications)": (
            "SELECT r.k, r.temperature, avg((v.status = 'accepted')::INT) AS acc, count(*) AS n FROM verifications v "
            "JOIN runs r USING (run_id) WHERE v.status <> 'bonus' GROUP BY ALL ORDER BY ALL"
        ),
        "events by kind (all rows)": "SELECT kind, count(*) FROM events GROUP BY ALL",
    }
    t0 = time.perf_counter()
    con = connect(d)
    t_connect = time.perf_counter() - t0
    n_events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"aggregate over {runs:,} runs / {n_events:,} events ({d}; written in {t_write:.1f} s, "
          f"recording's auto compaction {auto}: {run_files} run files + {packs} packs):")
    print(f"  connect (validate footers, views)  {t_connect:.3f} s")
    for name, sql in queries.items():
        best = min(_timed(con, sql) for _ in range(3))
        print(f"  {name:<45} {best:.3f} s")
    t0 = time.perf_counter()
    con = connect(d)
    con.execute(queries["acceptance by k, temperature (runs)"]).fetchall()
    print(f"  connect + runs query, footers cached {time.perf_counter() - t0:.3f} s")
    _cold_figures(d, queries, f"as recorded: {run_files} run files + {packs} packs")
    _one_run_reads(d)
    print(f"  load average while measuring      {os.getloadavg()[0]:>12.2f} (2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        packed = Path(tmp) / "traces"
        shutil.copytree(d, packed)
        from specviz.store.compact import compact

        c0, w0 = time.process_time(), time.perf_counter()
        report = compact(packed)
        files = len(list(packed.glob("date=*/*.parquet")))
        print(f"after `specviz compact` ({len(report.packed):,} runs -> {files} file(s) in {time.perf_counter() - w0:.1f} s, "
              f"{time.process_time() - c0:.1f} CPU-s; {report.bytes_before / 1e6:,.0f} -> {report.bytes_after / 1e6:,.0f} MB):")
        for name in ("acceptance by k, temperature (verifications)", "events by kind (all rows)"):
            con = connect(packed)
            print(f"  {name:<45} {min(_timed(con, queries[name]) for _ in range(3)):.3f} s")
        _cold_figures(packed, queries, "compacted")
    print(f"  load average while measuring      {os.getloadavg()[0]:>12.2f} (2 cores)")
    if not keep:
        shutil.rmtree(d)


def _one_run_reads(d: Path) -> None:
    """What opening one listed run costs (the viewer's read): from a pack, which decodes
    the run's row group, against from its own file; five runs of each, alternating."""
    from specviz.store import scan
    from specviz.store.catalog import read_run

    runs = scan(d).runs
    packed = [s for s in runs if s.path.name.startswith("pack-")][:5]
    own = [s for s in runs if s.path.name.startswith("run-")][:5]
    read_run(runs[-1])  # imports and first-call set-up, not a run's read
    took: dict[str, list[float]] = {"pack": [], "file": []}
    for p, f in zip(packed, own):
        for kind, summary in (("pack", p), ("file", f)):
            t0 = time.perf_counter()
            read_run(summary)
            took[kind].append(time.perf_counter() - t0)
    for kind, ts in took.items():
        if ts:
            print(f"  one run's events read from its {kind:<4}       {' '.join(f'{t:.3f}' for t in ts)} s")


def _cold_figures(d: Path, queries: dict[str, str], store: str) -> None:
    with tempfile.TemporaryDirectory() as cache:
        _cold(d, queries["acceptance by k, temperature (runs)"], cache)  # a first process fills the footer cache
        for name in ("acceptance by k, temperature (runs)", "acceptance by k, temperature (verifications)"):
            first = min(_cold(d, queries[name], "off") for _ in range(3))
            took = min(_cold(d, queries[name], cache) for _ in range(3))
            print(f"  cold connect (new process, no footer cache: a store never opened before) + {name}: {first:.3f} s  [{store}]")
            print(f"  [{'PASS' if took < 0.5 else 'FAIL'}] cold connect (new process, footer cache) + {name}: {took:.3f} s vs goal 0.5 s  [{store}]")


_COLD = (
    "import sys, time\n"
    "from specviz.sql import connect\n"
    "t = time.perf_counter()\n"
    "connect(sys.argv[1]).execute(sys.argv[2]).fetchall()\n"
    "print(time.perf_counter() - t)\n"
)


def _cold(d: Path, sql: str, cache: str) -> float:
    """connect() + one query in a fresh process (imports not counted); ``cache``: its
    SPECVIZ_CACHE_DIR ("off": every footer validated, as for a store never opened)."""
    env = {**os.environ, "SPECVIZ_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", _COLD, str(d), sql], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip())


def _timed(con, sql: str) -> float:
    t0 = time.perf_counter()
    con.execute(sql).fetchall()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events for the recording figure")
    ap.add_argument("--top", type=int, default=0, help="top-k alternatives per draft/verify event")
    ap.add_argument("--flush", default="round", help="flush policy: event, round, close or N")
    ap.add_argument("--runs", type=int, default=1000, help="runs for the aggregate figure (0 skips it)")
    ap.add_argument("--run-events", type=int, default=10_000, help="events per run for the aggregate figure")
    ap.add_argument("--keep", help="directory to keep (and reuse) the aggregate traces in")
    args = ap.parse_args()
    flush = int(args.flush) if args.flush.isdigit() else args.flush
    if args.events:
        bench_recording(args.events, args.top, flush)
    if args.runs:
        bench_aggregate(args.runs, args.run_events, Path(args.keep) if args.keep else None)


if __name__ == "__main__":
    main()
