"""The recording thread's CPU per event, in two parts: log() (stamp, check, buffer, log)
and one chunk's table (take() and the Arrow columns from the buffers), best of several.

    uv run python bench/bench_recorder_cpu.py --top 5
    SPECVIZ_RECORDER=python uv run python bench/bench_recorder_cpu.py --top 5 --events 60000

Thread CPU time (time.thread_time), not wall clock: under a shared machine's load it moves
far less than bench_store.py's end-to-end figures, so a change of a few percent shows.
The events are bench_store.py's (``--top N`` alternatives per draft and verify event).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_store import started, synthetic_events  # noqa: E402

from specviz.recording import CHUNK, open_run  # noqa: E402
from specviz.store.hotpath import recording_path  # noqa: E402


def _best(times: list[float]) -> str:
    return f"{min(times):.0f} ns/event (all: {' '.join(f'{t:.0f}' for t in times)})"


def _fresh(events: list) -> None:
    for ev in events:
        ev.seq = ev.t_mono_ns = ev.t_wall_ns = 0


def measure(events: list, repeats: int) -> tuple[list[float], list[float]]:
    """Per repeat, a new recording: log() of every event, then one chunk's table from the
    buffers (what on_chunk and finish() build); thread CPU per event of each."""
    logs, chunks = [], []
    for _ in range(repeats):
        _fresh(events)
        with tempfile.TemporaryDirectory() as d:
            rec = open_run(d, started())
            t0 = time.thread_time()
            for ev in events:
                rec.log(ev)
            t1 = time.thread_time()
            rec._chunk_table()
            t2 = time.thread_time()
            logs.append((t1 - t0) * 1e9 / len(events))
            chunks.append((t2 - t1) * 1e9 / len(events))
            rec._recorder.close()
            rec._writer.remove()
    return logs, chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=5, help="top-k alternatives per draft/verify event")
    ap.add_argument("--events", type=int, default=CHUNK - 2, help="events per repeat (at most CHUNK - 2: no chunk is taken in log())")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    events = synthetic_events(min(args.events, CHUNK - 2), top=args.top)  # + run_started: one short of a chunk
    print(f"{len(events):,} events, top-k {args.top}, {recording_path()} recording path, load {os.getloadavg()[0]:.2f}; thread CPU, best of {args.repeats}:")
    logs, chunks = measure(events, args.repeats)
    print(f"  log()                      {_best(logs)}")
    print(f"  a chunk's table            {_best(chunks)}")
    print(f"  load average after         {os.getloadavg()[0]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
