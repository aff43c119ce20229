"""Packing many small run files into a few large ones (`specviz compact`).

A trace directory holds one Parquet file per run, which is what makes recording
crash-safe and sharing a run a file copy. It also means a query across 1,000 runs opens
1,000 footers of ~95 column chunks each: DuckDB spends ~0.35 ms of CPU per file before
it reads a row (measured on bench_store's 10 M-event store), more than the query itself.
Compaction is the data-lake answer (Delta's OPTIMIZE, Iceberg's rewrite_data_files):
each day's finished runs go into packs, ``date=D/pack-<id>.parquet``, with row groups of
`ROW_GROUP_ROWS` rows across runs (rows in run id order, with run_id statistics, so one
run's read skips the other row groups), and every run's config and summary in the
footer as in an exported file.

Safe at every moment, like recording: a pack is written to a temp file and published
by one rename, and only then are its run files removed. Killed before the rename, the
temp file is cleaned up on the next run; killed after it, a run is in both its file and
the pack: listings and views use the run file (the pack's copy is left out, see
`catalog.Listing.served`) until the next `compact` removes the run file, which it does
only where the pack's rows are the run file's rows exactly. One compaction at a time per
directory (`compaction_lock`): two would pack the same runs twice.

Recording compacts as it goes (`maybe_compact`, Delta Lake's auto compaction): when a
finished run leaves a day with `AUTO.min_files` small run files beyond its newest
`AUTO.keep_recent`, the older ones are packed before `finish()` returns, so a store
stays a few files per day however many runs are recorded into it. The newest runs stay
files (just recorded: replayed, exported, shared as they are); `SPECVIZ_AUTO_COMPACT=0`
turns it off.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import msgspec
import pyarrow as pa

from specviz.events import SCHEMA_VERSION
from specviz.store.catalog import Listing, scan
from specviz.store.chunked import ChunkedParquet
from specviz.store.footer import RunEntry, TraceFile
from specviz.store.columnar import SCHEMA
from specviz.store.layout import LIVE_DIR, TraceError, is_pack, one_line, pack_path
from specviz.store.parquet_file import kv_metadata, read_rows
from specviz.store.recovery import Problem, clean_temp_files
from specviz.store.transfer import conformed, check_run_rows

# ~150 row groups for 10 M events: footers stay small and scans parallel, and reading one
# run decodes at most ~65 k rows of its neighbours (262,144: ~3x the read, bench_store_levers.py).
ROW_GROUP_ROWS = 1 << 16
MAX_PACK_ROWS = 32 << 20  # a pack is written in one pass; beyond this a partition gets several
AUTO_ENV = "SPECVIZ_AUTO_COMPACT"


@dataclass(frozen=True)
class Policy:
    """Which run files of a day a compaction packs."""

    min_files: int = 2  # fewer packable files than this in a day: that day is left alone
    keep_recent: int = 0  # a day's newest run files (by start time) stay files
    max_rows: int | None = None  # run files this long already have a pack's row groups: left alone


MANUAL = Policy()
# 64 files: about where footers start to cost more than the rows of a 10,000-event run
# (bench_store: ~0.35 ms each); a pack of 64 such runs is ~3 row groups.
AUTO = Policy(min_files=64, keep_recent=16, max_rows=ROW_GROUP_ROWS)


@dataclass
class CompactReport:
    packed: list[tuple[str, Path]] = field(default_factory=list)  # (run id, its pack)
    removed: list[Path] = field(default_factory=list)  # run files now in a pack
    bytes_before: int = 0
    bytes_after: int = 0
    unreadable: int = 0  # files the listing could not use (`specviz runs --problems`); left alone
    problems: list[Problem] = field(default_factory=list)


@dataclass
class CompactPlan:
    """What `compact` will do in a trace directory, from one listing of it."""

    listing: Listing
    packable: dict[Path, list[TraceFile]]  # run files to pack, by day

    @property
    def files(self) -> int:
        """How many run files it reads (for a progress bar)."""
        return sum(map(len, self.packable.values()))

    def run(self, progress: Callable[[int], None] | None = None) -> CompactReport:
        """First remove run files an interrupted compaction left beside their pack, then
        pack; ``progress(n)`` is called as n more run files are read."""
        report = CompactReport(unreadable=len(self.listing.problems))
        _remove_packed_leftovers(self.listing, report)
        for partition, files in sorted(self.packable.items()):
            for chunk in _chunks(files):
                _write_pack(partition, chunk, report, progress)
        return report


def plan_compaction(traces: str | os.PathLike, policy: Policy = MANUAL, *, keep: Path | None = None) -> CompactPlan:
    """Temp files of killed writers cleaned, the directory listed, the packs planned
    (``keep``: a run file to leave as it is, and with it the only day to pack). Call it
    holding `compaction_lock`."""
    traces = Path(traces)
    if not traces.is_dir():
        raise TraceError(f"{traces} is not a trace directory")
    clean_temp_files(traces)
    listing = scan(traces)
    return CompactPlan(listing, _packable(listing, policy, keep))


def compact(traces: str | os.PathLike, *, progress: Callable[[int], None] | None = None) -> CompactReport:
    """Pack every day's finished run files (this schema version, two or more per day);
    see `CompactPlan.run`. Waits for a compaction already running here."""
    with compaction_lock(traces):
        return plan_compaction(traces).run(progress)


@contextlib.contextmanager
def compaction_lock(traces: str | os.PathLike, *, wait: bool = True):
    """Held while one process compacts ``traces``; yields False when ``wait`` is off and
    another holds it. The lock file (``_live/compact.lock``) is never removed: removing
    a lock file lets two holders in."""
    if not Path(traces).is_dir():
        raise TraceError(f"{traces} is not a trace directory")
    path = Path(traces) / LIVE_DIR / "compact.lock"
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise TraceError(f"cannot lock {path} for compaction: {e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TraceError(f"cannot lock {path} for compaction: not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def maybe_compact(traces: str | os.PathLike, published: Path) -> CompactReport | None:
    """After ``published`` (a run file just written) joined its day: pack the day's
    older small run files once there are `AUTO.min_files` of them (see the module
    docstring); None when nothing was due, another process is compacting, or it is off."""
    if os.environ.get(AUTO_ENV, "1").strip() == "0":
        return None
    try:
        with os.scandir(published.parent) as entries:
            run_files = sum(1 for e in entries if e.name.startswith("run-") and e.name.endswith(".parquet"))
    except OSError:
        return None
    if run_files <= AUTO.min_files + AUTO.keep_recent:  # the one just published stays too
        return None  # the common case: one directory read per finished run
    with compaction_lock(traces, wait=False) as held:
        if not held:
            return None  # another recorder is on it; the next finish looks again
        plan = plan_compaction(traces, AUTO, keep=published)
        return plan.run() if plan.packable else None


def compact_after(traces: str | os.PathLike, published: Path) -> CompactReport | None:
    """`maybe_compact` for a writer whose run is already published (recording, import):
    a compaction that fails in any way is a warning, never the writer's error."""
    try:
        return maybe_compact(traces, published)
    except Exception as e:  # the run itself is safe on disk
        warnings.warn(f"traces not compacted: {one_line(e)}", stacklevel=3)
        return None


def _packable(listing: Listing, policy: Policy, keep: Path | None) -> dict[Path, list[TraceFile]]:
    """Run files to pack, by day: listed, of this schema version, held by no other file,
    as many a day as the policy wants."""
    listed = {s.path: s.started_ns for s in listing.runs if not s.live}
    # A run another file also holds stays in its run file, which listings prefer: packed,
    # it would be one pack against another, and a pack's name would decide.
    contested = set().union(*listing.shadowed.values())
    by_day: dict[Path, list[TraceFile]] = {}
    for tf in listing.files:
        # A run file holds one run: listed from it, its copy is not shadowed.
        if (not is_pack(tf.path) and tf.path in listed and tf.schema_version == SCHEMA_VERSION
                and (keep is None or (tf.path != keep and tf.path.parent == keep.parent))
                and not contested & set(tf.run_ids) and (policy.max_rows is None or tf.num_rows < policy.max_rows)):
            by_day.setdefault(tf.path.parent, []).append(tf)
    out = {}
    for day, files in by_day.items():
        files.sort(key=lambda tf: (listed[tf.path], tf.run_ids[0]))
        files = files[:max(len(files) - policy.keep_recent, 0)]
        if len(files) >= max(policy.min_files, 2):
            out[day] = sorted(files, key=lambda tf: tf.run_ids[0])
    return out


def _chunks(files: list[TraceFile]) -> list[list[TraceFile]]:
    chunks, rows = [[]], 0
    for tf in files:
        if chunks[-1] and rows + tf.num_rows > MAX_PACK_ROWS:
            chunks.append([])
            rows = 0
        chunks[-1].append(tf)
        rows += tf.num_rows
    return chunks


def _write_pack(partition: Path, files: list[TraceFile], report: CompactReport, progress) -> None:
    """Row groups of `ROW_GROUP_ROWS` rows encoded as they fill (`ChunkedParquet`, as the
    recorder writes a long run), published once at least two run files are in."""
    out = ChunkedParquet(pack_path(partition))
    packed, entries, pending, rows = [], [], [], 0
    try:
        for tf in files:
            table = _checked_rows(tf, report)  # one run per run file: read whole
            if progress:
                progress(1)
            if table is None:
                continue
            pending.append(table)
            packed.append(tf)
            entries.extend(msgspec.to_builtins(RunEntry(e.run_started, e.run_finished)) for e in tf.runs)
            rows += table.num_rows
            if rows >= ROW_GROUP_ROWS:
                out.add(pa.concat_tables(pending))
                pending.clear()
                rows = 0
        if len(packed) < 2:
            out.abort()
            return  # one good file is already as packed as it gets
        final = out.finish(pa.concat_tables(pending) if pending else SCHEMA.empty_table(), kv_metadata(entries))
    except TraceError as e:
        report.problems.append(Problem(partition, f"not compacted: {one_line(e)}"))
        return
    except BaseException:
        out.abort()
        raise
    report.bytes_after += final.stat().st_size
    for tf in packed:
        report.bytes_before += _size(tf.path)
        report.packed.extend((run_id, final) for run_id in tf.run_ids)
        _unlink(tf.path, report)


def _checked_rows(tf: TraceFile, report: CompactReport) -> pa.Table | None:
    """A run file's rows in the pack's columns, read in full and checked against its
    footer as `import` checks them; None (and a problem) for a file that fails."""
    try:
        table = _rows(tf.path, None)
        check_run_rows(table, tf.runs[0])
        return table
    except (TraceError, pa.ArrowException) as e:
        report.problems.append(Problem(tf.path, f"not packed: {one_line(e)}"))
        return None


def _remove_packed_leftovers(listing: Listing, report: CompactReport) -> None:
    """Run files whose run a pack also holds (a compaction killed after publishing):
    removed where the pack's rows are exactly the file's, else reported and kept."""
    for pack, run_ids in listing.shadowed.items():
        if not is_pack(pack):
            continue
        for run_id in sorted(run_ids):
            own = listing.get(run_id)
            if own is None or is_pack(own.path):
                continue
            try:
                same = _rows(own.path, [run_id]).equals(_rows(pack, [run_id]))
            except TraceError as e:
                report.problems.append(Problem(own.path, f"kept: {one_line(e)}"))
                continue
            if same:
                _unlink(own.path, report)
            else:
                report.problems.append(Problem(pack, f"run {run_id} differs from {own.path}; both kept, the run file is listed"))


def _rows(path: Path, run_ids: list[str] | None) -> pa.Table:
    return conformed(read_rows(path, run_ids)).select(SCHEMA.names)


def _unlink(path: Path, report: CompactReport) -> None:
    try:
        path.unlink()
        report.removed.append(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        report.problems.append(Problem(path, f"packed but not removed ({e.strerror}); listed from this file until removed"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


__all__ = ["compact", "plan_compaction", "maybe_compact", "compact_after", "compaction_lock", "CompactPlan", "CompactReport", "Policy",
           "MANUAL", "AUTO", "AUTO_ENV", "ROW_GROUP_ROWS", "MAX_PACK_ROWS"]
