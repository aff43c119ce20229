"""Runs as Chrome Trace Event Format JSON, which ui.perfetto.dev and chrome://tracing open.

One process per run (named by run id, drafter and K), with threads as tracks:

    draft    one complete ("X") span per round: the drafter's time
    verify   one span per round: the target scoring the drafts
    sample   one span per round: the rejection-sampling arithmetic
    tokens   instant ("i") events at the end of each round's sampling, one per verdict
             (accepted, rejected, resampled, bonus) with the token and its p and q
    round    the whole round, for runs whose phases were not measured separately

plus counter ("C") tracks for rolling acceptance and tokens/s, and flow arrows ("s"/"f")
from each round's draft span to the verify span that judged it.

Times: a round ends at its round_metrics event's monotonic clock and lasts round_ms; its
phases are laid end to end from the start in the order draft, verify, sample (that is how
the engine runs them). Timestamps are microseconds from the run's start, so runs line up
side by side; each run's wall-clock start is in its process's metadata.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from specviz.events import AnyEvent, DraftToken, RoundMetrics, RunFinished, RunStarted, Verify

TRACKS = {"round": 1, "draft": 2, "verify": 3, "sample": 4, "tokens": 5}
_US_PER_NS = 1e-3


def _p(logprob: float | None) -> float | None:
    return None if logprob is None else round(math.exp(logprob), 6)


def _us(ns: int, origin: int) -> float:
    return round((ns - origin) * _US_PER_NS, 3)


def _meta(pid: int, started: RunStarted | None, finished: RunFinished | None, run_id: str) -> list[dict]:
    name = run_id
    if started is not None:
        name = f"{run_id} {started.method} {started.drafter or '-'} k={started.k} T={started.temperature}"
    out = [{"ph": "M", "pid": pid, "tid": 0, "name": "process_name", "args": {"name": name}},
           {"ph": "M", "pid": pid, "tid": 0, "name": "process_sort_index", "args": {"sort_index": pid}}]
    if started is not None:
        out.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_labels",
                    "args": {"labels": f"prompt: {started.prompt[:80]}"}})
    for track, tid in TRACKS.items():
        out.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": track}})
        out.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
    return out


def _verdict_args(v: Verify, drafts: dict[tuple[int, int], DraftToken]) -> dict[str, Any]:
    p = v.target_p if v.target_p is not None else _p(v.target_logprob)
    q = v.draft_q if v.draft_q is not None else _p(v.draft_logprob)
    args: dict[str, Any] = {"position": v.position, "token": v.token_text, "token_id": v.token_id, "p": p, "q": q,
                            "acceptance_prob": v.acceptance_prob, "u": v.u}
    if v.draft_token_id is not None and v.status in ("rejected", "resampled"):
        args["draft_token"] = v.draft_token_text
    if v.status == "resampled":
        args["p"] = _p(v.final_logprob)
    if not v.exact:
        args["inexact_reason"] = v.inexact_reason or "p from top-k only"
    d = drafts.get((v.round, v.position))
    if d is not None and d.draft_ms:
        args["draft_ms"] = round(d.draft_ms, 3)
    return {k: val for k, val in args.items() if val is not None}


def _round_events(pid: int, rm: RoundMetrics, verifies: Sequence[Verify],
                  drafts: dict[tuple[int, int], DraftToken], origin: int) -> list[dict]:
    end = _us(rm.t_mono_ns, origin)
    start = max(0.0, end - rm.round_ms * 1e3)
    phases = [("draft", rm.draft_ms), ("verify", rm.verify_ms), ("sample", rm.sample_ms)]
    measured = rm.verify_ms > 0 or rm.draft_ms > 0
    out: list[dict] = []
    args = {"round": rm.round, "drafted": rm.drafted, "tested": rm.tested, "accepted": rm.accepted,
            "produced": rm.produced}
    out.append({"ph": "X", "pid": pid, "tid": TRACKS["round"], "name": f"round {rm.round}",
                "ts": start, "dur": round(end - start, 3), "args": args})
    t = start
    spans: dict[str, tuple[float, float]] = {}
    if measured:
        for name, ms in phases:
            dur = min(ms * 1e3, max(0.0, end - t))
            spans[name] = (t, dur)
            out.append({"ph": "X", "pid": pid, "tid": TRACKS[name], "name": name, "ts": round(t, 3),
                        "dur": round(dur, 3), "args": {"round": rm.round}})
            t += dur
    if rm.drafted and "draft" in spans and "verify" in spans:
        (d0, dd), (v0, vd) = spans["draft"], spans["verify"]
        # Flow events bind to the slice enclosing their timestamp on their track.
        out.append({"ph": "s", "pid": pid, "tid": TRACKS["draft"], "name": "judged by", "cat": "flow",
                    "id": f"{pid}-{rm.round}", "ts": round(d0 + dd / 2, 3)})
        out.append({"ph": "f", "bp": "e", "pid": pid, "tid": TRACKS["verify"], "name": "judged by", "cat": "flow",
                    "id": f"{pid}-{rm.round}", "ts": round(v0 + vd / 2, 3)})
    for v in verifies:
        out.append({"ph": "i", "s": "t", "pid": pid, "tid": TRACKS["tokens"], "name": v.status, "ts": end,
                    "args": _verdict_args(v, drafts)})
    counters = {"acceptance (rolling 50 rounds)": rm.acceptance_rolling, "tokens/s": rm.tokens_per_s}
    for name, value in counters.items():
        if value is not None:
            out.append({"ph": "C", "pid": pid, "tid": 0, "name": name, "ts": end, "args": {"value": round(value, 4)}})
    return out


def run_trace_events(events: Iterable[AnyEvent], pid: int) -> list[dict]:
    """The trace events of one run (its events in seq order) as process ``pid``."""
    events = list(events)
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    finished = next((e for e in events if isinstance(e, RunFinished)), None)
    run_id = events[0].run_id if events else ""
    origin = started.t_mono_ns if started is not None else (events[0].t_mono_ns if events else 0)
    out = _meta(pid, started, finished, run_id)
    if started is not None:
        out[0]["args"]["wall_start_ns"] = started.t_wall_ns
    drafts = {(e.round, e.position): e for e in events if isinstance(e, DraftToken)}
    pending: list[Verify] = []
    for e in events:
        if isinstance(e, Verify):
            pending.append(e)
        elif isinstance(e, RoundMetrics):
            out += _round_events(pid, e, pending, drafts, origin)
            pending = []
    if finished is not None:
        out.append({"ph": "i", "s": "p", "pid": pid, "tid": TRACKS["tokens"], "name": f"run {finished.status}",
                    "ts": _us(finished.t_mono_ns, origin),
                    "args": {"finish_reason": finished.finish_reason, "tokens_per_s": finished.tokens_per_s,
                             "speedup": finished.speedup, "baseline_kind": finished.baseline_kind}})
    return out


def chrome_trace(runs: Iterable[Sequence[AnyEvent]]) -> dict:
    """A Trace Event Format document: one process per run, timestamps sorted per track."""
    trace: list[dict] = []
    for pid, events in enumerate(runs, start=1):
        trace += run_trace_events(events, pid)
    # Metadata first, then by time: viewers need each track's timestamps non-decreasing.
    trace.sort(key=lambda e: (e["ph"] != "M", e.get("ts", 0.0)))
    return {"traceEvents": trace, "displayTimeUnit": "ms",
            "otherData": {"producer": "specviz", "clock": "microseconds from each run's start"}}


__all__ = ["chrome_trace", "run_trace_events", "TRACKS"]
