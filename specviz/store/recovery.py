"""Turning logs left by dead recorders into normal Parquet traces marked ``interrupted``.

A log is recovered only once its writer's lock can be taken, i.e. the writer is gone;
logs of live runs are left alone. Everything flushed is kept up to the first event
that does not follow on from the ones before (a torn last line, or damage); a log that
cannot be recovered is a Problem and stays where it is, never an exception that stops
the others. Temp files left by a recover or import that was killed are removed first.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from specviz.events import RunFinished, RunStarted
from specviz.store.layout import TraceError, live_dir, log_files, one_line, parquet_path, printable, run_id_of
from specviz.store.livelog import AbandonedLog, decode_log, stale_log_temps
from specviz.store.parquet_file import events_to_parquet
from specviz.totals import finished_from_events


@dataclass
class Problem:
    path: Path
    message: str  # without the path

    @classmethod
    def of(cls, path: Path, error: BaseException) -> "Problem":
        text = str(error) if isinstance(error, TraceError) else f"{type(error).__name__}: {one_line(error)}"
        return cls(path, text.removeprefix(f"{path}: ").removeprefix(f"{path} "))

    def __str__(self) -> str:
        return printable(f"{self.path}: {self.message}")  # a path may hold newlines or escapes


@dataclass
class RecoveryReport:
    recovered: list[tuple[str, Path, int, bool]] = field(default_factory=list)  # run id, file, events kept, torn tail dropped
    live: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    cleaned: list[Path] = field(default_factory=list)  # temp files of killed writers


# A temp file is another process's work in progress while that process lives and
# writes; one untouched this long whose writer is gone from this machine was abandoned.
TEMP_IDLE_S = 60.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temp_files(traces: Path, idle_s: float = TEMP_IDLE_S) -> list[Path]:
    """``.run-<id>.parquet.<pid>.<hex>.tmp`` and ``.pack-...tmp`` files (layout.temp_name)
    of dead writers."""
    stale = []
    now = time.time()
    for path in [*traces.glob("date=*/.run-*.tmp"), *traces.glob("date=*/.pack-*.tmp")]:
        try:
            pid = int(path.name.split(".")[-3])
            idle = now - path.lstat().st_mtime
        except (ValueError, IndexError, OSError):
            continue
        if idle > idle_s and not _pid_alive(pid):
            stale.append(path)
    return stale + stale_log_temps(traces)


def clean_temp_files(traces: str | os.PathLike, idle_s: float = TEMP_IDLE_S) -> list[Path]:
    """Remove temp files left by killed writers; returns those removed."""
    removed = []
    for path in stale_temp_files(Path(traces), idle_s):
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass  # gone already, or not ours to remove: harmless either way
    return removed


def _consistent_prefix(events: list) -> tuple[list, bool]:
    """Events up to the first one that is not seq = its index (damage ends the trust)."""
    for i, ev in enumerate(events):
        if ev.seq != i or (i > 0 and isinstance(ev, RunStarted)) or (isinstance(ev, RunFinished) and i != len(events) - 1):
            return events[:i], True
    return events, False


def _recover_one(claim: AbandonedLog, traces: Path, report: RecoveryReport) -> None:
    run_id = run_id_of(claim.path)
    with os.fdopen(os.dup(claim.fd), "rb") as f:
        data = f.read()
    events, torn = decode_log(data, run_id)
    events, damaged = _consistent_prefix(events)
    if not events:
        if not data.strip():
            claim.remove()  # created, never written: nothing to keep
            return
        raise TraceError("no readable events")
    started = events[0]
    if not isinstance(started, RunStarted):
        raise TraceError("log does not start with run_started")
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
        finished.t_wall_ns = max(last.t_wall_ns, started.t_wall_ns)
        events.append(finished)
    events_to_parquet(events, final, started, finished)
    claim.remove()
    report.recovered.append((run_id, final, len(events), torn or damaged))


def recover(traces: str | os.PathLike) -> RecoveryReport:
    """Publish every abandoned log in ``traces/_live`` as an ``interrupted`` trace."""
    traces = Path(traces)
    report = RecoveryReport()
    if not traces.is_dir():
        return report
    report.cleaned = clean_temp_files(traces)
    if not live_dir(traces).is_dir():
        return report
    for path in log_files(traces):
        try:
            claim = AbandonedLog.claim(path, traces)
        except Exception as e:
            report.problems.append(Problem.of(path, e))
            continue
        if claim is None:
            if path.exists():
                report.live.append(run_id_of(path))
            continue
        try:
            _recover_one(claim, traces, report)
        except Exception as e:  # this log's problem; the others are still recovered
            problem = Problem.of(path, e)
            report.problems.append(Problem(path, f"cannot recover: {problem.message}"))
        finally:
            claim.close()
    return report
