"""Finding runs in a trace directory: listing, unique-prefix ids, reading one run's events.

Listing reads only Parquet footers (the run's config and summary are in the file
metadata) and the first line of each live log, so it is cheap enough to poll. Every
file is checked on its own: a bad one becomes a `Problem`, never an exception that
hides the good runs beside it. Listing first recovers abandoned logs (when the directory
is writable), so a crashed run shows up as an ``interrupted`` trace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from specviz.events import RunFinished, RunStarted
from specviz.store.layout import TraceError, live_dir, log_files, parquet_files, run_id_of
from specviz.store.livelog import is_live, read_log
from specviz.store.parquet_file import TraceFile, inspect_file, read_parquet_events
from specviz.store.recovery import Problem, recover

_FIRST_LINE = msgspec.json.Decoder(tuple[RunStarted])


class RunSummary(msgspec.Struct, kw_only=True):
    """One run as listings show it. ``finished`` is None while the run is being recorded."""

    run_id: str
    status: str  # completed | failed | interrupted | recording
    live: bool
    path: Path  # its Parquet file, or its live log while recording
    started: RunStarted
    finished: RunFinished | None = None

    @property
    def started_ns(self) -> int:
        return self.started.t_wall_ns


@dataclass
class Listing:
    runs: list[RunSummary] = field(default_factory=list)  # newest first
    problems: list[Problem] = field(default_factory=list)
    files: list[TraceFile] = field(default_factory=list)  # the valid Parquet files


# Footers do not change once a file is published (files are replaced, never rewritten
# in place), so a validated footer is reused while the path's size and mtime match.
_FOOTERS: dict[tuple[str, int, int], TraceFile | TraceError] = {}


def inspect_cached(path: Path) -> TraceFile:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    hit = _FOOTERS.get(key)
    if hit is None:
        try:
            hit = inspect_file(path)
        except TraceError as e:
            hit = e
        if len(_FOOTERS) > 50_000:
            _FOOTERS.clear()
        _FOOTERS[key] = hit
    if isinstance(hit, TraceError):
        raise hit
    return hit


def run_summaries(tf: TraceFile) -> list[RunSummary]:
    out = []
    for entry in tf.runs:
        # Footers omit fields at their default, schema_version included: a run without
        # one was written when its version was the default, i.e. the file's version.
        started = msgspec.convert({"schema_version": tf.schema_version, **entry["run_started"]}, RunStarted)
        finished = msgspec.convert(entry["run_finished"], RunFinished) if entry.get("run_finished") else None
        out.append(
            RunSummary(
                run_id=started.run_id,
                status=finished.status if finished else "interrupted",
                live=False,
                path=tf.path,
                started=started,
                finished=finished,
            )
        )
    return out


def _live_summary(path: Path) -> RunSummary | None:
    with open(path, "rb") as f:
        first = f.readline()
    if not first.endswith(b"\n"):
        return None  # not even the config is flushed yet
    (started,) = _FIRST_LINE.decode(first)  # open_run flushes run_started alone
    started.run_id = run_id_of(path)
    live = is_live(path)
    return RunSummary(run_id=started.run_id, status="recording" if live else "interrupted", live=live, path=path, started=started)


def scan(traces: str | os.PathLike, *, recover_logs: bool = True) -> Listing:
    """Every run in ``traces`` (newest first), the problems met, and the valid files."""
    traces = Path(traces)
    listing = Listing()
    if not traces.exists():
        return listing
    if not traces.is_dir():
        raise TraceError(f"{traces} is not a directory")
    if recover_logs and live_dir(traces).is_dir() and os.access(live_dir(traces), os.W_OK):
        listing.problems.extend(recover(traces).problems)
    seen: set[str] = set()
    for path in parquet_files(traces):
        try:
            tf = inspect_cached(path)
        except (TraceError, OSError) as e:
            listing.problems.append(Problem(path, str(e) if isinstance(e, TraceError) else f"{path}: {e.strerror}"))
            continue
        listing.files.append(tf)
        for s in run_summaries(tf):
            if s.run_id not in seen:
                seen.add(s.run_id)
                listing.runs.append(s)
    for path in log_files(traces):
        if run_id_of(path) in seen:
            continue  # published a moment ago; its log is about to go
        try:
            s = _live_summary(path)
        except FileNotFoundError:
            continue
        except (msgspec.DecodeError, OSError) as e:
            listing.problems.append(Problem(path, f"{path}: unreadable live log ({e})"))
            continue
        if s is not None:
            listing.runs.append(s)
    listing.runs.sort(key=lambda s: (s.started.t_wall_ns, s.run_id), reverse=True)
    return listing


def list_runs(traces: str | os.PathLike) -> list[RunSummary]:
    """Runs in ``traces``, newest first, including live ones; see `scan` for problems."""
    return scan(traces).runs


def resolve(traces: str | os.PathLike, prefix: str, listing: Listing | None = None) -> RunSummary:
    """The one run whose id starts with ``prefix``; TraceError if none or several."""
    prefix = prefix.strip().lower()
    if not prefix:
        raise TraceError("empty run id")
    listing = listing if listing is not None else scan(traces)
    matches = [s for s in listing.runs if s.run_id.startswith(prefix)]
    if not matches:
        raise TraceError(f"no run {prefix!r} in {traces}")
    if len(matches) > 1:
        ids = ", ".join(s.run_id for s in matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
        raise TraceError(f"run id {prefix!r} is ambiguous: {ids}")
    return matches[0]


def read_events(source: str | os.PathLike, run_id: str | None = None) -> list:
    """One run's events in seq order.

    ``source`` is a trace directory (``run_id`` required, any unique prefix; live runs are
    read from their log, torn tail ignored), a Parquet trace file (``run_id`` optional if
    the file holds one run) or a live log file.
    """
    path = Path(source)
    if path.is_dir():
        if run_id is None:
            raise TraceError("which run? give a run id")
        summary = resolve(path, run_id)
        if summary.live or summary.path.suffix == ".jsonl":
            try:
                return read_log(summary.path)[0]
            except TraceError:
                summary = resolve(path, summary.run_id)  # it finished meanwhile
                if summary.path.suffix == ".jsonl":
                    raise
        return read_parquet_events(summary.path, summary.run_id)
    if path.suffix == ".jsonl":
        return read_log(path)[0]
    tf = inspect_file(path)
    if run_id is None:
        if len(tf.runs) != 1:
            raise TraceError(f"{path} holds {len(tf.runs)} runs; give a run id")
        run_id = tf.run_ids[0]
    else:
        ids = [r for r in tf.run_ids if r.startswith(run_id.lower())]
        if len(ids) != 1:
            raise TraceError(f"run id {run_id!r} {'is ambiguous' if ids else 'is not'} in {path}")
        run_id = ids[0]
    return read_parquet_events(path, run_id)
