"""Sharing traces: export runs into one file, import files into a trace directory.

An exported file has the same format as a trace file, with every run's config and
summary in its metadata, so it can be opened anywhere or imported elsewhere. Export
never replaces an existing file unless asked (``force``), and never a non-regular one.

Import treats every file as a suspect: the footer is validated as a whole, then each
run's rows are read in full and checked against it (``seq`` exactly 0..n-1, the run's
first event ``run_started`` and its last the ``run_finished`` the footer names) before
the run is written, as one file per run in the Hive layout, by one atomic rename that
never replaces a run already present: a run is imported whole or not at all. Every
failure is a Problem for that file (or run); the other files are still imported.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from specviz.events import EVENT_TYPES
from specviz.store.catalog import listing_of, resolve, scan
from specviz.store.footer import RunEntry, TraceFile, inspect_file
from specviz.store.layout import TraceError, one_line, open_regular, parquet_path, temp_name, writable_traces
from specviz.store.moved import find_moved
from specviz.store.parquet_file import SCHEMA, kv_metadata, read_rows, write_table
from specviz.store.recovery import Problem, clean_temp_files


def conformed(table: pa.Table) -> pa.Table:
    """Rows in this version's columns and types (files name list items differently);
    columns a newer minor added are kept after them."""
    if table.schema.equals(SCHEMA, check_metadata=False):
        return table  # this version's files: nothing to do (most of a compaction's reads)
    extra = [f for f in table.schema if f.name not in SCHEMA.names]
    columns = [_as(table.column(f.name), f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type) for f in SCHEMA]
    return pa.Table.from_arrays(columns + [table.column(f.name) for f in extra], schema=pa.schema(list(SCHEMA) + extra))


def _as(column, type_: pa.DataType):
    return column if column.type == type_ else column.cast(type_)


def _read_runs(source: Path, run_ids: list[str]) -> pa.Table:
    return conformed(read_rows(source, run_ids))


def check_run_rows(table: pa.Table, entry: RunEntry) -> None:
    """A run's rows agree with themselves and with the footer, or TraceError says how not."""
    n = table.num_rows
    if n == 0:
        raise TraceError("no rows")
    seq = table.column("seq")
    if seq.null_count or pc.count_distinct(seq).as_py() != n:
        raise TraceError("duplicate or missing seq values")
    bounds = pc.min_max(seq).as_py()
    if (bounds["min"], bounds["max"]) != (0, n - 1):
        raise TraceError(f"seq runs {bounds['min']}..{bounds['max']} over {n} events; expected 0..{n - 1}")
    # Only the two columns looked at are put in seq order (sorting the whole table took
    # most of a compaction's time).
    ordered = table.select(["seq", "kind", "prompt"]).sort_by("seq")
    kinds = ordered.column("kind")
    if kinds[0].as_py() != "run_started" or ordered.column("prompt")[0].as_py() != entry.run_started.prompt:
        raise TraceError("its first event is not the run_started in the file's metadata")
    finished = entry.run_finished
    if finished is not None and (kinds[n - 1].as_py() != "run_finished" or finished.seq != n - 1):
        raise TraceError(f"metadata says run_finished is event {finished.seq}, the rows end at {n - 1}")
    if pc.sum(pc.equal(kinds, "run_started")).as_py() != 1 or pc.sum(pc.equal(kinds, "run_finished")).as_py() > 1:
        raise TraceError("more than one run_started or run_finished event")


# The fields each kind of event cannot be built without (no default): a row of that kind
# with a null there (a damaged page) fails every reader's decode, Replay's included.
_REQUIRED = {cls.__struct_config__.tag: [f.name for f in msgspec.structs.fields(cls) if f.required] for cls in EVENT_TYPES}


def check_decodable(table: pa.Table) -> None:
    """Rows every reader can make events of: text that is UTF-8 (pyarrow does not check it
    as it reads) and the fields each event needs; else TraceError says what is wrong."""
    try:
        table.validate(full=True)
    except pa.ArrowInvalid as e:
        raise TraceError(f"damaged rows ({one_line(e)})") from None
    kinds = table.column("kind")
    for kind, names in _REQUIRED.items():
        of_kind = pc.equal(kinds, kind)
        if not names or not pc.any(of_kind).as_py():
            continue
        rows = table.select([n for n in names if n in table.column_names]).filter(of_kind)
        for name in names:
            if name not in rows.column_names or rows.column(name).null_count:
                raise TraceError(f"a {kind} event without its {name} (damaged rows)")


def check_file(path: str | os.PathLike, run_ids: list[str] | None = None) -> TraceFile:
    """A trace file's footer, and the rows of its runs (all, or ``run_ids``) checked as
    `import` checks them (`check_run_rows`), from ONE read of the file: every page is
    decoded, so damage the footer does not show fails here. A pack of 64 runs read run by
    run set up 64 filtered reads and decoded its row groups again for each."""
    path = Path(path)
    tf = inspect_file(path)
    entries = [e for e in tf.runs if run_ids is None or e.run_id in run_ids]
    wanted = None if run_ids is None else [e.run_id for e in entries]
    table = read_rows(path, wanted)
    if wanted is None:
        _check_run_id_statistics(path, table.column("run_id"))
    try:
        check_decodable(table)
    except TraceError as e:
        raise TraceError(f"{path.name}: {e}") from None
    # Only the columns the checks look at are sorted, by run: each run is then one slice.
    rows = table.select(["run_id", "seq", "kind", "prompt"]).sort_by("run_id")
    counts = {c["values"]: c["counts"] for c in pc.value_counts(rows.column("run_id")).to_pylist()}
    starts, offset = {}, 0
    for run_id in sorted(k for k in counts if k is not None):
        starts[run_id], offset = offset, offset + counts[run_id]
    for entry in entries:
        try:
            check_run_rows(rows.slice(starts.get(entry.run_id, 0), counts.get(entry.run_id, 0)), entry)
        except TraceError as e:
            raise TraceError(f"{path.name}: run {entry.run_id}: {e}") from None
    return tf


def _check_run_id_statistics(path: Path, run_ids: pa.ChunkedArray) -> None:
    """Readers of one run (Replay, `import`, SQL) skip the row groups whose run_id
    statistics leave it out, so a footer whose statistics do not cover a group's rows (a
    damaged one) hides those rows from all of them; a whole-file read would not notice."""
    with open_regular(path) as f:
        meta = pq.ParquetFile(f).metadata
    start = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        ids = run_ids.slice(start, group.num_rows)
        start += group.num_rows
        column = next((group.column(j) for j in range(group.num_columns) if group.column(j).path_in_schema == "run_id"), None)
        try:
            stats = column.statistics if column is not None else None
            bounds = (stats.min, stats.max) if stats is not None and stats.has_min_max else None
        except Exception:  # statistics that do not decode: readers do not prune with them
            continue
        seen = pc.min_max(ids).as_py()
        if bounds is not None and seen["min"] is not None and not bounds[0] <= seen["min"] <= seen["max"] <= bounds[1]:
            raise TraceError(f"{path.name}: row group {i}'s run_id statistics leave out its own rows "
                             "(a damaged footer: readers of a run would miss them)")


def _refuse_to_replace(out: Path, force: bool) -> None:
    try:
        st = out.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise TraceError(f"{out} is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise TraceError(f"{out} exists and is not a regular file (a link or a device); not replaced")
    if not force:
        raise TraceError(f"{out} exists; use --force to replace it")


def write_output(out: str | os.PathLike, data: bytes, *, force: bool = False) -> Path:
    """Write an export's bytes to ``out`` atomically, under the same rules as `export_runs`:
    an existing file only with ``force``, never a link, a device or a directory."""
    out = Path(out)
    _refuse_to_replace(out, force)
    tmp = temp_name(out)
    try:
        tmp.write_bytes(data)
        if force:
            os.replace(tmp, out)
        else:
            os.link(tmp, out)  # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise TraceError(f"{out} exists; use --force to replace it") from None
    except OSError as e:
        raise TraceError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def export_runs(traces: str | os.PathLike, run_ids: list[str], out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the given runs (unique prefixes) into one self-contained Parquet file.

    force: replace ``out`` if it is an existing regular file (never a link or a device).
    """
    out = Path(out)
    listing = listing_of(traces)  # a directory, or a trace file (a packed run file: its pack)
    picked = []
    for prefix in run_ids:
        s = resolve(traces, prefix, listing)
        if s.live:
            raise TraceError(f"run {s.run_id} is still recording; export it when it has finished")
        if s.path.suffix != ".parquet":
            raise TraceError(f"run {s.run_id} is an unrecovered log; run `specviz recover` first")
        if s.run_id not in [p.run_id for p in picked]:
            picked.append(s)
    _refuse_to_replace(out, force)
    if not out.parent.exists() or not os.access(out.parent, os.W_OK):
        raise TraceError(f"cannot write {out}: directory {out.parent} is missing or not writable")
    entries = [msgspec.to_builtins(RunEntry(s.started, s.finished)) for s in picked]
    by_file: dict[Path, list[str]] = {}
    for s in picked:
        by_file.setdefault(s.path, []).append(s.run_id)
    table = pa.concat_tables([_read_runs(path, ids) for path, ids in by_file.items()])
    check_decodable(table)  # a damaged file's rows: refused here, not by whoever imports the export
    try:
        # Without force, link() publishes: it never replaces a file that appeared meanwhile.
        return write_table(table, out, kv_metadata(entries), exclusive=not force)
    except FileExistsError:
        raise TraceError(f"{out} exists; use --force to replace it") from None


@dataclass
class ImportReport:
    imported: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _import_run(src: Path, entry: RunEntry, traces: Path) -> Path:
    final = parquet_path(traces, entry.run_id, entry.run_started.t_wall_ns)
    table = _read_runs(src, [entry.run_id])
    check_run_rows(table, entry)
    check_decodable(table)
    return write_table(table, final, kv_metadata([msgspec.to_builtins(entry)]), exclusive=True)


def _runs_to_import(src: Path) -> tuple[Path, list[RunEntry]]:
    """The file to read and the runs to import from it: a run file a compaction packed
    (`moved.find_moved`) is its one run, read from the pack. A live log is never imported,
    there or gone (`recover` publishes it)."""
    try:
        return src, inspect_file(src).runs
    except TraceError:
        moved = None if os.path.lexists(src) or src.suffix != ".parquet" else find_moved(src)
        if moved is None:
            raise
    return moved.now, [e for e in inspect_file(moved.now).runs if e.run_id == moved.run_id]


def import_files(traces: str | os.PathLike, files: list[str | os.PathLike]) -> ImportReport:
    """Validate and copy runs from trace files into ``traces``; each failure is a Problem."""
    traces = writable_traces(traces)
    report = ImportReport()
    try:
        traces.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TraceError(f"cannot create trace directory {traces}: {e.strerror}") from None
    clean_temp_files(traces)
    existing = {s.run_id: s.path for s in scan(traces).runs}
    for src in map(Path, files):
        try:
            path, entries = _runs_to_import(src)
        except Exception as e:  # any failure is this file's; the next one is still imported
            report.problems.append(Problem.of(src, e))
            continue
        for entry in entries:
            run_id = entry.run_id
            if run_id in existing:
                report.problems.append(Problem(src, f"run {run_id} is already in {traces} ({existing[run_id]}); not imported"))
                continue
            try:
                final = _import_run(path, entry, traces)
            except FileExistsError:
                report.problems.append(Problem(src, f"run {run_id} is already in {traces}; not imported"))
                continue
            except Exception as e:
                report.problems.append(Problem(src, f"run {run_id} not imported: {Problem.of(src, e).message}"))
                continue
            existing[run_id] = final
            report.imported.append((run_id, final))
    _compact_days(traces, [path for _, path in report.imported])
    return report


def _compact_days(traces: Path, published: list[Path]) -> None:
    """Each day the import added runs to is packed if due, as recording does."""
    from specviz.store.compact import compact_after  # compact reads through this module

    last = {path.parent: path for path in published}
    for path in last.values():
        compact_after(traces, path)
