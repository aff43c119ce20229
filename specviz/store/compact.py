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
only where the pack's rows are the run file's rows exactly.
"""

from __future__ import annotations

import os
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
from specviz.store.layout import TraceError, is_pack, one_line, pack_path
from specviz.store.parquet_file import kv_metadata, read_rows
from specviz.store.recovery import Problem, clean_temp_files
from specviz.store.transfer import conformed, check_run_rows

ROW_GROUP_ROWS = 1 << 18  # ~40 row groups for 10 M events: footers stay small, scans parallel, memory bounded
MAX_PACK_ROWS = 32 << 20  # a pack is written in one pass; beyond this a partition gets several


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


def plan_compaction(traces: str | os.PathLike) -> CompactPlan:
    """Temp files of killed writers cleaned, the directory listed, the packs planned."""
    traces = Path(traces)
    if not traces.is_dir():
        raise TraceError(f"{traces} is not a trace directory")
    clean_temp_files(traces)
    listing = scan(traces)
    return CompactPlan(listing, _packable(listing))


def compact(traces: str | os.PathLike, *, progress: Callable[[int], None] | None = None) -> CompactReport:
    """Pack every day's finished run files (this schema version, two or more per day);
    see `CompactPlan.run`."""
    return plan_compaction(traces).run(progress)


def _packable(listing: Listing) -> dict[Path, list[TraceFile]]:
    """Run files to pack, by day: listed, of this schema version, held by no other file,
    two or more a day."""
    listed = {s.path for s in listing.runs if not s.live}
    # A run another file also holds stays in its run file, which listings prefer: packed,
    # it would be one pack against another, and a pack's name would decide.
    contested = set().union(*listing.shadowed.values())
    by_day: dict[Path, list[TraceFile]] = {}
    for tf in listing.files:
        # A run file holds one run: listed from it, its copy is not shadowed.
        if (not is_pack(tf.path) and tf.path in listed and tf.schema_version == SCHEMA_VERSION
                and not contested & set(tf.run_ids)):
            by_day.setdefault(tf.path.parent, []).append(tf)
    return {day: sorted(files, key=lambda tf: tf.run_ids[0]) for day, files in by_day.items() if len(files) > 1}


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


__all__ = ["compact", "plan_compaction", "CompactPlan", "CompactReport", "ROW_GROUP_ROWS", "MAX_PACK_ROWS"]
