"""Finding runs in trace directories and files: listing, unique-prefix ids, reading one run.

Listing reads only Parquet footers (the run's config and summary are in the file
metadata) and the first line of each live log, so it is cheap enough to poll. Every
file is a suspect and checked on its own: whatever goes wrong with one (damaged bytes,
a FIFO or a directory with a trace's name, a link out of the directory, metadata that
does not validate) becomes a `Problem`, never an exception that hides the good runs
beside it. Listing only reads: logs left by crashed recorders are listed as
``interrupted`` from the log itself, and published as Parquet only by `recover`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from specviz.events import RunFinished, RunStarted
from specviz.store.footer import RunEntry, TraceFile, check_entry, inspect_file
from specviz.store import footer_cache
from specviz.store.footer_batch import inspect_many, plain_files
from specviz.store.layout import (
    TraceError, check_run_id, is_pack, log_files, names_a_file, parquet_files, parquet_path, printable, run_id_of,
)
from specviz.store.livelog import is_live, read_log, read_started
from specviz.store.moved import Moved, find_moved, gone
from specviz.store.parquet_file import read_parquet_events
from specviz.store.recovery import Problem



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
    # Runs a file holds that are listed from another file: left out of every view of it.
    shadowed: dict[Path, set[str]] = field(default_factory=dict)
    # Files listed for some of their runs alone (a pack standing in for a run file it
    # absorbed, see `moved.find_moved`): the runs served from each.
    only: dict[Path, frozenset[str]] = field(default_factory=dict)
    _by_id: dict[str, RunSummary] = field(default_factory=dict, repr=False, compare=False)

    def add(self, summary: RunSummary) -> None:
        """Keep the first copy of a run; a second copy elsewhere is reported, not shown twice."""
        first = self._by_id.get(summary.run_id)
        if first is None:
            self.runs.append(summary)
            self._by_id[summary.run_id] = summary
        elif first.path != summary.path:
            self.shadowed.setdefault(summary.path, set()).add(summary.run_id)
            self.problems.append(Problem(summary.path, f"run {summary.run_id} is also in {first.path}; this copy is not listed"))

    def get(self, run_id: str) -> RunSummary | None:
        """The listed copy of a run (a full id), if any."""
        return self._by_id.get(run_id)

    def extend(self, other: "Listing") -> None:
        self.problems.extend(other.problems)
        known = {g.path for g in self.files}
        for f in other.files:
            self._merge_only(f.path, f.path in known, other.only.get(f.path))
        self.files.extend(f for f in other.files if f.path not in known)
        for path, run_ids in other.shadowed.items():
            self.shadowed.setdefault(path, set()).update(run_ids)
        for summary in other.runs:
            self.add(summary)

    def _merge_only(self, path: Path, known: bool, only: frozenset[str] | None) -> None:
        """A file listed again: whole if either listing had it whole, else the union."""
        if not known:
            if only is not None:
                self.only[path] = only
        elif path in self.only:
            if only is None:
                del self.only[path]
            else:
                self.only[path] |= only

    def served(self) -> tuple[list[TraceFile], dict[Path, frozenset[str]]]:
        """The files the views read, and the runs to leave out of each: every listed run
        once, from the file it is listed from (a file whose runs all live elsewhere, such
        as a run file a pack also holds after an interrupted `compact`, is not read)."""
        files, excluded = [], {}
        for tf in self.files:
            gone = self.shadowed.get(tf.path, set()) & set(tf.run_ids)
            if tf.path in self.only:
                gone |= set(tf.run_ids) - self.only[tf.path]
            if len(gone) == len(tf.run_ids):
                continue
            files.append(tf)
            if gone:
                excluded[tf.path] = frozenset(gone)
        return files, excluded


# Footers do not change once a file is published (files are replaced, never rewritten
# in place), so a validated footer is reused while the file's identity, size and mtime match.
_FOOTERS: dict[tuple, TraceFile | TraceError] = {}


def _footer_key(path: Path, root: Path | None) -> tuple:
    st = path.stat()
    return (str(path), str(root), *footer_cache.identity(st))


def _remember(key: tuple, hit: TraceFile | TraceError) -> None:
    if len(_FOOTERS) > 50_000:
        _FOOTERS.clear()
    _FOOTERS[key] = hit


def inspect_cached(path: Path, root: Path | None = None, key: tuple | None = None) -> TraceFile:
    """``key``: the file's `_footer_key`, when the caller has just taken it."""
    key = key or _footer_key(path, root)
    hit = _FOOTERS.get(key)
    if hit is None:
        try:
            hit = inspect_file(path, root=root)
        except TraceError as e:
            hit = e
        _remember(key, hit)
    if isinstance(hit, TraceError):
        raise hit
    return hit


def _prefetch(paths: list[Path], root: Path) -> tuple[dict[Path, tuple], dict[Path, tuple]]:
    """Footers not yet validated in this process: from the on-disk cache where the file is
    the one validated before, else validated in one DuckDB pass (`footer_batch`).
    Returns (path -> in-process key, path -> on-disk key for the plain files); the second
    is empty when every footer was already known here (then the cache has been saved
    already: see `_persist`)."""
    keys = {}
    for path in paths:
        try:
            keys[path] = _footer_key(path, root)
        except OSError:
            continue
    missing = {path: key for path, key in keys.items() if key not in _FOOTERS}
    if not missing:
        return keys, {}
    disk = _disk_keys(paths, root)
    remembered = footer_cache.load(root)
    for path, key in list(missing.items()):
        hit = remembered.get(disk.get(path))
        if hit is not None:
            _remember(key, hit)
            del missing[path]
    if missing:
        for path, hit in inspect_many(list(missing), root).items():
            _remember(missing[path], hit)
    return keys, disk


def _disk_keys(paths: list[Path], root: Path) -> dict[Path, tuple]:
    # Only regular files in link-free directories are remembered across processes, by
    # lstat: a link, or a directory swapped for one, is checked afresh every time.
    out = {}
    for path in plain_files(paths, root):
        try:
            out[path] = (str(path.relative_to(root)), footer_cache.identity(os.lstat(path)))
        except (OSError, ValueError):
            continue
    return out


def _persist(root: Path, keys: dict[Path, tuple], disk: dict[Path, tuple]) -> None:
    if not disk:
        return
    good = {}
    for path, disk_key in disk.items():
        hit = _FOOTERS.get(keys.get(path))
        if isinstance(hit, TraceFile):
            good[disk_key] = hit
    footer_cache.save(root, good)


def run_summaries(tf: TraceFile) -> list[RunSummary]:
    out = []
    for entry in tf.runs:
        started, finished = entry.run_started, entry.run_finished
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


def _live_summary(path: Path, root: Path | None = None) -> RunSummary | None:
    run_id = check_run_id(run_id_of(path))
    started = read_started(path, root)
    if started is None:
        return None  # not even the config is flushed yet
    try:
        check_entry(RunEntry(started))
    except TraceError as e:
        raise TraceError(f"{path}: unreadable live log ({e})") from None
    live = is_live(path)
    return RunSummary(run_id=run_id, status="recording" if live else "interrupted", live=live, path=path, started=started)


def _scan_files(traces: Path, listing: Listing) -> None:
    paths = parquet_files(traces)
    keys, disk = _prefetch(paths, traces)
    for path in paths:
        try:
            tf = inspect_cached(path, traces, keys.get(path))
            summaries = run_summaries(tf)
            _check_place(tf, summaries, traces)
        except Exception as e:  # any failure is this file's, never the listing's
            listing.problems.append(Problem.of(path, e))
            continue
        listing.files.append(tf)
        for s in summaries:
            listing.add(s)
    _persist(traces, keys, disk)


def _check_place(tf: TraceFile, summaries: list[RunSummary], traces: Path) -> None:
    """A run file holds the one run its name says; a pack (`specviz compact`) holds runs
    of its own day. Anything else was put here by hand (a copy, an export) and could
    shadow the real run; a run a pack shares with a run file is listed from the run file."""
    if not is_pack(tf.path):
        if tf.run_ids != [run_id_of(tf.path)]:
            raise TraceError(f"holds run(s) {', '.join(tf.run_ids)}, not the one its name says; `specviz import` it instead")
        return
    for s in summaries:
        if parquet_path(traces, s.run_id, s.started.t_wall_ns).parent.name != tf.path.parent.name:
            raise TraceError(f"a pack holding run {s.run_id}, which was not started on the pack's day; `specviz import` it instead")


def _scan_logs(traces: Path, listing: Listing) -> None:
    published = {s.run_id for s in listing.runs}
    for path in log_files(traces):
        if run_id_of(path) in published:
            continue  # published a moment ago; its log is about to go
        try:
            s = _live_summary(path, traces)
        except Exception as e:
            if os.path.lexists(path):  # else it was published while we looked
                listing.problems.append(Problem.of(path, e))
            continue
        if s is not None:
            listing.add(s)


def scan(traces: str | os.PathLike) -> Listing:
    """Every run in ``traces`` (newest first), the problems met, and the valid files.

    Reads only: abandoned logs are listed as ``interrupted`` runs; `recover` publishes them.
    """
    traces = Path(traces)
    listing = Listing()
    if not traces.exists():
        return listing
    if not traces.is_dir():
        raise TraceError(f"{traces} is not a directory")
    _scan_files(traces, listing)
    _scan_logs(traces, listing)
    listing.runs.sort(key=lambda s: (s.started.t_wall_ns, s.run_id), reverse=True)
    return listing


def scan_file(path: str | os.PathLike) -> Listing:
    """One trace file named by the user (a Parquet trace or a live log) as a listing."""
    path = Path(path)
    listing = Listing()
    try:
        if path.suffix == ".jsonl":
            s = _live_summary(path)
            if s is None:
                raise TraceError(f"{path}: a log whose first line is not written yet")
            listing.add(s)
        else:
            tf = inspect_file(path)
            listing.files.append(tf)
            for s in run_summaries(tf):
                listing.add(s)
    except Exception as e:
        listing.problems.append(Problem.of(path, e))
    return listing


def _scan_moved(moved: Moved) -> Listing:
    """The moved run alone, listed from the file holding it now (a pack's other runs left
    out of views)."""
    tf = inspect_cached(moved.now, moved.now.parent.parent)
    listing = Listing(files=[tf], only={tf.path: frozenset({moved.run_id})})
    for s in run_summaries(tf):
        if s.run_id == moved.run_id:
            listing.add(s)
    return listing


def _scan_named(src: Path) -> Listing:
    """A trace file named by the user; one the store moved since (even while we looked:
    packed, or a live log whose run finished) is its run in the file holding it now."""
    listing = scan_file(src) if os.path.lexists(src) else None
    if listing is not None and (listing.runs or os.path.lexists(src)):
        return listing
    moved = find_moved(src)
    if moved is None:
        return Listing(problems=[Problem(src, gone(src))])
    try:
        return _scan_moved(moved)
    except TraceError as e:
        return Listing(problems=[Problem.of(src, e)])


def scan_sources(sources: list[str | os.PathLike]) -> Listing:
    """Runs from several trace directories and trace files, newest first; a bad file or a
    missing path is a Problem, and the good sources beside it are listed. A run file or
    live log the store moved since it was named lists its run from where it is now
    (`moved.find_moved`: packed, or finished)."""
    listing = Listing()
    for src in map(Path, sources):
        if src.is_dir():
            listing.extend(scan(src))
        else:
            listing.extend(_scan_named(src))
    listing.runs.sort(key=lambda s: (s.started.t_wall_ns, s.run_id), reverse=True)
    return listing


def listing_of(source: str | os.PathLike) -> Listing:
    """`scan` of a trace directory, or `scan_sources` of one trace file."""
    return scan_sources([source]) if names_a_file(source) else scan(source)


def list_runs(traces: str | os.PathLike) -> list[RunSummary]:
    """Runs in ``traces``, newest first, including live ones; see `scan` for problems."""
    return scan(traces).runs


def resolve(traces: str | os.PathLike, prefix: str, listing: Listing | None = None) -> RunSummary:
    """The one run whose id starts with ``prefix``; TraceError if none or several."""
    prefix = prefix.strip().lower()
    if not prefix:
        raise TraceError("empty run id")
    listing = listing if listing is not None else listing_of(traces)
    matches = [s for s in listing.runs if s.run_id.startswith(prefix)]
    if not matches and not listing.runs and len(listing.problems) == 1 and names_a_file(traces):
        raise TraceError(str(listing.problems[0]))  # the one file named: why it cannot be read
    if not matches:
        raise TraceError(f"no run {prefix!r} in {traces}")
    if len(matches) > 1:
        ids = ", ".join(s.run_id for s in matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
        raise TraceError(f"run id {prefix!r} is ambiguous: {ids}")
    return matches[0]


def read_run(summary: RunSummary) -> list:
    """The events of a listed run, from its log (torn tail ignored) or its Parquet file."""
    if summary.path.suffix == ".jsonl":
        return read_log(summary.path)[0]
    return read_parquet_events(summary.path, summary.run_id)


def _read_listed(source, run_id: str) -> list:
    """A run found by listing a directory, or several directories and files."""
    def find(prefix: str) -> RunSummary:
        if isinstance(source, (list, tuple)):
            return resolve(", ".join(map(str, source)), prefix, scan_sources(list(source)))
        return resolve(source, prefix)

    summary = find(run_id)
    try:
        return read_run(summary)
    except TraceError:
        if summary.path.suffix != ".jsonl" and os.path.lexists(summary.path):
            raise
        return read_run(find(summary.run_id))  # it finished, or was packed, meanwhile


def read_events(source: str | os.PathLike | list, run_id: str | None = None) -> list:
    """One run's events in seq order.

    ``source`` is a trace directory (``run_id`` required, any unique prefix; live runs are
    read from their log, torn tail ignored), a Parquet trace file (``run_id`` optional if
    the file holds one run), a live log file, or a list of directories and files
    (``run_id`` required).
    """
    if isinstance(source, (list, tuple)) or Path(source).is_dir():
        if run_id is None:
            raise TraceError("which run? give a run id")
        return _read_listed(source, run_id)
    path = Path(source)
    try:
        return read_log(path)[0] if path.suffix == ".jsonl" else _read_file(path, run_id)
    except TraceError:
        moved = find_moved(path)  # moved before, or while, we read it
        if moved is None:
            if os.path.lexists(path):
                raise
            raise TraceError(printable(f"{path}: {gone(path)}")) from None  # a path may hold newlines
    if run_id is not None and not moved.run_id.startswith(run_id.strip().lower()):
        raise TraceError(f"run id {run_id!r} is not in {path} (its run {moved.run_id} is in {moved.now} now)")
    return read_parquet_events(moved.now, moved.run_id)


def _read_file(path: Path, run_id: str | None) -> list:
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
