"""Replay player benchmark in Debian's chromium: open, scrub and play a 2,000-round run.

    uv run python bench/bench_player.py [--rounds 2000] [--k 5] [--repeats 3] [--play-s 5] [--recording]
                                        [--cold 1] [--parts open,motion,export,live]

With --recording, a real `specviz record` of the bundled model runs in a subprocess (into
another directory) while the opens are measured: the issue's "open under a parallel
recording".

1. Open: a deep link to the run's Replay page in a fresh page load (the whole Streamlit
   frontend and Plotly's JS load too), to every chart drawn. The first open of a run is
   cold (the server has not read it); with --cold N, N runs are recorded and each opened
   once, then the first again (it hits the server's cache). Target: < 1.5 s (idle machine).
2. Scrub: random jumps over the whole run made in the page, each timed until the frame
   that shows it has been painted. Target: >= 20 steps/s.
3. Playback at 20x: frames painted per second while playing, and how many of them showed
   a new position. Target: >= 20 frames/s.
4. The self-contained HTML export of the same run: its size (target <= 5 MB) and the time
   from navigation to every chart drawn, offline (target < 2 s).
5. A live tick of the same run while it records (at 25 %, 50 % and 100 % of its rounds):
   the page's work per tick (viewer/live_follow.py: the log read on from its last offset,
   the new events folded and added to the payload, the delta encoded), beside what the
   whole re-read it replaced costs, and what travels to the browser (the delta against
   the whole payload). Server side only, in this process, CPU seconds.

Wall times on a shared machine include waiting for a core; the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from specviz.recording import open_run  # noqa: E402
from specviz.replay import build_index  # noqa: E402
from specviz.store import read_events  # noqa: E402
from viewer.player import PLOTLY_JS  # noqa: E402
from viewer.player.export import write_html  # noqa: E402
from synthetic_runs import record_synthetic, synthetic_events  # noqa: E402
from viewer.data import Source, without_gc  # noqa: E402
from viewer.player.payload import delta, encode_json, payload  # noqa: E402
from viewer_server import browser_page, serve, wait_for_replay  # noqa: E402

SCRUB_JS = """async (n) => {
  const p = window.specviz, times = [];
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    p.goto(Math.floor(Math.random() * p.run.nEvents));
    await frame();
    times.push(performance.now() - t);
  }
  return times;
}"""

PLAY_JS = """async (seconds) => {
  const p = window.specviz;
  p.goto(0);
  document.getElementById('speed').value = '20';
  document.getElementById('speed').dispatchEvent(new Event('change'));
  p.setPlaying(true);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const s = p.stats, elapsed = (performance.now() - s.t0) / 1000;
  p.setPlaying(false);
  const w = s.work.slice().sort((a, b) => a - b);
  return {frames: s.frames, positions: s.positions, elapsed, pos: p.pos,
          work_p50: w[Math.floor(w.length / 2)], work_p95: w[Math.floor(w.length * 0.95)]};
}"""


# Where an open's time went, from the player's own marks (ms since the page's navigation).
PARTS_JS = """(pageOrigin) => {
  const at = (name) => { const m = performance.getEntriesByName(name)[0]; return m ? performance.timeOrigin + m.startTime - pageOrigin : null; };
  const js = performance.getEntriesByType('resource').find((r) => r.name.endsWith('plotly.min.js'));
  return {frame: performance.timeOrigin - pageOrigin, plotly: js ? performance.timeOrigin + js.responseEnd - pageOrigin : null,
          boot: at('specviz:boot'), data: at('specviz:data'), drawn: at('specviz:drawn')};
}"""


def open_bench(url: str, run_ids: list[str], repeats: int) -> tuple[list[float], list[dict]]:
    """Each run opened once (the first open of each is cold: this server has not read it),
    then the first run `repeats - 1` times more; each a fresh page load in the same browser."""
    times, parts = [], []
    with browser_page(1400, 1800) as page:
        page.goto(f"{url}/replay?run={run_ids[0][:4]}x")  # warm the Streamlit frontend on a miss (no player yet)
        page.wait_for_timeout(3000)
        for run_id in run_ids + [run_ids[0]] * (repeats - 1):
            page.goto("about:blank")
            t = time.perf_counter()
            page.goto(f"{url}/replay?run={run_id}")
            frame = wait_for_replay(page, timeout_ms=120_000)
            times.append(time.perf_counter() - t)
            parts.append(frame.evaluate(PARTS_JS, page.evaluate("performance.timeOrigin")))
    return times, parts


def describe(parts: dict) -> str:
    names = (("frame", "player frame created"), ("plotly", "Plotly JS fetched"), ("boot", "player running"),
             ("data", "run data arrived"), ("drawn", "every chart drawn"))
    return ", ".join(f"{label} {parts[k] / 1e3:.2f}" for k, label in names if parts.get(k) is not None)


def motion_bench(url: str, run_id: str, steps: int, play_s: float) -> tuple[list[float], dict]:
    with browser_page(1400, 1800) as page:
        page.goto(f"{url}/replay?run={run_id}")
        frame = wait_for_replay(page, timeout_ms=120_000)
        frame.evaluate(SCRUB_JS, 5)  # warm-up
        scrub = frame.evaluate(SCRUB_JS, steps)
        play = frame.evaluate(PLAY_JS, play_s)
    return scrub, play


def export_bench(traces: Path, run_id: str, out: Path, repeats: int) -> tuple[int, list[float]]:
    index = build_index(read_events(traces, run_id))
    write_html(index, out)
    times = []
    with browser_page(1400, 1800) as page:
        page.context.set_offline(True)
        for _ in range(repeats):
            page.goto("about:blank")
            t = time.perf_counter()
            page.goto(out.as_uri())
            page.wait_for_function("() => window.specviz && window.specviz.drawn()", timeout=60_000)
            times.append(time.perf_counter() - t)
    return out.stat().st_size, times


@contextlib.contextmanager
def parallel_recording(traces: Path, on: bool):
    """A real recording (bundled model, long prompt) in a subprocess for the duration."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "from recorder.cli import main; main()", "--traces", str(traces), "record",
                             "Write a long story about a lighthouse keeper and the sea.", "--max-tokens", "2000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(traces.glob("_live/*")) and time.monotonic() < deadline:  # the model is loaded, tokens flow
            time.sleep(0.2)
        print(f"(a bundled-model recording runs in parallel: pid {proc.pid})")
        yield
    finally:
        proc.kill()
        proc.wait()


def live_bench(traces: Path, rounds: int, k: int) -> list[dict]:
    """Per-tick cost of following a recording run: one round arrives between two ticks.
    The page's work per tick (viewer/live_follow.py: read the log on from its last offset,
    fold the new events, extend the payload, encode the delta since the previous tick),
    and what the whole re-read it replaced costs at the same point (read + fold + payload +
    diff against the previous payload)."""
    from viewer.live_follow import LiveRun, live_log

    events = synthetic_events(rounds=rounds, k=k, seed=0, errors_every=97)
    rec = open_run(traces, events[0], flush="event")
    rec.flush()
    live = LiveRun(live_log(Source(str(traces), rec.run_id)))
    per_round = (len(events) - 2) // rounds
    out, logged, previous = [], 1, None
    for frac in (0.25, 0.5, 1.0):
        upto = min(len(events) - 1, int(frac * (len(events) - 1)))
        for cut in (upto - per_round, upto):  # the tick before, and one round later
            for ev in events[logged:cut]:
                rec.log(ev)
            rec.flush()
            logged = cut
            before = live.version
            t = time.process_time()
            live.update()
            sent = live.player_data(before)
            t_tick = time.process_time() - t
            t = time.process_time()
            body = without_gc(lambda: payload(build_index(read_events(traces, rec.run_id))))
            t_whole = time.process_time() - t
            if previous is not None and cut == upto:
                t = time.process_time()
                delta(previous, body)
                t_whole += time.process_time() - t
                out.append({"round": live.index.event_round[-1], "events": live.index.n_events, "tick": t_tick,
                            "whole": t_whole, "sent": len(sent), "size": len(encode_json(body))})
            previous = body
    return out


def report_open(url: str, run_ids: list[str], repeats: int) -> None:
    opens, parts = open_bench(url, run_ids, repeats)
    cold, warm = opens[:len(run_ids)], opens[len(run_ids):]
    ok = "PASS" if max(cold) < 1.5 else "FAIL"
    print(f"open by deep link, fresh page load -> every chart drawn: first opens (cold) {', '.join(f'{t:.2f} s' for t in cold)}"
          f" (median {statistics.median(cold):.2f} s); again {', '.join(f'{t:.2f} s' for t in warm)}"
          f"  [{ok}: every first open < 1.5 s]")
    for i, p in enumerate(parts):
        print(f"  open {i + 1} ({'cold' if i < len(run_ids) else 'again'}), s after navigation: {describe(p)}")


def report_motion(url: str, run_id: str, steps: int, play_s: float) -> None:
    scrub, play = motion_bench(url, run_id, steps, play_s)
    rate = 1000 / statistics.median(scrub)
    ok = "PASS" if rate >= 20 else "FAIL"
    print(f"scrub, {len(scrub)} random jumps to painted: p50 {statistics.median(scrub):.1f} ms, "
          f"p95 {sorted(scrub)[int(0.95 * len(scrub))]:.1f} ms -> {rate:.0f} steps/s  [{ok}: >= 20/s]")
    fps = play["frames"] / play["elapsed"]
    ok = "PASS" if fps >= 20 else "FAIL"
    print(f"playback at 20x for {play['elapsed']:.1f} s: {fps:.1f} frames/s "
          f"({play['positions']} of {play['frames']} frames showed a new position; reached event {play['pos']}); "
          f"work per frame p50 {play['work_p50']:.1f} ms, p95 {play['work_p95']:.1f} ms  [{ok}: >= 20 frames/s]")


def report_export(traces: Path, run_id: str, out: Path, repeats: int) -> None:
    size, opens = export_bench(traces, run_id, out, repeats)
    ok = "PASS" if size <= 5e6 and opens[0] < 2 else "FAIL"
    print(f"HTML export: {size / 1e6:.2f} MB; opened offline to every chart drawn: "
          f"{', '.join(f'{t:.2f} s' for t in opens)}  [{ok}: <= 5 MB, first open < 2 s]")


def report_live(traces: Path, rounds: int, k: int) -> None:
    for tick in live_bench(traces, rounds, k):
        print(f"live tick at round {tick['round']} ({tick['events']} events): {tick['tick'] * 1e3:.1f} ms CPU "
              f"(read on + fold + extend + delta; a whole re-read + fold + payload + diff: {tick['whole'] * 1e3:.0f} ms); "
              f"sent {tick['sent'] / 1e3:.1f} kB instead of the whole {tick['size'] / 1e3:.0f} kB")


PARTS = ("open", "motion", "export", "live")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="random scrub jumps")
    ap.add_argument("--play-s", type=float, default=5.0)
    ap.add_argument("--recording", action="store_true", help="open while the bundled model records a run")
    ap.add_argument("--cold", type=int, default=1, help="runs recorded, each opened once cold")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"which measurements, of {','.join(PARTS)}")
    args = ap.parse_args()
    parts = args.parts.split(",")
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    with tempfile.TemporaryDirectory(prefix="specviz-bench-") as tmp:
        traces = Path(tmp) / "traces"
        run_ids = [record_synthetic(traces, rounds=args.rounds, k=args.k, seed=seed, errors_every=97)
                   for seed in range(args.cold)]
        run_id = run_ids[0]
        print(f"trace: {args.rounds} rounds, K={args.k} (runs {', '.join(run_ids)}); {load}")
        print(f"Plotly bundle: {PLOTLY_JS.relative_to(PLOTLY_JS.parents[2])} ({PLOTLY_JS.stat().st_size / 1e6:.1f} MB)")
        if "open" in parts or "motion" in parts:
            with serve(traces) as url, parallel_recording(Path(tmp) / "other", args.recording):
                if "open" in parts:
                    report_open(url, run_ids, args.repeats)
                if "motion" in parts:
                    report_motion(url, run_id, args.steps, args.play_s)
        if "export" in parts:
            report_export(traces, run_id, Path(tmp) / "run.html", args.repeats)
        if "live" in parts:
            report_live(Path(tmp) / "live", args.rounds, args.k)
        print(f"{load} at the start; {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
