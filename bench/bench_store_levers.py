"""What the storage levers not taken would give, on bench_store's events.

    uv run python bench/bench_store_levers.py [--events 1000000]

1. bytes/event of the same recorded 1 M-event table rewritten with one storage change at
   a time (float32 columns, zstd level 19, dictionaries for the timing columns);
2. one run's read from a pack of 64 bench runs (10,002 events each) written with
   262,144-row and with 65,536-row groups (the pack size auto compaction makes);
3. how far below 16 bytes/event the same events can go, layout change upon layout change,
   and which facts each change keeps in every row (``--floor``).
Measures only; nothing here is what specviz writes unless BENCHMARKS.md says so.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
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


def _set(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _ns_timings(table: pa.Table, seed: int = 0) -> pa.Table:
    # The engine's timings are perf_counter differences (ns resolution); the benchmark
    # rounds them to the microsecond, which flatters doubles. Add the missing nanoseconds.
    rng = np.random.default_rng(seed)
    for name in TIMINGS:
        ms = table[name].to_numpy(zero_copy_only=False)
        known = ~np.isnan(ms)
        ms = np.where(known, ms + rng.integers(0, 1000, len(ms)) / 1e6, ms)
        table = _set(table, name, pa.array(ms, mask=~known))
    return table


def _as_int_ns(table: pa.Table) -> tuple[pa.Table, dict]:
    encoding = dict(WRITE_OPTIONS["column_encoding"])
    for name in TIMINGS + ["sample_ms"]:
        ms = table[name].to_numpy(zero_copy_only=False)
        table = _set(table, name, pa.array(np.round(np.nan_to_num(ms) * 1e6).astype(np.int64), mask=np.isnan(ms)))
        encoding[name] = "DELTA_BINARY_PACKED"
    return table, encoding


def _null_where(table: pa.Table, mask, names: list[str]) -> pa.Table:
    for name in names:
        table = _set(table, name, pc.if_else(mask, pa.nulls(table.num_rows, table[name].type), table[name]))
    return table


JUDGEMENT = ["draft_logprob", "target_logprob", "acceptance_prob", "target_entropy", "u", "top"]


def floor(table: pa.Table, d: Path) -> None:
    """Layout changes upon one another, with what each keeps. Measures only."""
    out = d / "floor.parquet"
    status = table["status"]
    real = _ns_timings(table)
    ints, encoding = _as_int_ns(real)
    steps = [("as specviz writes the benchmark's events (timings rounded to 1 us)", table, {}),
             ("the same with ns-resolution timings, as the engine measures", real, {}),
             ("timings as integer nanoseconds (exact; a retyped field)", ints, {"column_encoding": encoding})]
    t = _null_where(ints, pc.equal(status, "resampled").fill_null(False), JUDGEMENT)
    steps.append(("resampled rows without the rejected row's numbers", t, {"column_encoding": encoding}))
    for name in FLOATS:
        t = _set(t, name, pc.cast(t[name], pa.float32()))
    steps.append(("model numbers as float32 (exact for these events)", t, {"column_encoding": encoding}))
    t = t.drop_columns(["token_text", "draft_token_text"])
    steps.append(("no token text per row (a vocabulary kept elsewhere)", t, {"column_encoding": encoding}))
    copies = pc.or_(pc.equal(status, "accepted"), pc.equal(status, "bonus")).fill_null(False)
    t = _null_where(t, copies, ["final_logprob"])
    steps.append(("one logprob per verify row (final_logprob only where not target_logprob)", t, {"column_encoding": encoding}))
    rule_kept = t
    t = t.drop_columns(["acceptance_prob"])
    steps.append(("acceptance_prob not stored (recomputed from the logprobs)", t, {"column_encoding": encoding}))
    print(f"bytes/event of the same {table.num_rows:,} events, each layout change on top of the ones above:")
    for label, tab, changes in steps:
        print(f"  {label:<72} {per_event(tab, out, **changes):6.2f}")
    for label, tab in (("the last but one", rule_kept), ("the last", t)):
        c0 = time.process_time()
        per_event(tab, out, column_encoding=encoding)
        c1 = time.process_time()
        size = per_event(tab, out, column_encoding=encoding, compression_level=19)
        c2 = time.process_time()
        print(f"  ... {label} with zstd level 19".ljust(74) + f" {size:6.2f}  "
              f"(encoder CPU {c2 - c1:.2f} s vs {c1 - c0:.2f} s at level 3)")


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
    ap.add_argument("--floor", action="store_true", help="only the layout-upon-layout table (3.)")
    args = ap.parse_args()
    os.environ["SPECVIZ_AUTO_COMPACT"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        table = recorded(d / "levers", args.events)
        if args.floor:
            floor(table, d)
        else:
            levers(table, d)
            row_groups(d)
    print(f"  load average {os.getloadavg()[0]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
