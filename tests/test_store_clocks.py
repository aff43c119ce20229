"""One wall-clock anchor per run: files store t_mono_ns per event plus the run's offset,
and every reader (read_events, the events view) still shows both clocks, exactly. Files
written with per-event wall clocks (before the anchor) read the same."""

from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq
import store_sample

from specviz.events import DraftToken, RunFinished, RunStarted
from specviz.recording import open_run
from specviz.sql import connect
from specviz.store import read_events
from specviz.store.columnar import events_to_table
from specviz.store.columns import WALL_OFFSET
from specviz.store.layout import parquet_path
from specviz.store.parquet_file import kv_metadata, run_entry, write_table


def _view_clocks(traces) -> list[tuple]:
    return connect(traces).execute("SELECT seq, t_mono_ns, t_wall_ns FROM events ORDER BY seq").fetchall()


def test_recorded_run_stores_one_anchor_and_shows_both_clocks(tmp_path):
    rec, logged = store_sample.record(tmp_path)
    table = pq.read_table(rec.path)
    offsets = pc.unique(table.column(WALL_OFFSET)).to_pylist()
    assert offsets == [rec.started.t_wall_ns - rec.started.t_mono_ns]
    assert table.column("t_wall_ns").null_count == table.num_rows  # nothing per event on disk
    expected = [(e.seq, e.t_mono_ns, e.t_wall_ns) for e in logged]
    assert _view_clocks(tmp_path) == expected
    assert [(e.seq, e.t_mono_ns, e.t_wall_ns) for e in read_events(rec.path)] == expected
    assert WALL_OFFSET not in [d[0] for d in connect(tmp_path).execute("SELECT * FROM events LIMIT 0").description]


def test_a_wall_clock_the_caller_set_is_kept_exactly(tmp_path):
    with open_run(tmp_path, RunStarted(prompt="p")) as rec:
        ev = rec.log(DraftToken(round=0, position=0, token_id=1, t_mono_ns=5, t_wall_ns=1_700_000_000_000_000_000))
        rec.finish(RunFinished(status="completed"))
    back = read_events(rec.path)
    assert (back[1].t_mono_ns, back[1].t_wall_ns) == (5, ev.t_wall_ns)
    assert _view_clocks(tmp_path)[1] == (1, 5, 1_700_000_000_000_000_000)


def test_files_with_per_event_wall_clocks_still_read(tmp_path):
    # A file as written before the anchor: per-event t_wall_ns, no wall_offset_ns column.
    source = tmp_path / "source"
    rec, logged = store_sample.record(source)
    started, finished = logged[0], logged[-1]
    table = events_to_table(logged, rec.run_id, None)
    assert table.column("t_wall_ns").null_count == 0
    table = table.drop_columns([WALL_OFFSET])
    old = tmp_path / "old"
    write_table(table, parquet_path(old, rec.run_id, started.t_wall_ns), kv_metadata([run_entry(started, finished)]))
    expected = [(e.seq, e.t_mono_ns, e.t_wall_ns) for e in logged]
    assert [(e.seq, e.t_mono_ns, e.t_wall_ns) for e in read_events(old, rec.run_id)] == expected
    assert _view_clocks(old) == expected
    # and an old and a new file side by side in one directory
    rec2, logged2 = store_sample.record(old)
    rows = connect(old).execute("SELECT run_id, seq, t_wall_ns FROM events WHERE seq = 1 ORDER BY run_id").fetchall()
    assert sorted(rows) == sorted([(rec.run_id, 1, logged[1].t_wall_ns), (rec2.run_id, 1, logged2[1].t_wall_ns)])
