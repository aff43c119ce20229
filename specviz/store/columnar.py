"""Column buffers: a run's events recorded column by column, and the Arrow table they become.

``RunColumns(run_id)``; ``.add(event)`` per event; ``.table(wall_offset_ns)`` at the end.

Each event kind has three buffers, each filled by one C-level ``attrgetter`` call per
event rather than a Python statement per field: its integer fields (one flat list,
event after event), its float fields (another) and everything else (strings, booleans,
lists, maps, and numbers that may be None: a list of tuples). At the end numpy converts
each numeric buffer in one C loop and views it as an (events × fields) matrix, so a
column is one strided copy, never a Python loop; only the "everything else" columns go
through pyarrow's per-value conversion (which is what turns None into null). Lists, not
``array.array``: ``array.extend`` from a tuple costs ~150 ns per value, ``list.extend`` a
pointer copy. The buffers are derived from
the event structs (``specviz.events``), so a field added there is recorded without edits
here.

Clocks: one wall-clock anchor per run. Every row carries ``wall_offset_ns`` (time.time_ns()
- time.monotonic_ns() at the run's start: one value repeated, which Parquet stores in a
few bytes), and ``t_wall_ns`` is null wherever it equals ``t_mono_ns + wall_offset_ns``,
which for recorded events is everywhere. Readers put it back (``with_wall_clock``).
"""

from __future__ import annotations

from itertools import accumulate, chain
from operator import attrgetter

import msgspec
import msgspec.inspect as mi
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from specviz.events import EVENT_TYPES, TopToken
from specviz.store.columns import COLUMNS, TOP_TYPE, WALL_OFFSET
from specviz.store.layout import TraceError


_SCALARS = {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}
TOP = pa.list_(pa.struct([("id", pa.int64()), ("text", pa.string()), ("logprob", pa.float64())]))


def arrow_type(sql_type: str) -> pa.DataType:
    if sql_type == TOP_TYPE:
        return TOP
    if sql_type.startswith("MAP("):
        k, v = sql_type[4:-1].split(", ")
        return pa.map_(_SCALARS[k], _SCALARS[v])
    if sql_type.endswith("[]"):
        return pa.list_(_SCALARS[sql_type[:-2]])
    return _SCALARS[sql_type]


SCHEMA = pa.schema([pa.field(c.name, arrow_type(c.sql_type)) for c in COLUMNS.values()])


def _plain(t: mi.Type) -> tuple[mi.Type, bool]:
    """The type without its None, and whether None was allowed."""
    if isinstance(t, mi.UnionType):
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        return inner[0], len(inner) < len(t.types)
    return t, False


def _code(t: mi.Type) -> str:
    """How the compiled recorder holds a field (see _recorder.c and binlog.py)."""
    t, optional = _plain(t)
    code = {mi.IntType: "i", mi.FloatType: "f", mi.BoolType: "b", mi.StrType: "s"}.get(type(t), "o")
    if isinstance(t, mi.LiteralType) and all(isinstance(v, str) for v in t.values):
        code = "s"
    return code.upper() if optional and code != "o" else code


class _KindLayout:
    """One event kind's recorded fields, and how each becomes an Arrow column."""

    def __init__(self, cls: type):
        self.cls = cls
        self.kind = cls.__struct_config__.tag
        self.fields: list[str] = []
        self.codes: list[str] = []
        self.numpy: dict[str, type] = {}  # fields converted by numpy (never None)
        for f in mi.type_info(cls).fields:
            if f.name == "run_id":
                continue  # the same for every row: written once per table
            self.fields.append(f.name)
            self.codes.append(_code(f.type))
            t, optional = _plain(f.type)
            if isinstance(t, mi.IntType) and not optional:
                self.numpy[f.name] = np.int64
            elif isinstance(t, mi.FloatType) and not optional:
                self.numpy[f.name] = np.float64
        names = self.fields
        self.get = attrgetter(*names) if len(names) > 1 else (lambda ev, one=attrgetter(names[0]): (one(ev),))


LAYOUTS: dict[type, _KindLayout] = {cls: _KindLayout(cls) for cls in EVENT_TYPES}
_BY_TAG = {layout.kind: layout for layout in LAYOUTS.values()}


class _KindBuffers:
    """One kind's values, event after event in one flat list.

    Adding an event is ``extend(get(event))``: one C-level attrgetter call and one
    ``list.extend``, no Python statement per field, and no object kept per event (a kept
    tuple per event would make the cyclic GC rescan them all as the run grows). Column i
    is ``values[i::k]``.
    """

    __slots__ = ("layout", "values", "pair")

    def __init__(self, layout: _KindLayout):
        self.layout = layout
        self.values: list = []
        self.pair = (layout.get, self.values.extend)

    @property
    def n(self) -> int:
        return len(self.values) // len(self.layout.fields)


def _top_array(values) -> pa.Array:
    # Flat child arrays plus offsets: no Python object per TopToken on the Arrow side.
    offsets = [0, *accumulate(map(len, values))]
    flat: list[TopToken] = list(chain.from_iterable(values))
    child = pa.StructArray.from_arrays(
        [
            pa.array([t.id for t in flat], pa.int64()),
            pa.array([t.text for t in flat], pa.string()),
            pa.array([t.logprob for t in flat], pa.float64()),
        ],
        fields=list(TOP.value_type),
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child)


def _column(values: list, name: str, dtype, kind: str) -> pa.Array:
    arrow = SCHEMA.field(name).type
    if dtype is not None:
        try:
            return pa.array(np.array(values, dtype=dtype))  # one C loop; zero-copy into Arrow
        except (TypeError, ValueError, OverflowError):
            pass  # not all numbers of that type: pyarrow's conversion says which
    try:
        return _object_column(values, arrow)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
        raise TraceError(f"{kind} events: field {name} holds a value that is not {arrow}: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _empty_lists(n: int, arrow: pa.DataType) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], arrow.value_type))


def _object_column(values: list, arrow: pa.DataType) -> pa.Array:
    if pa.types.is_list(arrow) and not any(values) and None not in values:
        return _empty_lists(len(values), arrow)  # no top-k recorded, the common case: no Python per value
    if arrow == TOP:
        return _top_array(values)
    if pa.types.is_map(arrow):
        return pa.array([list(d.items()) for d in values], arrow)
    return pa.array(values, arrow)


class RunColumns:
    """One run's events, held column by column until they are written."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._kinds = {cls: _KindBuffers(layout) for cls, layout in LAYOUTS.items()}
        # type(event) -> (get, extend): the recorder calls extend(get(event)) itself,
        # which saves a Python frame per event over calling add().
        self.adders = {cls: b.pair for cls, b in self._kinds.items()}

    def add(self, event) -> None:
        pair = self.adders.get(type(event))
        if pair is None:
            raise TraceError(f"not an event: {type(event).__name__}")
        get, extend = pair
        extend(get(event))

    def take(self) -> list[tuple[_KindLayout, int, list]]:
        """Each kind's buffered values (kinds with events only); the buffers start over."""
        parts = []
        for b in self._kinds.values():
            if b.n:
                parts.append((b.layout, b.n, b.values[:]))
                b.values.clear()
        return parts

    def table(self, wall_offset_ns: int | None) -> pa.Table:
        """Rows grouped by kind (each kind in the order logged), as the wide SCHEMA table."""
        return chunk_table(self.take(), python_arrays, self.run_id, wall_offset_ns)


def python_arrays(layout: _KindLayout, n: int, values: list) -> dict[str, pa.Array]:
    k = len(layout.fields)
    return {name: _column(values[i::k], name, layout.numpy.get(name), layout.kind) for i, name in enumerate(layout.fields)}


def _bitmap(valid: bytes | None) -> pa.Buffer | None:
    if valid is None:
        return None
    return pa.py_buffer(np.packbits(np.frombuffer(valid, np.bool_), bitorder="little"))


_NUMPY = {"i": np.int64, "f": np.float64, "b": np.bool_}


def compiled_arrays(layout: _KindLayout, n: int, buffers: list) -> dict[str, pa.Array]:
    """The Arrow columns of one kind from the compiled recorder's buffers (``take()``):
    numbers and strings are wrapped, not converted; lists and maps as python_arrays."""
    out = {}
    for name, code, buf in zip(layout.fields, layout.codes, buffers):
        if code == "o" and len(buf) == 5:  # a top-k list, as the compiled recorder's buffers
            out[name] = _top_from_buffers(n, buf)
        elif code == "o":
            values, nonempty = buf
            arrow = SCHEMA.field(name).type
            out[name] = _column(values, name, None, layout.kind) if nonempty or not pa.types.is_list(arrow) else _empty_lists(n, arrow)
        elif code in "sS":
            offsets, data, valid = buf
            out[name] = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), _bitmap(valid))
        else:
            data, valid = buf
            values = np.frombuffer(data, _NUMPY[code.lower()])
            mask = None if valid is None else ~np.frombuffer(valid, np.bool_)
            out[name] = pa.array(values, SCHEMA.field(name).type, mask=mask)
    return out


def _top_from_buffers(n: int, buffers: tuple) -> pa.Array:
    """A top-k column from its list offsets and its children's buffers (_recorder.c
    put_top): the Arrow layout as it is, no Python object per alternative."""
    offsets, ids, text_offsets, texts, logprobs = map(pa.py_buffer, buffers)
    m = len(ids) // 8
    if not m:
        return _empty_lists(n, TOP)
    child = pa.StructArray.from_arrays(
        [pa.Array.from_buffers(pa.int64(), m, [None, ids]), pa.StringArray.from_buffers(m, text_offsets, texts),
         pa.Array.from_buffers(pa.float64(), m, [None, logprobs])],
        fields=list(TOP.value_type),
    )
    return pa.ListArray.from_arrays(pa.Array.from_buffers(pa.int32(), n + 1, [None, offsets]), child)


def chunk_table(parts: list, arrays, run_id: str, wall_offset_ns: int | None) -> pa.Table:
    """The wide SCHEMA table of ``parts`` ((layout or tag, n, buffers) per kind, as taken
    from a recorder): ``arrays(layout, n, buffers)`` gives each kind's field columns."""
    parts = [(_BY_TAG[p[0]] if isinstance(p[0], str) else p[0], p[1], p[2]) for p in parts]
    longest = max((n for _, n, _ in parts), default=0)
    # One all-null array per type, sliced (zero-copy) for every absent column of every
    # kind: pa.nulls per column would allocate and zero ~60 buffers per kind.
    nulls = {t: pa.nulls(longest, t) for t in set(SCHEMA.types)}
    tables = [_kind_table(layout, n, arrays(layout, n, buffers), run_id, nulls, wall_offset_ns) for layout, n, buffers in parts]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


_REPEATED: dict[tuple, pa.Array] = {}


def _repeat(value, arrow: pa.DataType, n: int) -> pa.Array:
    """``value`` n times: a slice of an array kept from earlier chunks (a chunk's kind,
    run id and clock anchor are the previous chunk's), not a new one per chunk."""
    key = (value, arrow)
    kept = _REPEATED.get(key)
    if kept is None or len(kept) < n:
        if len(_REPEATED) > 32:
            _REPEATED.clear()  # a long-lived process records run after run: keep a few
        kept = _REPEATED[key] = pa.repeat(pa.scalar(value, arrow), n)
    return kept.slice(0, n)


def _kind_table(layout: _KindLayout, n: int, columns: dict, run_id: str, nulls: dict, wall_offset_ns: int | None) -> pa.Table:
    columns["kind"] = _repeat(layout.kind, pa.string(), n)
    columns["run_id"] = _repeat(run_id, pa.string(), n)
    if wall_offset_ns is not None:
        columns[WALL_OFFSET] = _repeat(wall_offset_ns, pa.int64(), n)
        derived = pc.add(columns["t_mono_ns"], wall_offset_ns)
        wall = columns["t_wall_ns"]
        columns["t_wall_ns"] = pc.if_else(pc.equal(wall, derived), pa.scalar(None, pa.int64()), wall)
    arrays = [columns[f.name] if f.name in columns else nulls[f.type].slice(0, n) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def with_wall_clock(table: pa.Table) -> pa.Table:
    """``t_wall_ns`` filled back from the run's anchor where the writer left it null."""
    if WALL_OFFSET not in table.column_names or "t_wall_ns" not in table.column_names:
        return table
    derived = pc.add(table.column("t_mono_ns"), table.column(WALL_OFFSET))
    filled = pc.coalesce(table.column("t_wall_ns"), derived)
    return table.set_column(table.column_names.index("t_wall_ns"), "t_wall_ns", filled)


def events_to_table(events, run_id: str, wall_offset_ns: int | None) -> pa.Table:
    """The same table from a list of events (recovery, tests)."""
    columns = RunColumns(run_id)
    for ev in events:
        columns.add(ev)
    return columns.table(wall_offset_ns)


__all__ = ["RunColumns", "SCHEMA", "TOP", "arrow_type", "chunk_table", "compiled_arrays", "python_arrays", "events_to_table", "with_wall_clock", "LAYOUTS"]
