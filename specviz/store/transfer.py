"""Sharing traces: export runs into one file, import files into a trace directory.

An exported file has the same format as a trace file, with every run's config and
summary in its metadata, so it can be opened anywhere or imported elsewhere. Import
validates each file (footer, schema version, every row read), splits it into one file
per run in the Hive layout, and refuses runs the directory already has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from specviz.store.catalog import resolve, scan
from specviz.store.layout import TraceError, check_run_id, parquet_path
from specviz.store.parquet_file import SCHEMA, _one_line, inspect_file, kv_metadata, write_table
from specviz.store.recovery import Problem


def _read_runs(source: Path, run_ids: list[str]) -> pa.Table:
    """Rows of the given runs, every page read (so corruption shows up here, not later)."""
    try:
        table = pq.read_table(source, filters=[("run_id", "in", run_ids)])
    except Exception as e:  # pyarrow's errors for damaged pages vary by codec and encoding
        raise TraceError(f"{source}: cannot read rows (corrupt or truncated: {_one_line(e)})") from None
    # Conform to this version's columns and types (files name list items differently);
    # columns a newer minor added are kept after them.
    extra = [f for f in table.schema if f.name not in SCHEMA.names]
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type) for f in SCHEMA]
    return pa.Table.from_arrays(columns + [table.column(f.name) for f in extra], schema=pa.schema(list(SCHEMA) + extra))


def export_runs(traces: str | os.PathLike, run_ids: list[str], out: str | os.PathLike) -> Path:
    """Write the given runs (unique prefixes) into one self-contained Parquet file."""
    out = Path(out)
    listing = scan(traces)
    picked = []
    for prefix in run_ids:
        s = resolve(traces, prefix, listing)
        if s.live:
            raise TraceError(f"run {s.run_id} is still recording; export it when it has finished")
        if s.path.suffix != ".parquet":
            raise TraceError(f"run {s.run_id} is an unrecovered log; run `specviz recover` first")
        if s.run_id not in [p.run_id for p in picked]:
            picked.append(s)
    entries = []
    for s in picked:
        tf = inspect_file(s.path)
        entries.extend(e for e in tf.runs if e["run_started"].get("run_id") == s.run_id)
    if out.is_dir():
        raise TraceError(f"{out} is a directory; give a file name")
    if not out.parent.exists() or not os.access(out.parent, os.W_OK):
        raise TraceError(f"cannot write {out}: directory {out.parent} is missing or not writable")
    by_file: dict[Path, list[str]] = {}
    for s in picked:
        by_file.setdefault(s.path, []).append(s.run_id)
    tables = [_read_runs(path, ids) for path, ids in by_file.items()]
    return write_table(pa.concat_tables(tables), out, kv_metadata(entries))


@dataclass
class ImportReport:
    imported: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def import_files(traces: str | os.PathLike, files: list[str | os.PathLike]) -> ImportReport:
    """Validate and copy runs from trace files into ``traces``; each failure is a Problem."""
    traces = Path(traces)
    report = ImportReport()
    try:
        traces.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TraceError(f"cannot create trace directory {traces}: {e.strerror}") from None
    existing = {s.run_id: s.path for s in scan(traces).runs}
    for src in map(Path, files):
        try:
            tf = inspect_file(src)
        except TraceError as e:
            report.problems.append(Problem(src, str(e)))
            continue
        for entry in tf.runs:
            run_id = str(entry["run_started"].get("run_id", ""))
            try:
                check_run_id(run_id)
            except TraceError as e:
                report.problems.append(Problem(src, f"{src}: {e}"))
                continue
            if run_id in existing:
                report.problems.append(Problem(src, f"{src}: run {run_id} is already in {traces} ({existing[run_id]}); not imported"))
                continue
            final = parquet_path(traces, run_id, int(entry["run_started"].get("t_wall_ns", 0)))
            try:
                table = _read_runs(src, [run_id])
                if table.num_rows == 0:
                    raise TraceError(f"{src}: no rows for run {run_id}")
                write_table(table, final, kv_metadata([entry]), exclusive=True)
            except FileExistsError:
                report.problems.append(Problem(src, f"{src}: run {run_id} is already in {traces}; not imported"))
                continue
            except TraceError as e:
                report.problems.append(Problem(src, str(e)))
                continue
            existing[run_id] = final
            report.imported.append((run_id, final))
    return report
