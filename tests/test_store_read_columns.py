"""Reading a kind's events by columns (columns.events_from_columns, the read path of every
trace) gives exactly what building each event from its row's non-null values gives, on
an engine-shaped run and on columns with nulls punched in at random: a null takes the
field's default either way, top-k lists with null entries included."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
from synthetic_runs import synthetic_events

from specviz.events import TopToken
from specviz.store.columnar import events_to_table
from specviz.store.columns import _MAP_COLUMNS, _TOP_COLUMNS, FIELDS_BY_KIND, events_from_columns
from specviz.store.parquet_file import _TYPES


def event_from_row(row: dict, cls):
    """The reference: one row as a dict, a null leaving the field at its default (the
    reader's row-by-row code before it read by columns)."""
    kwargs = {name: value for name, value in row.items() if value is not None}
    for name in _TOP_COLUMNS.intersection(kwargs):
        kwargs[name] = [TopToken(t["id"], t["text"], t["logprob"]) for t in kwargs[name]]
    for name in _MAP_COLUMNS.intersection(kwargs):
        kwargs[name] = dict(kwargs[name])  # pyarrow hands MAP columns back as (key, value) pairs
    return cls(**kwargs)


def _by_rows(columns: dict[str, pa.Array], cls) -> list:
    names = list(columns)
    values = [columns[n].to_pylist() for n in names]
    return [event_from_row(dict(zip(names, row)), cls) for row in zip(*values)]


def _outcome(fn, *args):
    """The events, or the type of the error (a required field left null fails both ways,
    and the reader turns that into one TraceError line)."""
    try:
        return fn(*args)
    except Exception as e:
        return type(e)


def _kinds(table: pa.Table):
    for kind, cls in _TYPES.items():
        rows = table.filter(pc.equal(table.column("kind"), kind))
        if rows.num_rows:
            yield cls, {n: rows.column(n) for n in FIELDS_BY_KIND[kind] if n in rows.column_names}


def _punched(column: pa.ChunkedArray, rng: random.Random, share: float) -> pa.Array:
    mask = pa.array([rng.random() < share for _ in range(len(column))])
    return pc.if_else(mask, pa.scalar(None, column.type), column)


def test_columns_and_rows_give_the_same_events():
    table = events_to_table(synthetic_events(rounds=60, k=5, seed=3, errors_every=7), "synthetic", 123)
    seen = set()
    for cls, columns in _kinds(table):
        assert events_from_columns(columns, cls) == _by_rows(columns, cls)
        seen.add(cls.__name__)
    assert {"RunStarted", "DraftToken", "Verify", "RoundMetrics", "RunFinished", "Error"} <= seen


def test_nulls_anywhere_take_the_defaults_as_row_by_row():
    table = events_to_table(synthetic_events(rounds=40, k=4, seed=5, errors_every=5), "synthetic", 0)
    rng = random.Random(11)
    outcomes = set()
    for trial in range(30):
        share = (0.0, 0.1, 0.5, 1.0)[trial % 4]
        for cls, columns in _kinds(table):
            punched = {n: _punched(c, rng, share) if n not in ("seq",) else c for n, c in columns.items()}
            got, want = _outcome(events_from_columns, punched, cls), _outcome(_by_rows, punched, cls)
            assert got == want, (cls.__name__, share)
            outcomes.add(type(got) if isinstance(got, list) else got)
    assert outcomes == {list, TypeError}  # both paths exercised: events built, and refused
