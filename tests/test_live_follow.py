"""Following a recording run incrementally (viewer/live_follow.py): each tick reads only
what the recorder appended to its real live log, and the player, fed the deltas, holds
exactly the payload a fresh read of the whole run gives, up to the published trace."""

from __future__ import annotations

import json

from specviz.recording import open_run
from specviz.replay import IndexBuilder, build_index
from specviz.store import read_events
from synthetic_runs import synthetic_events
from viewer import data, live_follow
from viewer.live_follow import LiveRun, live_log
from viewer.player.payload import PayloadBuilder, apply_delta, encode_json, payload
from viewer.replay_controls import player_data as whole_player_data


def _fresh(traces, run_id) -> dict:
    return json.loads(encode_json(payload(build_index(read_events(traces, run_id)))))


def test_index_and_payload_grow_to_exactly_the_whole_fold():
    """Folding a run in pieces (cut mid-round, at a rejection, at the end) gives the same
    index and payload as folding it whole."""
    events = synthetic_events(rounds=60, k=4, seed=5, errors_every=13)
    fold, builder = IndexBuilder(), PayloadBuilder()
    cuts = [1, 7, 8, 150, 151, 333, len(events) - 1, len(events)]
    at = 0
    for cut in cuts:
        index = fold.add(events[at:cut])
        at = cut
        got = json.loads(encode_json(builder.extend(index)))
        whole = build_index(events[:cut])
        assert got == json.loads(encode_json(payload(whole))), cut
        assert index.event_round == whole.event_round and list(index.tested_at) == list(whole.tested_at)
        assert [(d.status, d.verdict_at) for d in index.drafts] == [(d.status, d.verdict_at) for d in whole.drafts]


def test_a_followed_log_is_read_from_where_it_stopped(tmp_path):
    traces = tmp_path / "traces"
    events = synthetic_events(rounds=80, k=4, seed=6, errors_every=11)
    rec = open_run(traces, events[0], flush="event")
    for ev in events[1:100]:
        rec.log(ev)
    rec.flush()
    source = data.Source(str(traces), rec.run_id)
    log = live_log(source)
    assert log is not None and log.suffix == ".jsonl"
    run = LiveRun(log)
    run.update()
    player, have = json.loads(run.player_data(None)), run.version  # a new player: the whole payload
    assert player == _fresh(traces, rec.run_id)
    logged = 100
    for upto in (101, 160, 161, 400, len(events) - 1):
        for ev in events[logged:upto]:
            rec.log(ev)
        rec.flush()
        logged = upto
        offset = run.tail.offset
        run.update()
        assert run.tail.offset > offset and run.index.n_events == upto  # read on from the last offset
        text = run.player_data(have)
        message = json.loads(text)
        assert message["base"] == have
        player, have = apply_delta(player, message["delta"]), run.version
        assert player == _fresh(traces, rec.run_id), upto
        # What travels is the new events' share, not the run (the run is ~100 kB by now).
        assert len(text) < 3000 + 400 * (upto - 100), (upto, len(text))
    assert run.player_data(have) == ""
    assert json.loads(run.player_data("some:other:version")) == player  # unknown base: the whole payload
    # Published: the log is gone; the page reads the trace and moves the player there by
    # one delta from the log's last payload (kept by the LiveRun this session sent).
    sent = {have: run}
    rec.finish(events[-1])
    assert live_log(source) is None and live_follow.follow(source) is None
    run.update()
    assert run.gone
    finished = data._read_and_fold(source)
    text, version = whole_player_data(finished, {"have": have, "run": rec.run_id}, sent)
    message = json.loads(text)
    assert message["base"] == have and version != have
    assert apply_delta(player, message["delta"]) == _fresh(traces, rec.run_id)
    assert _fresh(traces, rec.run_id)["live"] is False
