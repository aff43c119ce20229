"""Recording API -> Parquet -> read_events and every SQL view, with real files."""

from __future__ import annotations

import msgspec
import pyarrow.parquet as pq
import pytest
import store_sample

from specviz.events import KINDS, SCHEMA_VERSION, DraftToken, RoundMetrics, RunFinished, RunStarted, Verify
from specviz.recording import NullRecording, open_run
from specviz.sql import connect, query
from specviz.store import LogTail, TraceError, inspect_file, list_runs, read_events


def test_every_kind_round_trips_through_parquet(tmp_path):
    rec, logged = store_sample.record(tmp_path)
    assert {e.__struct_config__.tag for e in logged} == set(KINDS)
    path = rec.path
    assert path.parent.name.startswith("date=") and path.name == f"run-{rec.run_id}.parquet"
    assert not list((tmp_path / "_live").glob("*")), "the log is removed once published"
    back = read_events(tmp_path, rec.run_id[:5])
    assert back == logged
    assert [e.seq for e in back] == list(range(len(logged)))
    assert all(e.run_id == rec.run_id and e.t_mono_ns > 0 and e.t_wall_ns > 0 for e in back)
    # the same file opened on its own, as a mailed file would be
    assert read_events(path) == logged


def test_file_metadata_is_self_contained(tmp_path):
    rec, _ = store_sample.record(tmp_path)
    kv = pq.read_metadata(rec.path).metadata
    assert kv[b"specviz.schema_version"].decode() == SCHEMA_VERSION
    config = msgspec.json.decode(kv[b"specviz.run_config"])
    assert config["prompt"] == "Say 'hi'\nplease" and config["k"] == 2 and config["versions"]["mlx"] == "0.29"
    tf = inspect_file(rec.path)
    assert tf.run_ids == [rec.run_id] and tf.runs[0].run_finished.status == "completed"
    assert pq.ParquetFile(rec.path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_views_show_every_kind(tmp_path):
    rec, logged = store_sample.record(tmp_path)
    con = connect(tmp_path)
    kinds = dict(con.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
    assert kinds == {"run_started": 1, "draft_token": 4, "verify": 5, "round_metrics": 2, "error": 1, "run_finished": 1}
    run = query(con, "SELECT * FROM runs")
    row = dict(zip(run.columns, run.rows[0]))
    assert row["run_id"] == rec.run_id and row["status"] == "completed" and row["n_events"] == len(logged)
    assert (row["k"], row["temperature"], row["drafter"], row["acceptance_rule"]) == (2, 0.7, "ngram:3", "rejection-sampling")
    assert row["acceptance_rate"] == pytest.approx(2 / 3) and row["speedup"] == 1.25 and row["tags"] == {"exp": "a"}
    drafts = con.execute("SELECT round, position, token_id, logprob, entropy, top FROM drafts ORDER BY seq").fetchall()
    assert drafts[0] == (0, 0, 10, -0.5, 1.25, [{"id": 10, "text": " the", "logprob": -0.25}, {"id": 11, "text": " a", "logprob": -1.5}])
    assert drafts[1][4] is None and drafts[1][5] == []
    ver = con.execute("SELECT status, exact, u FROM verifications ORDER BY seq").fetchall()
    assert ver == [("accepted", True, 0.5), ("accepted", False, 0.125), ("bonus", True, None), ("rejected", True, 0.9), ("resampled", True, None)]
    rounds = con.execute("SELECT round, produced, baseline_estimated, speedup FROM rounds ORDER BY round").fetchall()
    assert rounds == [(0, 3, False, 1.5), (1, 1, True, 1.25)]
    tokens = con.execute("SELECT token_index, token_text, status, round FROM tokens ORDER BY token_index").fetchall()
    assert [(t[1], t[2]) for t in tokens] == store_sample.OUTPUT and [t[0] for t in tokens] == [0, 1, 2, 3]
    assert con.execute("SELECT \"where\", message, retryable, round FROM errors").fetchall() == [("target", "timeout, retrying", True, 1)]


def test_empty_directory_has_typed_views(tmp_path):
    con = connect(tmp_path / "nothing-here")
    for view in ("runs", "events", "drafts", "verifications", "rounds", "tokens", "errors"):
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
    assert "acceptance_rate" in [c[0] for c in con.execute("SELECT * FROM runs").description]


def test_autoregressive_tokens_are_bonus(tmp_path):
    with open_run(tmp_path, store_sample.started(method="autoregressive", acceptance_rule="none", k=0)) as rec:
        for i, text in enumerate(["a", "b", "c"]):
            rec.log(Verify(round=i, position=0, status="bonus", token_id=i, token_text=text))
            rec.log(RoundMetrics(round=i, produced=1))
    rows = connect(tmp_path).sql("SELECT token_text, status FROM tokens ORDER BY token_index").fetchall()
    assert rows == [("a", "bonus"), ("b", "bonus"), ("c", "bonus")]
    summary = list_runs(tmp_path)[0]
    assert summary.status == "completed" and summary.finished.output_text == "abc" and summary.finished.produced == 3


def test_live_run_is_listed_and_readable(tmp_path):
    rec = open_run(tmp_path, store_sample.started(), flush="round")
    events = store_sample.body()
    for ev in events[:6]:  # up to and including round 0's metrics: flushed
        rec.log(ev)
    rec.log(events[6 + 1])  # a draft of round 1, still buffered (the error would flush)
    runs = list_runs(tmp_path)
    assert [(r.run_id, r.status, r.live) for r in runs] == [(rec.run_id, "recording", True)]
    live = read_events(tmp_path, rec.run_id[:6])
    assert [e.seq for e in live] == list(range(7)) and isinstance(live[0], RunStarted)
    tail = LogTail(runs[0].path)
    assert len(tail.poll()) == 7 and tail.poll() == []
    rec.flush()
    assert [e.seq for e in tail.poll()] == [7]
    rec.finish(store_sample.finished())
    assert tail.poll() == [] and tail.gone
    assert list_runs(tmp_path)[0].status == "completed"


@pytest.mark.parametrize("policy, flushed_after_3", [("event", 4), ("round", 1), (2, 3), ("close", 1)])
def test_flush_policies(tmp_path, policy, flushed_after_3):
    rec = open_run(tmp_path, store_sample.started(), flush=policy)
    for i in range(3):
        rec.log(DraftToken(round=0, position=i, token_id=i))
    assert len(read_events(tmp_path, rec.run_id)) == flushed_after_3
    rec.log(RoundMetrics(round=0))
    rec.flush()
    assert len(read_events(tmp_path, rec.run_id)) == 5
    rec.finish(RunFinished(status="completed"))


def test_bad_flush_policy(tmp_path):
    with pytest.raises(TraceError, match="flush policy"):
        open_run(tmp_path, store_sample.started(), flush="sometimes")


def test_keyboard_interrupt_finishes_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with open_run(tmp_path, store_sample.started()) as rec:
            for ev in store_sample.body()[:6]:
                rec.log(ev)
            raise KeyboardInterrupt
    (run,) = list_runs(tmp_path)
    assert run.status == "interrupted" and run.finished.finish_reason == "interrupted"
    assert run.finished.produced == 3 and run.finished.output_text == " the cat sat"


def test_exception_finishes_failed_with_error_event(tmp_path):
    with pytest.raises(ValueError):
        with open_run(tmp_path, store_sample.started()) as rec:
            raise ValueError("model exploded")
    events = read_events(tmp_path, rec.run_id)
    assert events[-2].__struct_config__.tag == "error" and events[-2].message == "ValueError: model exploded"
    assert events[-1].status == "failed"


def test_finish_twice_and_log_after_finish_fail_clearly(tmp_path):
    rec, _ = store_sample.record(tmp_path)
    with pytest.raises(TraceError, match="already finished"):
        rec.finish(store_sample.finished())
    with pytest.raises(TraceError, match="already finished"):
        rec.log(DraftToken(round=9, position=0, token_id=1))


def test_null_recording_has_the_same_api():
    with NullRecording(None, store_sample.started()) as rec:
        ev = rec.log(DraftToken(round=0, position=0, token_id=1))
        assert ev.seq == 1 and ev.run_id == rec.run_id
        assert rec.finish(RunFinished(status="completed")) is None


def test_unwritable_directory_is_a_trace_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TraceError, match="cannot record"):
        open_run(blocker / "traces", store_sample.started())


def test_dropped_recording_releases_its_lock(tmp_path):
    import gc

    from specviz.store import recover

    rec = open_run(tmp_path, store_sample.started())
    run_id = rec.run_id
    assert recover(tmp_path).live == [run_id]
    del rec
    gc.collect()
    assert [r[0] for r in recover(tmp_path).recovered] == [run_id]


def test_nested_leaves_are_encoded_like_their_top_level_peers(tmp_path):
    # Left to pyarrow's default, the top-k lists' leaves were PLAIN: ~15% more bytes per
    # event with top-k on (bench_store --top 5: 58.3 -> 49.8 bytes/event).
    rec, _ = store_sample.record(tmp_path)
    group = pq.ParquetFile(rec.path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: set(group.column(i).encodings) for i in range(group.num_columns)}
    assert "BYTE_STREAM_SPLIT" in encodings["top.list.element.logprob"]
    assert "DELTA_BINARY_PACKED" in encodings["top.list.element.id"]
    assert "RLE_DICTIONARY" in encodings["top.list.element.text"]
    assert "DELTA_BINARY_PACKED" in encodings["prompt_token_ids.list.element"]
    assert read_events(rec.path) == read_events(tmp_path, rec.run_id)
