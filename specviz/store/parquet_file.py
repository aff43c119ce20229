"""Trace files: a run's events become one self-contained zstd Parquet file, and back.

File-level key-value metadata makes a single file meaningful on its own:

    specviz.schema_version   "1.1"
    specviz.runs             JSON list, one {"run_started": {...}, "run_finished": {...}}
                             per run in the file (exports may hold several runs)
    specviz.run_config       JSON of the run_started event (single-run files)

Rows are the wide event table of ``columns.py``, grouped by event kind and in seq order
within a kind (per row group): a kind's columns are then contiguous and every other
column is one long null run that costs nothing. Order by (run_id, seq) for event order.
One row group per 131,072 recorded events (one for most runs) keeps the footer (which
every listing reads) small.

Events are recorded column by column (``columnar.py``: no per-event transpose at the
end) and encoded in chunks while the run goes on (``chunked.py``), by pyarrow's writer
with delta encoding for the integers and byte-stream-split
for floats (model outputs are float32 values; their zero low bytes then compress away).
Wall clocks: one anchor per run (``wall_offset_ns``); ``t_wall_ns`` is stored only where
it is not ``t_mono_ns + wall_offset_ns``, and readers fill it back. Files written before
this (per-event wall clocks, no anchor column) read the same.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from specviz.events import EVENT_TYPES, SCHEMA_VERSION, RunFinished, RunStarted
from specviz.store.columnar import SCHEMA, events_to_table, with_wall_clock
from specviz.store.columns import FIELDS_BY_KIND, events_from_columns
from specviz.store.footer import KEY_CONFIG, KEY_RUNS, KEY_VERSION, TraceFile, inspect_file
from specviz.store.layout import TraceError, check_run_id, one_line, open_regular, publish, temp_name

_TYPES = {cls.__struct_config__.tag: cls for cls in EVENT_TYPES}
_JSON = msgspec.json.Encoder()

def _leaves(name: str, typ: pa.DataType):
    """(Parquet column path, Arrow type) of every leaf under one field: nested columns (the
    top-k lists' id / text / logprob, token id lists, maps) are encoded leaf by leaf."""
    if pa.types.is_map(typ):
        yield from _leaves(f"{name}.key_value.key", typ.key_type)
        yield from _leaves(f"{name}.key_value.value", typ.item_type)
    elif pa.types.is_list(typ):
        yield from _leaves(f"{name}.list.element", typ.value_type)
    elif pa.types.is_struct(typ):
        for child in typ:
            yield from _leaves(f"{name}.{child.name}", child.type)
    else:
        yield name, typ


_LEAVES = [leaf for f in SCHEMA for leaf in _leaves(f.name, f.type)]
# Every integer column is delta-encoded: seq and the clocks only grow, and ids, rounds,
# positions and counts are small or slowly changing, so bit-packed deltas beat both plain
# and dictionary encoding (-1.2 bytes/event on the benchmark's run). Leaves inside lists
# get their top-level peers' encodings: left to pyarrow's default (PLAIN), the top-k
# lists cost 58.3 instead of 49.7 bytes/event on the benchmark with --top 5.
_DELTA = [path for path, typ in _LEAVES if typ == pa.int64()]
_FLOATS = [path for path, typ in _LEAVES if pa.types.is_floating(typ)]
WRITE_OPTIONS = dict(
    compression="zstd",
    compression_level=3,
    # Dictionaries pay off for repetitive strings (kind, status, token texts); for ids and
    # counts they cost time and bytes.
    use_dictionary=[path for path, typ in _LEAVES if typ == pa.string()],
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
def gc_paused():
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


def wall_offset_of(started: RunStarted) -> int | None:
    # The anchor of every event's wall clock: run_started carries both clocks.
    return started.t_wall_ns - started.t_mono_ns if started.t_wall_ns and started.t_mono_ns else None


def events_to_parquet(events: list, final: Path, started: RunStarted, finished: RunFinished) -> Path:
    """Write one run's events (seq order, run_started first) to ``final`` atomically."""
    run_id = check_run_id(started.run_id)
    with gc_paused():
        table = events_to_table(events, run_id, wall_offset_of(started))
    return write_table(table, final, kv_metadata([run_entry(started, finished)]))


def read_rows(path: Path, run_ids: list[str] | None = None, *, root: Path | None = None) -> pa.Table:
    """Rows of the given runs (all runs: None), every page read, so damage shows up here."""
    with open_regular(path, root) as f:
        try:
            if not run_ids:
                return pq.ParquetFile(f).read()  # no dataset to set up: ~3 ms less a file
            return pq.read_table(f, filters=[("run_id", "in", run_ids)])
        except Exception as e:  # pyarrow's errors for damaged pages vary by codec and encoding
            raise TraceError(f"{path}: cannot read rows (corrupt or truncated: {one_line(e)})") from None


def read_parquet_events(path: Path, run_id: str | None = None) -> list:
    """Events of one run (or all runs) in a trace file, in (run_id, seq) order.

    Rows of kinds this version does not know (a newer minor's) are skipped.
    """
    table = with_wall_clock(read_rows(path, [run_id] if run_id else None))
    events = []
    try:
        kinds = table.column("kind")
        for kind, cls in _TYPES.items():
            rows = table.filter(pc.equal(kinds, kind))
            if rows.num_rows:
                # By columns, into msgspec's C constructor: a dict and a Python call per
                # row were most of a 20k-event read (0.45 -> ~0.2 s of CPU).
                columns = {n: rows.column(n) for n in FIELDS_BY_KIND[kind] if n in rows.column_names}
                events.extend(events_from_columns(columns, cls))
        events.sort(key=lambda e: (e.run_id, e.seq))
    except Exception as e:  # any damage in any row: one line naming the file
        raise TraceError(f"{path}: rows that are not specviz events ({one_line(e)})") from None
    return events
