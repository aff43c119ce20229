"""Trace files: a run's log becomes one self-contained zstd Parquet file, and back.

File-level key-value metadata makes a single file meaningful on its own:

    specviz.schema_version   "1.0"
    specviz.runs             JSON list, one {"run_started": {...}, "run_finished": {...}}
                             per run in the file (exports may hold several runs)
    specviz.run_config       JSON of the run_started event (single-run files)

Rows are the wide event table of ``columns.py`` in (run_id, seq) order. The conversion
runs inside DuckDB (multi-threaded NDJSON reader, no per-row Python).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import msgspec
import pyarrow.parquet as pq

from specviz.events import EVENT_TYPES, SCHEMA_MAJOR, SCHEMA_VERSION, RunFinished, RunStarted
from specviz.store.columns import COLUMNS, Column, event_from_row, sql_literal
from specviz.store.layout import TraceError, check_run_id, publish, temp_name

KEY_VERSION = "specviz.schema_version"
KEY_RUNS = "specviz.runs"
KEY_CONFIG = "specviz.run_config"

_TYPES = {cls.__struct_config__.tag: cls for cls in EVENT_TYPES}
_JSON = msgspec.json.Encoder()
_RUNS = msgspec.json.Decoder(list[dict])

# Delta encodings for the monotone integers and byte-stream-split for floats make the
# typical event a few bytes; DuckDB picks them with Parquet format v2.
COPY_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3, PARQUET_VERSION v2, ROW_GROUP_SIZE 1000000"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _select_expr(col: Column, run_id: str) -> str:
    if col.name == "run_id":
        return f"{_quote(run_id)} AS run_id"
    name = f'"{col.name}"'
    expr = name
    if col.json_type == "JSON":
        # TopToken is array_like in the log: [id, text, logprob].
        expr = (
            f"list_transform(from_json({name}, '[\"JSON\"]'), "
            "lambda x: {'id': (x->>0)::BIGINT, 'text': x->>1, 'logprob': (x->>2)::DOUBLE})"
        )
    if col.defaults:
        # Fields at their default are omitted from the log (omit_defaults); Parquet
        # stores the value itself so SQL never has to know the defaults.
        whens = " ".join(
            f"WHEN {_quote(kind)} THEN coalesce({expr}, {sql_literal(value)}::{col.sql_type})"
            for kind, value in col.defaults.items()
        )
        expr = f"CASE kind {whens} ELSE {expr} END"
    return f"{expr} AS {name}"


def _log_columns_sql() -> str:
    return "{" + ", ".join(f"{_quote(c.name)}: {_quote(c.json_type)}" for c in COLUMNS.values() if c.name != "run_id") + "}"


def _kv_sql(entries: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in entries.items()) + "}"


def run_entry(started: RunStarted, finished: RunFinished) -> dict:
    return {"run_started": msgspec.to_builtins(started), "run_finished": msgspec.to_builtins(finished)}


def kv_metadata(entries: list[dict]) -> dict[str, str]:
    kv = {KEY_VERSION: SCHEMA_VERSION, KEY_RUNS: _JSON.encode(entries).decode()}
    if len(entries) == 1:
        kv[KEY_CONFIG] = _JSON.encode(entries[0]["run_started"]).decode()
    return kv


def log_to_parquet(log: Path, final: Path, run_id: str, started: RunStarted, finished: RunFinished) -> Path:
    """Convert a complete log (ending in run_finished) to ``final``, published atomically."""
    check_run_id(run_id)
    exprs = ", ".join(_select_expr(c, run_id) for c in COLUMNS.values())
    kv = kv_metadata([run_entry(started, finished)])
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TraceError(f"cannot write traces into {final.parent}: {e.strerror}") from None
    tmp = temp_name(final)
    sql = (
        f"COPY (SELECT {exprs} FROM read_ndjson({_quote(str(log))}, columns={_log_columns_sql()}, "
        f"format='newline_delimited', maximum_object_size=1073741824)) "
        f"TO {_quote(str(tmp))} ({COPY_OPTIONS}, KV_METADATA {_kv_sql(kv)})"
    )
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        con.execute(sql)
        publish(tmp, final)
    except (duckdb.Error, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise TraceError(f"could not write {final}: {_one_line(e)}") from None
    finally:
        con.close()
    return final


def _one_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


@dataclass(frozen=True)
class TraceFile:
    """A validated trace file: what its footer says, before any row is read."""

    path: Path
    schema_version: str
    runs: list[dict]  # {"run_started": {...}, "run_finished": {...}} per run
    num_rows: int

    @property
    def run_ids(self) -> list[str]:
        return [r["run_started"].get("run_id", "") for r in self.runs]


def inspect_file(path: str | os.PathLike) -> TraceFile:
    """Open a Parquet trace's footer and check it is one of ours and readable by this version.

    Raises TraceError naming the file for anything else: not Parquet, truncated, another
    program's Parquet, or a newer schema major.
    """
    path = Path(path)
    try:
        meta = pq.read_metadata(path)
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a trace file") from None
    except PermissionError:
        raise TraceError(f"{path}: permission denied") from None
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError variants for bad bytes
        raise TraceError(f"{path}: not a readable Parquet file (corrupt or truncated: {_one_line(e)})") from None
    kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()}
    version = kv.get(KEY_VERSION)
    if version is None:
        raise TraceError(f"{path}: Parquet file without specviz metadata (not a specviz trace)")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise TraceError(f"{path}: unreadable schema version {version!r}") from None
    if major > SCHEMA_MAJOR:
        raise TraceError(
            f"{path}: written with trace schema {version}, this specviz reads {SCHEMA_MAJOR}.x; upgrade specviz"
        )
    try:
        runs = _RUNS.decode(kv.get(KEY_RUNS, "[]"))
    except msgspec.DecodeError:
        raise TraceError(f"{path}: damaged specviz metadata") from None
    names = set(meta.schema.names)
    missing = [c for c in ("kind", "run_id", "seq") if c not in names]
    if missing or not runs:
        raise TraceError(f"{path}: specviz metadata without runs or columns {missing}")
    return TraceFile(path, version, runs, meta.num_rows)


def read_parquet_events(path: Path, run_id: str | None = None) -> list:
    """Events of one run (or all runs) in a trace file, in seq order."""
    try:
        table = pq.read_table(path, filters=[("run_id", "=", run_id)] if run_id else None)
    except Exception as e:
        raise TraceError(f"{path}: cannot read rows (corrupt or truncated: {_one_line(e)})") from None
    names = [n for n in table.column_names if n in COLUMNS]
    rows = table.select(names).to_pylist()
    try:
        events = [event_from_row(r, _TYPES) for r in rows]
    except (KeyError, TypeError) as e:
        raise TraceError(f"{path}: rows that are not specviz events ({_one_line(e)})") from None
    events.sort(key=lambda e: (e.run_id, e.seq))
    return events
