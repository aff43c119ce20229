"""Trace files: a run's events become one self-contained zstd Parquet file, and back.

File-level key-value metadata makes a single file meaningful on its own:

    specviz.schema_version   "1.1"
    specviz.runs             JSON list, one {"run_started": {...}, "run_finished": {...}}
                             per run in the file (exports may hold several runs)
    specviz.run_config       JSON of the run_started event (single-run files)

Rows are the wide event table of ``columns.py``, grouped by event kind and in seq order
within a kind: a kind's columns are then contiguous and every other column is one long
null run that costs nothing. Order by (run_id, seq) for event order. One row group per
file keeps the footer (which every listing reads) small.

Events are recorded column by column (``columnar.py``: no per-event transpose at the
end), then pyarrow's writer with delta encoding for the integers and byte-stream-split
for floats (model outputs are float32 values; their zero low bytes then compress away).
Wall clocks: one anchor per run (``wall_offset_ns``); ``t_wall_ns`` is stored only where
it is not ``t_mono_ns + wall_offset_ns``, and readers fill it back. Files written before
this (per-event wall clocks, no anchor column) read the same.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from specviz.events import EVENT_TYPES, SCHEMA_MAJOR, SCHEMA_VERSION, RunFinished, RunStarted
from specviz.store.columnar import SCHEMA, RunColumns, events_to_table, with_wall_clock
from specviz.store.columns import FIELDS_BY_KIND, event_from_row
from specviz.store.layout import TraceError, check_run_id, publish, temp_name

KEY_VERSION = "specviz.schema_version"
KEY_RUNS = "specviz.runs"
KEY_CONFIG = "specviz.run_config"

_TYPES = {cls.__struct_config__.tag: cls for cls in EVENT_TYPES}
_JSON = msgspec.json.Encoder()
_RUNS = msgspec.json.Decoder(list[dict])

# Every integer column is delta-encoded: seq and the clocks only grow, and ids, rounds,
# positions and counts are small or slowly changing, so bit-packed deltas beat both plain
# and dictionary encoding (-1.2 bytes/event on the benchmark's run).
_DELTA = [f.name for f in SCHEMA if f.type == pa.int64()]
_FLOATS = [f.name for f in SCHEMA if pa.types.is_floating(f.type)]
WRITE_OPTIONS = dict(
    compression="zstd",
    compression_level=3,
    # Dictionaries pay off for repetitive strings (kind, status, token texts); for ids and
    # counts they cost time and bytes.
    use_dictionary=[f.name for f in SCHEMA if f.type == pa.string()],
    column_encoding={**{n: "DELTA_BINARY_PACKED" for n in _DELTA}, **{n: "BYTE_STREAM_SPLIT" for n in _FLOATS}},
    write_statistics=["kind", "run_id", "seq", "round"],
)


def run_entry(started: RunStarted, finished: RunFinished) -> dict:
    return {"run_started": msgspec.to_builtins(started), "run_finished": msgspec.to_builtins(finished)}


def kv_metadata(entries: list[dict]) -> dict[str, str]:
    kv = {KEY_VERSION: SCHEMA_VERSION, KEY_RUNS: _JSON.encode(entries).decode()}
    if len(entries) == 1:
        kv[KEY_CONFIG] = _JSON.encode(entries[0]["run_started"]).decode()
    return kv


def write_table(table: pa.Table, final: Path, kv: dict[str, str], *, exclusive: bool = False) -> Path:
    """Write one row group to a temp file beside ``final`` and publish it atomically.

    exclusive: refuse (FileExistsError) rather than replace an existing ``final``.
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TraceError(f"cannot write traces into {final.parent}: {e.strerror}") from None
    tmp = temp_name(final)
    try:
        # store_schema=False: pyarrow would otherwise add its serialized schema (with our
        # metadata inside it again), tripling the footer every listing has to read.
        with pq.ParquetWriter(tmp, table.schema.remove_metadata(), store_schema=False, **WRITE_OPTIONS) as writer:
            writer.write_table(table.replace_schema_metadata(None), row_group_size=max(table.num_rows, 1))
            writer.add_key_value_metadata(kv)
        if exclusive:
            os.link(tmp, final)  # link() never overwrites
        else:
            publish(tmp, final)
    except FileExistsError:
        raise
    except OSError as e:
        raise TraceError(f"could not write {final}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return final


@contextmanager
def _gc_paused():
    # Building the table allocates an object per string and list; with a run's worth
    # of them alive the cyclic collector would rescan them every few thousand
    # allocations.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def columns_to_parquet(columns: RunColumns, final: Path, started: RunStarted, finished: RunFinished) -> Path:
    """Write one run's recorded columns to ``final`` atomically (the recorder's path)."""
    check_run_id(started.run_id)
    with _gc_paused():
        table = columns.table(_wall_offset(started))
    return write_table(table, final, kv_metadata([run_entry(started, finished)]))


def _wall_offset(started: RunStarted) -> int | None:
    # The anchor of every event's wall clock: run_started carries both clocks.
    return started.t_wall_ns - started.t_mono_ns if started.t_wall_ns and started.t_mono_ns else None


def events_to_parquet(events: list, final: Path, started: RunStarted, finished: RunFinished) -> Path:
    """Write one run's events (seq order, run_started first) to ``final`` atomically."""
    run_id = check_run_id(started.run_id)
    with _gc_paused():
        table = events_to_table(events, run_id, _wall_offset(started))
    return write_table(table, final, kv_metadata([run_entry(started, finished)]))


def _one_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


@dataclass(frozen=True)
class TraceFile:
    """A validated trace file: what its footer says, before any row is read."""

    path: Path
    schema_version: str
    runs: list[dict]  # {"run_started": {...}, "run_finished": {...}} per run
    num_rows: int
    schema: str  # column names and types: files alike in this can be scanned as one

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
    try:
        signature = str(meta.schema.to_arrow_schema().remove_metadata())
    except Exception as e:
        raise TraceError(f"{path}: unreadable column schema ({_one_line(e)})") from None
    return TraceFile(path, version, runs, meta.num_rows, signature)


def read_parquet_events(path: Path, run_id: str | None = None) -> list:
    """Events of one run (or all runs) in a trace file, in (run_id, seq) order.

    Rows of kinds this version does not know (a newer minor's) are skipped.
    """
    try:
        table = pq.read_table(path, filters=[("run_id", "=", run_id)] if run_id else None)
    except Exception as e:  # pyarrow's errors for damaged pages vary by codec and encoding
        raise TraceError(f"{path}: cannot read rows (corrupt or truncated: {_one_line(e)})") from None
    table = with_wall_clock(table)
    events = []
    kinds = table.column("kind")
    try:
        for kind, cls in _TYPES.items():
            rows = table.filter(pc.equal(kinds, kind))
            if rows.num_rows:
                names = [n for n in FIELDS_BY_KIND[kind] if n in rows.column_names]
                # Column-wise to_pylist then zip: pyarrow's row-wise to_pylist builds a
                # dict per row through scalars and took most of a 20k-event read.
                columns = [rows.column(n).to_pylist() for n in names]
                events.extend(event_from_row(dict(zip(names, values)), cls) for values in zip(*columns))
    except (KeyError, TypeError, pa.ArrowException) as e:
        raise TraceError(f"{path}: rows that are not specviz events ({_one_line(e)})") from None
    events.sort(key=lambda e: (e.run_id, e.seq))
    return events
