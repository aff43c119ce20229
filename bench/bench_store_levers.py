"""What the storage levers not taken would give, on bench_store's events.

    uv run python bench/bench_store_levers.py [--events 1000000]

1. bytes/event of the same recorded 1 M-event table rewritten with one storage change at
   a time (float32 columns, zstd level 19, dictionaries for the timing columns);
2. one run's read from a pack of 64 bench runs (10,002 events each) written with
   262,144-row and with 65,536-row groups (the pack size auto compaction makes).
Measures only; nothing here is what specviz writes unless BENCHMARKS.md says so.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bench_store import finished, started, synthetic_events

from specviz.recording import open_run
from specviz.store.parquet_file import WRITE_OPTIONS, read_rows

FLOATS = ["logprob", "entropy", "final_logprob", "target_entropy", "target_logprob", "draft_logprob", "u",
          "acceptance_prob", "acceptance_rolling", "acceptance_cumulative", "tokens_per_s"]
TIMINGS = ["draft_ms", "verify_ms", "round_ms"]


def recorded(d: Path, n: int) -> pa.Table:
    events = synthetic_events(n)
    rec = open_run(d, started(), flush="round")
    for ev in events:
        rec.log(ev)
    return pq.read_table(rec.finish(finished(n)))


def per_event(table: pa.Table, out: Path, **changes) -> float:
    pq.write_table(table, out, row_group_size=table.num_rows, store_schema=False, **{**WRITE_OPTIONS, **changes})
    return out.stat().st_size / table.num_rows


def levers(table: pa.Table, d: Path) -> None:
    out = d / "lever.parquet"
    base = per_event(table, out)
    narrowed = table
    for name in FLOATS:
        narrowed = narrowed.set_column(narrowed.schema.get_field_index(name), name, pc.cast(narrowed[name], pa.float32()))
    dict_timings = dict(
        use_dictionary=list(WRITE_OPTIONS["use_dictionary"]) + TIMINGS,
        column_encoding={k: v for k, v in WRITE_OPTIONS["column_encoding"].items() if k not in TIMINGS})
    print(f"bytes/event of the same {table.num_rows:,} events rewritten:")
    print(f"  as specviz writes them                  {base:6.2f}")
    for label, size in (("float32 columns instead of double", per_event(narrowed, out)),
                        ("zstd level 19 instead of 3", per_event(table, out, compression_level=19)),
                        ("dictionaries for the timing columns", per_event(table, out, **dict_timings))):
        print(f"  {label:<40} {size:6.2f}  ({size - base:+.2f})")


def row_groups(d: Path, runs: int = 64, per_run: int = 10_002) -> None:
    one = recorded(d / "one", per_run)
    tables = [one.set_column(one.schema.get_field_index("run_id"), "run_id", pa.array([f"{i:016x}"] * one.num_rows))
              for i in range(runs)]
    pack = pa.concat_tables(tables)
    print(f"one run's rows read from a pack of {runs} runs of {per_run:,} events (5 runs, alternating):")
    paths = {}
    for rows in (262_144, 65_536):
        paths[rows] = d / f"pack-{rows}.parquet"
        pq.write_table(pack, paths[rows], row_group_size=rows, store_schema=False, **WRITE_OPTIONS)
    took: dict[int, list[float]] = {rows: [] for rows in paths}
    for i in range(5, 10):
        for rows, path in paths.items():
            t0 = time.perf_counter()
            read_rows(path, [f"{i:016x}"])
            took[rows].append(time.perf_counter() - t0)
    for rows, ts in took.items():
        print(f"  row groups of {rows:>7,} rows   {' '.join(f'{t:.3f}' for t in ts)} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    os.environ["SPECVIZ_AUTO_COMPACT"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        levers(recorded(d / "levers", args.events), d)
        row_groups(d)
    print(f"  load average {os.getloadavg()[0]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
