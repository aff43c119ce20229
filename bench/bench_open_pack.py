"""Opening a pack on the viewer's Runs page ("Open a trace file"): what the click costs.

    uv run python bench/bench_open_pack.py [--runs 64] [--run-events 10000] [--repeats 3]

A store of RUNS synthetic runs (bench_store's events, RUN_EVENTS each) is recorded and
packed by `specviz compact` into one pack: what auto compaction leaves after 64 runs.
Then, in Streamlit's AppTest (the real Runs page script, in this process), the pack's
path is typed into "Open a trace file" and Open clicked; the click's rerun is timed until
every run is in the table. The page validates the file there (viewer.data.open_file):
before this script's commit it read the pack run by run (one filtered read and a full
event decode per run); now `store.check_file` reads it once. The old way is also timed
directly ("run by run") for comparison on the same file. Prints the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import finished, started, synthetic_events  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "viewer" / "app.py")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def packed_store(d: Path, runs: int, per_run: int) -> Path:
    """RUNS runs recorded into ``d`` and packed; the pack's path."""
    from specviz.recording import open_run
    from specviz.store.compact import compact

    os.environ["SPECVIZ_AUTO_COMPACT"] = "0"  # one pack of all of them, by `compact` below
    template = synthetic_events(per_run)
    for i in range(runs):
        rec = open_run(d, started(k=(2, 4, 6, 8)[i % 4]), flush="close")
        for ev in template:
            ev.seq = ev.t_mono_ns = ev.t_wall_ns = 0
            rec.log(ev)
        rec.finish(finished(per_run))
    compact(d)
    (pack,) = d.glob("date=*/pack-*.parquet")
    return pack


def page_open(traces: Path, pack: Path) -> float:
    """Seconds from the Open click to the Runs table holding every run of the pack."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["traces_dir"] = str(traces / "empty")  # only the opened file's runs are listed
    at.run()
    at.switch_page("views/runs.py").run()
    at.text_input(key="open_path").input(str(pack)).run()
    t0 = time.perf_counter()
    at.button(key="open_btn").click().run()
    took = time.perf_counter() - t0
    assert not at.exception and not at.error, [e.value for e in at.error]
    return took


def run_by_run(pack: Path) -> float:
    """What open_file did before: every run read in full, one after another."""
    from specviz.store import inspect_file, read_events

    t0 = time.perf_counter()
    for run_id in inspect_file(pack).run_ids:
        assert read_events(str(pack), run_id)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--run-events", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="specviz-bench-") as tmp:
        traces = Path(tmp) / "traces"
        pack = packed_store(traces, args.runs, args.run_events)
        print(f"one pack of {args.runs} runs x {args.run_events:,} events: {pack.stat().st_size / 1e6:.1f} MB")
        run_by_run(pack)  # imports and the page cache warmed: neither is what is compared
        clicks = [page_open(traces, pack) for _ in range(args.repeats)]
        old = [run_by_run(pack) for _ in range(args.repeats)]
        print(f"  Runs page, Open clicked -> table  {' '.join(f'{t:.2f}' for t in clicks)} s (median {statistics.median(clicks):.2f})")
        print(f"  run by run (the old validation)   {' '.join(f'{t:.2f}' for t in old)} s (median {statistics.median(old):.2f})")
        print(f"  ratio                             {statistics.median(old) / statistics.median(clicks):.1f}x")
    print(uptime())


if __name__ == "__main__":
    main()
