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

The conversion is columnar: ``msgspec.structs.astuple`` + a transpose per kind, then Arrow
arrays and pyarrow's writer, with delta encoding for the integers and
byte-stream-split for floats (model outputs are float32 values; their zero low bytes
then compress away).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from itertools import accumulate, chain
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from specviz.events import EVENT_TYPES, SCHEMA_MAJOR, SCHEMA_VERSION, RunFinished, RunStarted
from specviz.store.columns import COLUMNS, FIELDS_BY_KIND, TOP_TYPE, event_from_row
from specviz.store.layout import TraceError, check_run_id, publish, temp_name

KEY_VERSION = "specviz.schema_version"
KEY_RUNS = "specviz.runs"
KEY_CONFIG = "specviz.run_config"

_TYPES = {cls.__struct_config__.tag: cls for cls in EVENT_TYPES}
_JSON = msgspec.json.Encoder()
_RUNS = msgspec.json.Decoder(list[dict])
_astuple = msgspec.structs.astuple

_SCALARS = {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}
_TOP = pa.list_(pa.struct([("id", pa.int64()), ("text", pa.string()), ("logprob", pa.float64())]))


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type == TOP_TYPE:
        return _TOP
    if sql_type.startswith("MAP("):
        k, v = sql_type[4:-1].split(", ")
        return pa.map_(_SCALARS[k], _SCALARS[v])
    if sql_type.endswith("[]"):
        return pa.list_(_SCALARS[sql_type[:-2]])
    return _SCALARS[sql_type]


SCHEMA = pa.schema([pa.field(c.name, _arrow_type(c.sql_type)) for c in COLUMNS.values()])
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


def _top_array(values: tuple) -> pa.Array:
    # Flat child arrays plus offsets: no Python object per TopToken on the Arrow side.
    offsets = [0, *accumulate(map(len, values))]
    flat = list(chain.from_iterable(values))
    child = pa.StructArray.from_arrays(
        [
            pa.array([t.id for t in flat], pa.int64()),
            pa.array([t.text for t in flat], pa.string()),
            pa.array([t.logprob for t in flat], pa.float64()),
        ],
        fields=list(_TOP.value_type),
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child)


def _kind_table(cls: type, events: list, run_id: str, nulls: dict[pa.DataType, pa.Array]) -> pa.Table:
    """One kind's rows of the wide table; ``nulls`` holds an all-null array per type, at
    least as long as ``events``, that the other kinds' columns are sliced from."""
    n = len(events)
    names = [f.name for f in msgspec.structs.fields(cls)]
    columns = dict(zip(names, zip(*map(_astuple, events))))
    arrays = []
    for field in SCHEMA:
        values = columns.get(field.name)
        if field.name == "kind":
            arrays.append(pa.repeat(pa.scalar(cls.__struct_config__.tag), n))
        elif field.name == "run_id":
            arrays.append(pa.repeat(pa.scalar(run_id), n))
        elif values is None:
            arrays.append(nulls[field.type].slice(0, n))
        elif field.type == _TOP:
            arrays.append(_top_array(values))
        elif pa.types.is_map(field.type):
            arrays.append(pa.array([list(d.items()) for d in values], field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


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
    # The transpose allocates a tuple per event; with a million live events the cyclic
    # collector would rescan them all on every few thousand allocations (5x slower).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def events_to_parquet(events: list, final: Path, started: RunStarted, finished: RunFinished) -> Path:
    """Write one run's events (seq order, run_started first) to ``final`` atomically."""
    run_id = check_run_id(started.run_id)
    with _gc_paused():
        buckets: dict[type, list] = {cls: [] for cls in EVENT_TYPES}
        for ev in events:
            buckets[type(ev)].append(ev)
        # pa.nulls allocates (and zeroes) a full data buffer: ~60 absent columns per kind
        # cost ~0.5 GB and 2 s of page faults at a million events. One array per type,
        # sliced (zero-copy) for every absent column of every kind, costs a few MB.
        longest = max(map(len, buckets.values()))
        nulls = {t: pa.nulls(longest, t) for t in set(SCHEMA.types)}
        table = pa.concat_tables([_kind_table(cls, evs, run_id, nulls) for cls, evs in buckets.items() if evs])
        del buckets
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
