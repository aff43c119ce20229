"""Validating a trace file before any of it is used: the footer, as a whole.

Every Parquet file met in a directory, named on the command line or uploaded is a
suspect. `inspect_file` opens it only if it is a regular file, reads the footer, and
accepts it only when every piece the store later relies on holds: our metadata keys, a
schema major this version reads, run metadata that decodes into the event types
(msgspec checks every field's type, enums included), run ids that can name a file,
clocks that can name a date, integers DuckDB can hold, and columns whose types match
this version's (a file with a ``seq`` of the wrong type would otherwise break the
``events`` view of every run). Anything else is one `TraceError` naming the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from specviz.events import SCHEMA_MAJOR, RunFinished, RunStarted
from specviz.store.columnar import SCHEMA
from specviz.store.layout import INT64_MAX, TraceError, check_run_id, check_wall_ns, one_line, open_regular

KEY_VERSION = "specviz.schema_version"
KEY_RUNS = "specviz.runs"
KEY_CONFIG = "specviz.run_config"
REQUIRED_COLUMNS = ("kind", "run_id", "seq")


class RunEntry(msgspec.Struct):
    """One run's copy of its first and last events, kept in the file's footer."""

    run_started: RunStarted
    run_finished: RunFinished | None = None

    @property
    def run_id(self) -> str:
        return self.run_started.run_id


@dataclass(frozen=True)
class TraceFile:
    """A validated trace file: what its footer says, before any row is read."""

    path: Path
    schema_version: str
    runs: list[RunEntry]
    num_rows: int
    schema: str  # column names and types: files alike in this can be scanned as one
    checked_by_duckdb: bool = False  # DuckDB's own footer reader has read it (footer_batch)

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]


_WIDE = r"(?<![0-9])(?:[0-9]{20}|9[0-9]{18})"  # int64 is below 9223372036854775808
_LONG_DIGITS = re.compile(_WIDE)
_LONG_DIGITS_B = re.compile(_WIDE.encode())


def _fits_int64(value: object) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return True
    if isinstance(value, int):
        return -INT64_MAX - 1 <= value <= INT64_MAX
    if isinstance(value, dict):
        return all(_fits_int64(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_fits_int64(v) for v in value)
    return True


def check_entry(entry: RunEntry, *, wide_ints: bool = True) -> RunEntry:
    """Refuse run metadata whose values could not name a file or fit a view's column.

    wide_ints=False: the caller saw no number long enough to leave the 64-bit range."""
    started, finished = entry.run_started, entry.run_finished
    check_run_id(started.run_id)
    check_wall_ns(started.t_wall_ns, "run_started.t_wall_ns")
    if finished is not None:
        check_wall_ns(finished.t_wall_ns, "run_finished.t_wall_ns")
        if finished.run_id not in ("", started.run_id) or finished.seq < 1:
            raise TraceError(f"run_finished does not belong to run {started.run_id}")
    if wide_ints and not _fits_int64(msgspec.to_builtins(entry)):
        raise TraceError(f"run {started.run_id}: an integer out of the 64-bit range")
    return entry


def decode_entries(text: str | bytes, file_version: str | None = None) -> list[RunEntry]:
    """Run metadata as typed entries, every field validated.

    Footers omit fields at their default, schema_version included: a run without one
    was written when its version was the default, i.e. the file's version.
    """
    try:
        raw = msgspec.json.decode(text)
        if file_version is not None and isinstance(raw, list):
            for entry in raw:
                if isinstance(entry, dict) and isinstance(entry.get("run_started"), dict):
                    entry["run_started"].setdefault("schema_version", file_version)
        entries = msgspec.convert(raw, list[RunEntry])
    except msgspec.DecodeError as e:  # ValidationError included
        raise TraceError(f"damaged run metadata ({one_line(e)})") from None
    # Only 20 digits, or 19 starting with a 9, can be an integer outside int64 (the walk
    # over every value costs more than decoding; clocks in ns have 19 digits).
    wide = (_LONG_DIGITS_B if isinstance(text, bytes) else _LONG_DIGITS).search(text) is not None
    ids = [check_entry(e, wide_ints=wide).run_id for e in entries]
    if not entries:
        raise TraceError("run metadata lists no runs")
    if len(set(ids)) != len(ids):
        raise TraceError("run metadata lists a run twice")
    return entries


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Equal types, allowing other names for list items (writers differ in that)."""
    if actual.equals(expected):
        return True
    if pa.types.is_list(actual) and pa.types.is_list(expected):
        return _compatible(actual.value_type, expected.value_type)
    if pa.types.is_struct(actual) and pa.types.is_struct(expected):
        return [f.name for f in actual] == [f.name for f in expected] and all(
            _compatible(a.type, e.type) for a, e in zip(actual, expected)
        )
    if pa.types.is_map(actual) and pa.types.is_map(expected):
        return _compatible(actual.key_type, expected.key_type) and _compatible(actual.item_type, expected.item_type)
    return False


def check_columns(schema: pa.Schema, expected: pa.Schema) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise TraceError(f"no {', '.join(missing)} column: not a specviz trace")
    if len(set(schema.names)) != len(schema.names):
        raise TraceError("a column name appears twice")
    for field in schema:
        want = expected.field(field.name).type if field.name in expected.names else None
        if want is not None and not _compatible(field.type, want):
            raise TraceError(f"column {field.name!r} is {field.type}, expected {want}")


def _schema_version(kv: dict[str, str]) -> str:
    version = kv.get(KEY_VERSION)
    if version is None:
        raise TraceError("Parquet file without specviz metadata (not a specviz trace)")
    parts = version.split(".")
    if len(parts) != 2 or not all(p.isdigit() and len(p) < 6 for p in parts) or int(parts[0]) < 1:
        raise TraceError(f"unreadable schema version {version!r}")
    if int(parts[0]) > SCHEMA_MAJOR:
        raise TraceError(f"written with trace schema {version}, this specviz reads {SCHEMA_MAJOR}.x; upgrade specviz")
    return version


def inspect_file(path: str | os.PathLike, *, root: Path | None = None) -> TraceFile:
    """Open a Parquet trace's footer and check it is one of ours and readable by this version.

    ``root``: the file must stay inside this directory (symlinks followed). Raises
    TraceError naming the file for anything else: not a regular file, not Parquet,
    truncated, another program's Parquet, a newer schema major, damaged metadata.
    """
    path = Path(path)
    meta, arrow_schema = _read_footer(path, root)
    kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()}
    return trace_file(path, kv, meta.num_rows, arrow_schema)


def checked_schema(path: Path, root: Path | None = None) -> str:
    """A file's columns, checked against this version's (TraceError if they do not fit)."""
    arrow_schema = _read_footer(path, root)[1]
    try:
        _check_schema(arrow_schema)
    except TraceError as e:
        raise TraceError(f"{path}: {e}") from None
    return str(arrow_schema)


def _read_footer(path: Path, root: Path | None) -> tuple[pq.FileMetaData, pa.Schema]:
    with open_regular(path, root) as f:
        try:
            meta = pq.read_metadata(f)
            return meta, meta.schema.to_arrow_schema().remove_metadata()
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError variants for bad bytes
            raise TraceError(f"{path}: not a readable Parquet file (corrupt or truncated: {one_line(e)})") from None


def trace_file(path: Path, kv: dict[str, str], num_rows: int, schema: pa.Schema | str, *,
               checked_by_duckdb: bool = False) -> TraceFile:
    """A footer's key-value metadata, row count and columns checked. ``schema`` as a string:
    a schema already checked (the same as another file's that was)."""
    try:
        version = _schema_version(kv)
        if KEY_RUNS not in kv:
            raise TraceError("specviz metadata without runs")
        entries = decode_entries(kv[KEY_RUNS], version)
        if isinstance(schema, pa.Schema):
            _check_schema(schema)
            schema = str(schema)
        if num_rows < len(entries):
            raise TraceError(f"{num_rows} rows for {len(entries)} runs")
    except TraceError as e:
        raise TraceError(f"{path}: {e}") from None
    return TraceFile(path, version, entries, num_rows, schema, checked_by_duckdb)


# Most directories hold one or two schemas; checking a schema's 95 columns costs about a
# millisecond, so each distinct schema is checked once per process.
_SCHEMAS_CHECKED: dict[str, TraceError | None] = {}


def _check_schema(arrow_schema: pa.Schema) -> None:
    key = str(arrow_schema)
    if key not in _SCHEMAS_CHECKED:
        if len(_SCHEMAS_CHECKED) > 1000:
            _SCHEMAS_CHECKED.clear()
        try:
            check_columns(arrow_schema, SCHEMA)
            _SCHEMAS_CHECKED[key] = None
        except TraceError as e:
            _SCHEMAS_CHECKED[key] = e
    error = _SCHEMAS_CHECKED.get(key)
    if error is not None:
        raise TraceError(str(error))
