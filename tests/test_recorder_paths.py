"""The compiled recording path (specviz/store/_recorder.c) against the pure-Python one:
the same events give the same Parquet tables, the same logged and recovered events; its
binary live log is read incrementally and survives hundreds of kinds of damage."""

from __future__ import annotations

import copy
import os
import random
import struct
import time

import hostile
import pyarrow.parquet as pq
import pytest
import store_sample

from specviz.events import DraftToken, Error, Event, RoundMetrics, RunFinished, RunStarted, TopToken, Verify
from specviz.recording import open_run
from specviz.store import LogTail, TraceError, read_events, recover
from specviz import recording
from specviz.store import columnar, hotpath
from specviz.store.livelog import decode_log, read_log

ODD = ["", "é\u00e9\u4e2d\U0001f600", "a\x00b", "\n\t\"\\", " " * 300, "\u2028", "x" * 70_000]


def test_the_extension_is_built():
    # A build that silently fell back to Python must not pass as the fast path.
    assert hotpath.COMPILED, "specviz/store/_recorder.c was not compiled (see hatch_build.py; needs gcc and Python.h)"
    assert hotpath.recording_path() == "compiled"


def _odd_events(n_rounds: int = 40, seed: int = 3) -> list:
    """Every kind, None and set optionals, top-k lists, odd strings; clocks given (the
    recorder's own differ from run to run), wall clocks on and off the run's anchor."""
    rng = random.Random(seed)
    events = list(store_sample.body())
    for r in range(n_rounds):
        s = ODD[r % len(ODD)]
        top = [TopToken(rng.randrange(99), rng.choice(ODD[:4]), -rng.random()) for _ in range(r % 3)]
        events.append(DraftToken(round=r, position=0, token_id=r, token_text=s, logprob=None if r % 2 else -0.5, top=top,
                                 ngram_n=r % 4 or None, source_pos=r, draft_source=s[:5]))
        events.append(Verify(round=r, position=0, status=("accepted", "rejected", "resampled", "bonus")[r % 4], token_id=r,
                             draft_token_id=None if r % 3 else r, u=rng.random(), exact=bool(r % 2), top_raw=top, target_p=r * 0.5,
                             inexact_reason=s[:3]))
        if r % 7 == 0:
            events.append(Error(where="target", message=s, round=None if r % 2 else r))
        events.append(RoundMetrics(round=r, drafted=1, k=None if r % 2 else 4, speedup=None, baseline_estimated=r % 2 == 0))
    for i, ev in enumerate(events):
        ev.t_mono_ns = 10**9 + i
        ev.t_wall_ns = ev.t_mono_ns + 10**18 + (i % 3 == 0) * 77  # started's anchor is 10**18
    return events


def _record(tmp_path, path: str, events: list, monkeypatch, finish: bool = True):
    monkeypatch.setenv("SPECVIZ_RECORDER", path)
    started = store_sample.started(tags={"odd": ODD[1]}, versions={})
    started.t_mono_ns, started.t_wall_ns = 5, 10**18 + 5
    rec = open_run(tmp_path / path, started)
    assert type(rec._recorder).__name__ == ("Recorder" if path == "compiled" else "PyRecorder")
    for ev in copy.deepcopy(events):
        rec.log(ev)
    rec.flush()
    logged, torn = read_log(rec._writer.path)
    assert not torn
    rec.log_bytes = rec._writer.path.read_bytes()
    if finish:
        return rec, logged, rec.finish(RunFinished(status="completed", produced=7, t_mono_ns=9, t_wall_ns=10**18 + 9))
    return rec, logged, None


def _plain(events: list) -> list:
    # Every field (to_builtins would omit a default only when it is the same object).
    return [(type(e).__name__, [getattr(e, f) for f in e.__struct_fields__ if f != "run_id"]) for e in events]


def _table(path):
    return pq.read_table(path).drop_columns(["run_id"])


@pytest.mark.parametrize("n_rounds", [40, 400], ids=["one-row-group", "several-row-groups"])
def test_both_paths_give_the_same_table_and_log(tmp_path, monkeypatch, n_rounds):
    monkeypatch.setattr(recording, "CHUNK", 500)  # chunks of 65536 events, scaled down
    events = _odd_events(n_rounds)
    rec_py, logged_py, file_py = _record(tmp_path, "python", events, monkeypatch)
    rec_c, logged_c, file_c = _record(tmp_path, "compiled", events, monkeypatch)
    assert _plain(logged_c) == _plain(logged_py)
    assert _table(file_c).equals(_table(file_py))
    assert rec_c.log_bytes == rec_py.log_bytes, "the same binary log, byte for byte"
    groups = pq.ParquetFile(file_c).metadata.num_row_groups
    assert groups == (len(events) + 2) // 500 + 1, "a row group per chunk; one for a short run"
    assert _plain(read_events(file_c)) == _plain(read_events(file_py))


def test_both_paths_recover_the_same_run(tmp_path, monkeypatch):
    events = _odd_events(60)
    runs = {}
    for path in ("python", "compiled"):
        rec, _, _ = _record(tmp_path, path, events, monkeypatch, finish=False)
        rec._writer.close()  # the writer is gone, as after kill -9: its log is left for recover
        report = recover(tmp_path / path)
        assert [r[0] for r in report.recovered] == [rec.run_id] and not report.problems
        runs[path] = report.recovered[0][1]
    assert _table(runs["compiled"]).equals(_table(runs["python"]))


def test_bad_values_are_one_line_and_leave_the_run_consistent(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIZ_RECORDER", "compiled")
    rec = open_run(tmp_path, store_sample.started())
    with pytest.raises(TraceError, match="draft_token events: field token_id holds a value that is not int64"):
        rec.log(DraftToken(round=0, position=0, token_id="seven"))
    with pytest.raises(TraceError, match="draft_token events: field token_id holds a value that is not int64"):
        rec.log(DraftToken(round=0, position=0, token_id=2**63))
    with pytest.raises(TraceError, match="draft_token events: field token_text holds a value that is not string"):
        rec.log(DraftToken(round=0, position=0, token_id=1, token_text=5))
    with pytest.raises(TraceError, match="not an event: str"):
        rec.log("hello")
    rec.log(DraftToken(round=0, position=0, token_id=1))
    path = rec.finish(RunFinished(status="completed", produced=1))
    assert [e.seq for e in read_events(path)] == [0, 1, 2]


def test_log_tail_reads_the_binary_log_in_any_pieces(tmp_path):
    good = hostile.binary_log()
    expected = _plain(decode_log(good, "x")[0])
    assert len(expected) == 13
    rng = random.Random(5)
    log = tmp_path / "_live" / "run-00000000000000aa.jsonl"
    log.parent.mkdir()
    for _ in range(20):
        log.write_bytes(b"")
        tail, seen, pos = LogTail(log), [], 0
        while pos < len(good):
            step = rng.randrange(1, 60)
            with open(log, "ab") as f:
                f.write(good[pos:pos + step])
            pos += step
            seen += tail.poll()
        assert _plain(seen) == expected


def _variants(good: bytes, rng: random.Random) -> list[bytes]:
    out = [good[:cut] for cut in range(0, len(good), 7)]
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        out.append(bytes(data))
    for _ in range(60):
        pos = rng.randrange(len(good))
        out.append(good[:pos] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) + good[pos:])
    return out


def test_hundreds_of_damaged_binary_logs_decode_to_a_prefix_or_a_problem(tmp_path):
    good = hostile.binary_log()
    events = _plain(decode_log(good, "x")[0])
    rng = random.Random(11)
    variants = _variants(good, rng)
    assert len(variants) >= 400
    for i, data in enumerate(variants):
        kept, _ = decode_log(data, "x")
        assert len(kept) <= len(events)
        tail = tmp_path / "_live" / f"run-{i:016x}.jsonl"
        tail.parent.mkdir(exist_ok=True)
        tail.write_bytes(data)
        LogTail(tail).poll()  # never raises on damage: what decodes is returned
    report = recover(tmp_path)
    assert len(report.recovered) + len(report.problems) + _empty(variants) == len(variants)
    for run_id, path, n, _ in report.recovered:
        back = read_events(path)
        assert [e.seq for e in back] == list(range(n))


def _empty(variants: list[bytes]) -> int:
    return sum(1 for v in variants if not v.strip())


def test_flush_policies_hold_in_the_compiled_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIZ_RECORDER", "compiled")
    for policy, visible in (("event", 3), ("round", 2), (2, 3), ("close", 1)):
        rec = open_run(tmp_path, store_sample.started(), flush=policy)
        rec.log(RoundMetrics(round=0))
        rec.log(DraftToken(round=1, position=0, token_id=1))
        assert len(read_log(rec._writer.path)[0]) == visible, policy
        rec.finish(RunFinished(status="completed", produced=1))
    with pytest.raises(TraceError, match="already finished"):
        rec.log(DraftToken(round=0, position=0, token_id=1))


def test_the_compiled_recorder_keeps_top_k_lists_as_arrow_buffers(tmp_path, monkeypatch):
    # Top-k lists went through the generic 'o' path: a Python list per event, a
    # TopToken's attributes read one by one in Python at every chunk.
    monkeypatch.setenv("SPECVIZ_RECORDER", "compiled")
    rec = open_run(tmp_path, store_sample.started())
    tops = [[TopToken(7, "é", -0.5), TopToken(2**63 - 1, "", float("nan"))], [], [TopToken(-1, "z" * 70_000, 3)]]
    for i, top in enumerate(tops):
        rec.log(DraftToken(round=0, position=i, token_id=1, top=top))
    parts = {tag: cols for tag, _, cols in rec._recorder.take()}
    buffers = parts["draft_token"][hotpath.LAYOUTS[DraftToken].fields.index("top")]
    assert len(buffers) == 5 and all(isinstance(memoryview(b), memoryview) for b in buffers)
    offsets, ids, text_offsets, texts, logprobs = (bytes(memoryview(b)) for b in buffers)
    assert offsets == struct.pack("<4i", 0, 2, 2, 3) and ids == struct.pack("<3q", 7, 2**63 - 1, -1)
    assert text_offsets == struct.pack("<4i", 0, 2, 2, 70_002) and texts == "é".encode() + b"z" * 70_000
    assert struct.unpack("<3d", logprobs)[2] == 3.0
    table = columnar.chunk_table([("draft_token", 3, parts["draft_token"])], columnar.compiled_arrays, "r", None)
    assert table.column("top").to_pylist()[0][0] == {"id": 7, "text": "é", "logprob": -0.5}
    assert [len(x) for x in table.column("top").to_pylist()] == [2, 0, 1]


@pytest.mark.parametrize("path", ["compiled", "python"])
def test_a_recording_dropped_mid_chunks_leaves_no_thread_nor_temp_file(tmp_path, monkeypatch, path):
    import gc
    import threading

    monkeypatch.setenv("SPECVIZ_RECORDER", path)
    monkeypatch.setattr(recording, "CHUNK", 50)
    rec = open_run(tmp_path, store_sample.started())
    for ev in _odd_events(60):
        rec.log(ev)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("date=*/.run-*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the encoder thread opens it with the first chunk
    assert list(tmp_path.glob("date=*/.run-*.tmp")), "chunks are being encoded into a temp file"
    run_id = rec.run_id
    del rec
    gc.collect()
    for t in threading.enumerate():
        if t.name == "specviz-parquet":
            t.join(10)
    assert not list(tmp_path.glob("date=*/.run-*.tmp")) and "specviz-parquet" not in [t.name for t in threading.enumerate()]
    assert [r[0] for r in recover(tmp_path).recovered] == [run_id]


def test_recording_path_is_exposed():
    import specviz.store

    assert specviz.store.RECORDING_PATH in ("compiled", "python")
    assert os.environ.get("SPECVIZ_RECORDER", "") != "python" or specviz.store.RECORDING_PATH == "python"


def test_a_binary_log_of_another_format_version_is_refused_whole(tmp_path):
    # The reader checked only the magic's first byte: any file starting with "S" was
    # decoded as this version's frames, and a newer version's log would be misread.
    from specviz.store.binlog import MAGIC

    good = hostile.binary_log()
    live = tmp_path / "_live"
    live.mkdir()
    for i, version in enumerate((0, 2, 255)):
        data = good[:len(MAGIC) - 1] + bytes([version]) + good[len(MAGIC):]
        with pytest.raises(TraceError, match=f"format version {version}; this specviz reads version 1"):
            decode_log(data, "x")
        (live / f"run-{i:016x}.jsonl").write_bytes(data)
    (live / f"run-{9:016x}.jsonl").write_bytes(b"S" + bytes(len(MAGIC) - 1) + good[len(MAGIC):])
    assert decode_log(b"S" + bytes(len(MAGIC) - 1) + good[len(MAGIC):], "x") == ([], True)
    report = recover(tmp_path)
    assert not report.recovered and len(report.problems) == 4
    assert sum("format version" in p.message for p in report.problems) == 3
    assert len(list(live.glob("run-*.jsonl"))) == 4, "logs nobody can read are left where they are"


@pytest.mark.parametrize("path", ["compiled", "python"])
@pytest.mark.parametrize("wall", [-1, 2**63, -(2**63)])
def test_a_run_that_starts_at_no_date_is_refused_at_open(tmp_path, monkeypatch, path, wall):
    # It was accepted, then finish() could not name its partition and the log stayed,
    # a problem for every later `recover`.
    monkeypatch.setenv("SPECVIZ_RECORDER", path)
    with pytest.raises(TraceError, match="is not a time between 1970 and 2262"):
        open_run(tmp_path, store_sample.started(t_wall_ns=wall, t_mono_ns=5))
    assert not list(tmp_path.glob("_live/*")), "a run refused at open leaves no log"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["compiled", "python"])
def test_absurd_counts_in_round_metrics_are_recorded_and_recovered(tmp_path, monkeypatch, path):
    # Totals replayed from round_metrics counts sized lists by them: 2**62 tested made
    # `[alpha] * tested` (MemoryError), a negative accepted indexed the histogram from its
    # end (IndexError). A with-block that exits, and recovery of such a log, both compute
    # totals this way; recovery lost the whole log to it.
    monkeypatch.setenv("SPECVIZ_RECORDER", path)
    absurd = [RoundMetrics(round=0, drafted=2**62, tested=2**62, accepted=-3, alpha=0.5),
              RoundMetrics(round=1, drafted=-(2**63), tested=-1, accepted=2**63 - 1, alpha=0.25)]
    with open_run(tmp_path / "with", store_sample.started()) as rec:
        for ev in copy.deepcopy(absurd):
            rec.log(ev)
    assert [type(e) for e in read_events(rec.path)] == [RunStarted, RoundMetrics, RoundMetrics, RunFinished]
    rec = open_run(tmp_path / "killed", store_sample.started())
    for ev in copy.deepcopy(absurd):
        rec.log(ev)
    rec.flush()
    rec._writer.close()  # killed: the log is left for recover
    report = recover(tmp_path / "killed")
    assert not report.problems and [n for _, _, n, _ in report.recovered] == [4]


def _hostile_values() -> dict[str, object]:
    """Values a caller may hand the recording API, by what they stand in place of."""
    nan, inf = float("nan"), float("inf")
    d = lambda **kw: DraftToken(**{"round": 0, "position": 0, "token_id": 1, **kw})  # noqa: E731
    cases = {
        "nan": d(logprob=nan, entropy=nan, draft_ms=nan), "inf": d(logprob=-inf, draft_ms=inf),
        "nan-in-top": d(top=[TopToken(1, "a", nan), TopToken(2, "b", -inf)]), "minus-zero": d(draft_ms=-0.0),
        "int-in-float": d(draft_ms=3), "bool-in-float": d(draft_ms=True), "huge-int-in-float": d(draft_ms=10**400),
        "int64-max": d(round=2**63 - 1), "int64-min": d(token_id=-(2**63)), "int-2^63": d(round=2**63),
        "int-2^64": d(round=2**64), "int-below-int64": d(round=-(2**63) - 1), "negative-counts": RoundMetrics(round=-1, drafted=-5, tested=-(2**63)),
        "bool-in-int": d(round=True), "float-in-int": d(round=1.5), "whole-float-in-int": d(round=2.0),
        "str-in-int": d(token_id="7"), "none-in-int": d(round=None), "none-in-str": Error(where=None, message="x"),
        "none-in-bool": Verify(round=0, position=0, status="bonus", token_id=1, exact=None),
        "int-in-bool": Verify(round=0, position=0, status="bonus", token_id=1, exact=1),
        "none-in-list": d(top=None), "long-string": Error(where="w", message="é" * 3_000_000),
        "lone-surrogate": Error(where="w", message="a\ud800b"), "surrogate-in-top": d(top=[TopToken(1, "\udfff", 0.0)]),
        "nul-and-controls": Error(where="\x00\x1b[31m", message="\u2028\r\n"),
        "literal-not-allowed": Verify(round=0, position=0, status="bogus", token_id=1),
        "literal-not-str": Verify(round=0, position=0, status=3, token_id=1),
        "str-as-list": d(top="abc"), "ints-as-top": d(top=[1, 2]), "tuple-as-top": d(top=[(1, "a", 0.5)]),
        "top-wrong-types": d(top=[TopToken("x", 1, "y")]), "top-huge-id": d(top=[TopToken(2**63, "a", 0.0)]),
        "map-int-values": RunStarted(prompt="p", tags={"a": 1}), "map-int-keys": RunStarted(prompt="p", versions={1: "a"}),
        "list-huge-int": RunStarted(prompt="p", prompt_token_ids=[2**64]), "list-of-str-ids": RunStarted(prompt="p", eos_token_ids=["0"]),
        "list-as-tuple": RunStarted(prompt="p", prompt_token_ids=(1, 2)), "list-subclass": RunStarted(prompt="p", target_ignored=type("L", (list,), {})(["a"])),
        "a-second-run-started": RunStarted(prompt="again"), "run-finished-mid-run": RunFinished(status="completed"),
        "clock-str": d(t_mono_ns="5"), "clock-float": d(t_wall_ns=1.5), "clock-none": d(t_mono_ns=None),
        "clock-negative": d(t_mono_ns=-5, t_wall_ns=-7), "clock-int64-max": d(t_mono_ns=2**63 - 1),
        "clock-beyond-int64": d(t_wall_ns=2**63), "not-an-event": "draft", "none": None, "dict": {"kind": "draft_token"},
        "base-event": Event(), "struct-not-event": TopToken(1, "a", 0.0), "event-subclass": type("Sub", (DraftToken,), {})(round=0, position=0, token_id=1),
    }
    v = lambda **kw: Verify(**{"round": 0, "position": 0, "status": "accepted", "token_id": 1, **kw})  # noqa: E731
    good = [TopToken(5, "g", -0.25), TopToken(6, "h", -0.75)]
    for name, top in hostile.hostile_top_lists().items():
        cases[f"top-{name}"] = d(top=top)
        if name not in ("many-tokens", "text-long"):  # (once is enough for the slow ones)
            cases[f"verify-top_raw-{name}"] = v(top=good, top_raw=top)
    # a value refused after a top-k list was taken: the list is taken back
    cases["top-then-bad-draft_ms"] = d(top=good, draft_ms="slow")
    cases["top-then-bad-top_raw-then-more"] = v(top=good, top_raw=[*good, TopToken(True, "x", 0.0)], u=0.5)
    return cases


HOSTILE = _hostile_values()


def _try(tmp_path, monkeypatch, path: str, name: str):
    """(error text or None, log bytes, table, events read back) of a run logging HOSTILE[name]."""
    monkeypatch.setenv("SPECVIZ_RECORDER", path)
    started = store_sample.started()
    started.t_mono_ns, started.t_wall_ns = 5, 10**18 + 5
    rec = open_run(tmp_path / path / name, started)
    error = None
    try:
        value = copy.deepcopy(HOSTILE[name])
        if isinstance(value, Event) and type(value) is not Event:  # the recorder's own clocks differ from run to run
            value.t_mono_ns = 77 if value.t_mono_ns == 0 else value.t_mono_ns
            value.t_wall_ns = 10**18 + 77 if value.t_wall_ns == 0 else value.t_wall_ns
        rec.log(value)
    except TraceError as e:
        error = str(e)
    rec.log(DraftToken(round=0, position=1, token_id=2, t_mono_ns=88, t_wall_ns=10**18 + 88))
    rec.flush()
    log = rec._writer.path.read_bytes()
    file = rec.finish(RunFinished(status="completed", produced=1, t_mono_ns=99, t_wall_ns=10**18 + 99))
    return error, log, _table(file), _plain(read_events(file))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_both_paths_take_or_refuse_a_hostile_value_alike(tmp_path, monkeypatch, name):
    # Before, the pure-Python path took every value at log() and failed later or never:
    # 2**63 or a str in an int field failed at finish() (the run could not be finished),
    # 1.5 in an int field was written as 1, None in a required field gave a file that no
    # reader takes, a lone surrogate raised UnicodeEncodeError at every later flush, inf
    # was logged as null (recovery dropped the line and every line after it), None or a
    # dict was an AttributeError; both paths took a list of ints as top-k (finish() then
    # raised AttributeError) and a status that is none of its literal's values.
    got = {path: _try(tmp_path, monkeypatch, path, name) for path in ("compiled", "python")}
    error, log, table, events = got["compiled"]
    assert got["python"][0] == error, "the same error, or none on both"
    assert error is None or ("\n" not in error and len(error) < 300)
    assert got["python"][1] == log, "the same log, byte for byte"
    # (as text: NaN equals NaN there, and -0.0 differs from 0.0)
    assert repr(got["python"][2].to_pylist()) == repr(table.to_pylist()) and repr(got["python"][3]) == repr(events)
    assert len(events) == (3 if error else 4)
    assert decode_log(log, "x")[1] is False, "the log reads back whole"
