"""Scaling out (issue 12): a sweep on Ray against the same sweep in-process, and the trace
views on Spark against DuckDB's, each measured side by side in one run.

    uv run python bench/bench_scale.py ray                    # 16 short runs, 2 workers
    uv run python bench/bench_scale.py spark --traces DIR     # a store of 1,000 runs / 10 M events
    uv run python bench/bench_store.py --events 0 --runs 1000 --run-events 10000 --keep DIR   # makes one

ray: the same 16 jobs (8 prompts x K 2, 4; bundled model; ngram:3; T = 0; 24 tokens; no
baselines) on a local Ray cluster with 2 worker actors, then in this process; prints both
wall times, the ratio, and whether every run's tokens are identical. Both sweeps include
their model loads (each Ray worker loads the model once, as the in-process sweep does);
the Ray cluster's own start is printed apart, since a cluster outlives its sweeps. Needs
`uv sync --extra ray`.

spark: PySpark local[2] over the store: register the views, then the same cross-run
queries in Spark SQL and in DuckDB (cold connect included for both), results compared.
Needs `uv sync --extra spark` and Java.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [
    "one two three one two three one two",
    "List three colours.",
    "The capital of France is",
    "Repeat after me: red green blue red green blue",
    "Count from one to ten: one, two, three,",
    "Write a haiku about the sea.",
    "What is two plus two?",
    "Name the days of the week: Monday, Tuesday,",
]

QUERIES = {
    "acceptance by k, temperature (verifications, 10 M events)": (
        "SELECT r.k, r.temperature, avg(CASE WHEN v.status = 'accepted' THEN 1 ELSE 0 END) AS acc, count(*) AS n "
        "FROM verifications v JOIN runs r ON r.run_id = v.run_id WHERE v.status <> 'bonus' "
        "GROUP BY r.k, r.temperature ORDER BY r.k, r.temperature"
    ),
    "events by kind (all rows)": "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind",
    "acceptance by k (runs)": "SELECT k, avg(acceptance_rate) AS acc, count(*) AS n FROM runs GROUP BY k ORDER BY k",
}


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} (2 cores)"


def bench_ray(workers: int, max_tokens: int) -> None:
    from specviz.engine import RunOptions
    from specviz.ray_sweep import _ray, connect, run_on_ray
    from specviz.sweep import EngineCache, EngineSpec, plan_jobs, run_local

    base = RunOptions(max_tokens=max_tokens, temperature=0.0)
    jobs = plan_jobs(PROMPTS, lambda d: EngineSpec("bundled", d), base, drafters=["ngram:3"], methods=["speculative"],
                     ks=[2, 4], temperatures=[0.0], baseline="none")
    print(f"{len(jobs)} jobs, {max_tokens} tokens each; {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        connect(workers=workers)
        t_cluster = time.perf_counter() - t0
        t0 = time.perf_counter()
        on_ray = run_on_ray(jobs, Path(tmp) / "ray", "round", workers=workers)  # each worker loads the model once
        t_ray = time.perf_counter() - t0
        _ray().shutdown()
        t0 = time.perf_counter()
        local = list(run_local(jobs, Path(tmp) / "local", "round", EngineCache()))  # loads the model once
        t_local = time.perf_counter() - t0
    same = all(r.token_ids == l.token_ids and r.status == l.status == "completed" for r, l in zip(on_ray, local))
    print(f"  Ray cluster start ({workers} CPUs)        {t_cluster:6.1f} s  (once per cluster, not per sweep)")
    print(f"  Ray sweep, {workers} workers              {t_ray:6.1f} s  ({len(jobs) / t_ray:.2f} runs/s; each worker loads the model)")
    print(f"  in-process sweep                  {t_local:6.1f} s  ({len(jobs) / t_local:.2f} runs/s; the model loaded once)")
    print(f"  ratio in-process / Ray            {t_local / t_ray:6.2f}x  (cluster start excluded)")
    print(f"  tokens identical run for run (T = 0): {'yes' if same and len(on_ray) == len(local) == len(jobs) else 'NO'}")
    print(f"  {_load()}")


def _norm(rows) -> list:
    def one(v):
        return round(v, 9) if isinstance(v, float) and not math.isnan(v) else v
    return [tuple(one(v) for v in r) for r in rows]


def bench_spark(traces: Path) -> None:
    from pyspark.sql import SparkSession

    from specviz.spark import register_views
    from specviz.sql import connect

    print(f"store {traces}; {_load()}")
    t0 = time.perf_counter()
    con = connect(traces)
    t_duck_connect = time.perf_counter() - t0
    duck = {}
    for name, sql in QUERIES.items():
        t0 = time.perf_counter()
        duck[name] = (con.execute(sql).fetchall(), time.perf_counter() - t0)
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("specviz-bench").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC").config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", "4g").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t_session = time.perf_counter() - t0
    t0 = time.perf_counter()
    register_views(spark, str(traces))
    t_register = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    print(f"  {runs:,} runs / {n:,} events")
    print(f"  DuckDB connect (footers validated, views)  {t_duck_connect:7.2f} s")
    print(f"  Spark session start (JVM)                  {t_session:7.2f} s")
    print(f"  Spark register_views                       {t_register:7.2f} s")
    for name, sql in QUERIES.items():
        t0 = time.perf_counter()
        rows = [tuple(r) for r in spark.sql(sql).collect()]
        t_spark = time.perf_counter() - t0
        d_rows, t_duck = duck[name]
        agree = _norm(rows) == _norm(d_rows)
        print(f"  {name:<58} Spark {t_spark:7.2f} s   DuckDB {t_duck:6.3f} s   "
              f"ratio {t_spark / max(t_duck, 1e-9):7.1f}x   same rows: {'yes' if agree else 'NO'}")
    spark.stop()
    print(f"  {_load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("ray")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--max-tokens", type=int, default=24)
    s = sub.add_parser("spark")
    s.add_argument("--traces", type=Path, required=True)
    args = ap.parse_args()
    if args.what == "ray":
        bench_ray(args.workers, args.max_tokens)
    else:
        bench_spark(args.traces)


if __name__ == "__main__":
    main()
