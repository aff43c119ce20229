"""The wide table every trace is stored as: one row per event, one column per event field.

The column set is derived from ``specviz.events`` at import time, so a field added there
(with a default, as the schema rules require) becomes a column here without edits. A
column holds values only for the kinds that have that field and NULL for the others;
Parquet stores those NULLs as a run of definition levels, which costs next to nothing.
A field two kinds share (``round``, ``top``, ``draft_ms``...) is one column, so its type
must agree between them; the build fails loudly if an edit to events.py breaks that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from specviz.events import EVENT_TYPES, Event, TopToken

# Filled by the recorder on every event, so every row has them.
BASE_COLUMNS = ("kind", "run_id", "seq", "t_mono_ns", "t_wall_ns")

TOP_TYPE = "STRUCT(id BIGINT, text VARCHAR, logprob DOUBLE)[]"

# Not an event field: the run's wall-clock anchor (time.time_ns() - time.monotonic_ns() at
# its start), written on every row so each file carries it; ``t_wall_ns`` is stored only
# where it differs from ``t_mono_ns + wall_offset_ns`` (see columnar.py). Last column, so
# the event columns keep their positions.
WALL_OFFSET = "wall_offset_ns"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # the DuckDB type; the Arrow type in parquet_file.py follows from it
    kinds: tuple[str, ...]  # event kinds that carry the field


def _scalar_type(t: mi.Type) -> str:
    if isinstance(t, mi.UnionType):
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {t}")
        return _scalar_type(inner[0])
    if isinstance(t, mi.BoolType):
        return "BOOLEAN"
    if isinstance(t, mi.IntType):
        return "BIGINT"
    if isinstance(t, mi.FloatType):
        return "DOUBLE"
    if isinstance(t, (mi.StrType, mi.LiteralType)):
        return "VARCHAR"
    if isinstance(t, mi.ListType):
        if isinstance(t.item_type, mi.StructType) and t.item_type.cls is TopToken:
            return TOP_TYPE
        return _scalar_type(t.item_type) + "[]"
    if isinstance(t, mi.DictType):
        return f"MAP({_scalar_type(t.key_type)}, {_scalar_type(t.value_type)})"
    raise TypeError(f"unsupported field type {t}")


def _build() -> dict[str, Column]:
    cols: dict[str, Column] = {}
    for name in BASE_COLUMNS:
        cols[name] = Column(name, "BIGINT" if name in ("seq", "t_mono_ns", "t_wall_ns") else "VARCHAR", ())
    for cls in EVENT_TYPES:
        kind = cls.__struct_config__.tag
        for f in mi.type_info(cls).fields:
            if f.name in BASE_COLUMNS:
                continue
            sql_type = _scalar_type(f.type)
            prev = cols.get(f.name)
            if prev is not None and prev.sql_type != sql_type:
                raise TypeError(f"field {f.name!r} has two types: {prev.sql_type} and {sql_type}")
            cols[f.name] = Column(f.name, sql_type, (prev.kinds if prev else ()) + (kind,))
    cols[WALL_OFFSET] = Column(WALL_OFFSET, "BIGINT", ())
    return cols


COLUMNS: dict[str, Column] = _build()
FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    cls.__struct_config__.tag: tuple(f.name for f in msgspec.structs.fields(cls)) for cls in EVENT_TYPES
}


def empty_relation_sql() -> str:
    """A zero-row SELECT with every column and its type: the views' shape with no traces."""
    return "SELECT " + ", ".join(f"NULL::{c.sql_type} AS \"{c.name}\"" for c in COLUMNS.values()) + " WHERE false"


_TOP_COLUMNS = frozenset(name for name, column in COLUMNS.items() if column.sql_type == TOP_TYPE)
_MAP_COLUMNS = frozenset(name for name, column in COLUMNS.items() if column.sql_type.startswith("MAP"))


# Fields whose default is None: a null there can be passed as it is (see events_from_columns).
_NONE_DEFAULT = {
    cls: frozenset(f.name for f in msgspec.structs.fields(cls) if f.default is None) for cls in EVENT_TYPES
}


def events_from_columns(columns: dict[str, Any], cls: type[Event]) -> list[Event]:
    """The events of one kind from its Arrow columns (name -> pyarrow array): a null takes
    the field's default, as if the row's non-null values were passed by keyword.

    A column that is null throughout is left out (every event takes the default); rows are
    filtered of their nulls one by one only when some column is partly null and its
    field's default is not None. TopToken lists come from the flattened child arrays (no
    dict per token); MAP columns, rare (run_started only), go through Python."""
    if not columns:
        return []
    n_rows = len(next(iter(columns.values())))
    names, values = [], []
    partly_null = False
    for name, column in columns.items():
        nulls = column.null_count
        if nulls == len(column):
            continue
        partly_null = partly_null or (nulls > 0 and name not in _NONE_DEFAULT[cls])
        names.append(name)
        if name in _TOP_COLUMNS:
            values.append(_top_lists(column))
        elif name in _MAP_COLUMNS:
            values.append([None if v is None else dict(v) for v in column.to_pylist()])
        else:
            values.append(column.to_pylist())
    if not names:
        return [cls() for _ in range(n_rows)]
    if partly_null:
        return [cls(**{n: v for n, v in zip(names, row) if v is not None}) for row in zip(*values)]
    return [cls(**dict(zip(names, row))) for row in zip(*values)]


def _top_lists(column) -> list:
    """A list<struct<id, text, logprob>> column as lists of TopToken, built from the
    flattened child arrays (no dict per token)."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(column).to_pylist()
    flat = pc.list_flatten(column)
    if hasattr(flat, "combine_chunks"):
        flat = flat.combine_chunks()
    tokens = list(map(TopToken, flat.field("id").to_pylist(), flat.field("text").to_pylist(), flat.field("logprob").to_pylist()))
    out, i = [], 0
    for n in lengths:
        if n is None:
            out.append(None)
        else:
            out.append(tokens[i:i + n])
            i += n
    return out
