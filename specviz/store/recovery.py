"""Turning logs left by dead recorders into normal Parquet traces marked ``interrupted``.

A log is recovered only once its writer's lock can be taken, i.e. the writer is gone;
logs of live runs are left alone. Everything flushed is kept; a torn last line is dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from specviz.events import RunFinished, RunStarted
from specviz.store.layout import TraceError, live_dir, log_files, parquet_path, run_id_of
from specviz.store.livelog import AbandonedLog, decode_log
from specviz.store.parquet_file import events_to_parquet
from specviz.store.totals import finished_from_events

@dataclass
class Problem:
    path: Path
    message: str


@dataclass
class RecoveryReport:
    recovered: list[tuple[str, Path, int, bool]] = field(default_factory=list)  # run id, file, events kept, torn tail dropped
    live: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _recover_one(claim: AbandonedLog, traces: Path, report: RecoveryReport) -> None:
    run_id = run_id_of(claim.path)
    with os.fdopen(os.dup(claim.fd), "rb") as f:
        data = f.read()
    events, torn = decode_log(data, run_id)
    if not events:
        if not data.strip():
            claim.remove()  # created, never written: nothing to keep
            return
        report.problems.append(Problem(claim.path, "cannot recover: no readable events"))
        return
    started = events[0]
    if not isinstance(started, RunStarted):
        report.problems.append(Problem(claim.path, "cannot recover: log does not start with run_started"))
        return
    final = parquet_path(traces, run_id, started.t_wall_ns)
    if final.exists():
        claim.remove()  # the writer published it and died before removing its log
        return
    last = events[-1]
    if isinstance(last, RunFinished):
        finished = last  # died between logging its summary and publishing
    else:
        finished = finished_from_events(events, status="interrupted", finish_reason="recovered")
        finished.run_id = run_id
        finished.seq = last.seq + 1
        finished.t_mono_ns = last.t_mono_ns
        finished.t_wall_ns = last.t_wall_ns
        events.append(finished)
    try:
        events_to_parquet(events, final, started, finished)
    except TraceError as e:
        report.problems.append(Problem(claim.path, f"cannot recover: {e}"))
        return
    claim.remove()
    report.recovered.append((run_id, final, len(events), torn))


def recover(traces: str | os.PathLike) -> RecoveryReport:
    """Publish every abandoned log in ``traces/_live`` as an ``interrupted`` trace."""
    traces = Path(traces)
    report = RecoveryReport()
    if not live_dir(traces).is_dir():
        return report
    for path in log_files(traces):
        try:
            claim = AbandonedLog.claim(path)
        except OSError as e:
            report.problems.append(Problem(path, f"cannot open log: {e.strerror}"))
            continue
        if claim is None:
            if path.exists():
                report.live.append(run_id_of(path))
            continue
        try:
            _recover_one(claim, traces, report)
        finally:
            claim.close()
    return report
