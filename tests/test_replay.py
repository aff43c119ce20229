"""Replay state at a scrub position equals folding the events up to it."""

from __future__ import annotations

from specviz.events import DraftToken, RoundMetrics, RunStarted, Verify
from specviz.replay import PENDING, SKIPPED, build_index, fold, state_as_fold
from synthetic_runs import synthetic_events


def test_state_matches_reference_fold_at_every_position():
    events = synthetic_events(rounds=12, k=4, seed=3, errors_every=5)
    index = build_index(events)
    for pos in range(-1, len(events)):
        assert state_as_fold(index.state(pos)) == fold(events[: pos + 1]), pos


def test_rejection_skips_later_drafts_and_never_accepts_them():
    ev = [
        RunStarted(prompt="p", k=3, seq=0),
        DraftToken(round=0, position=0, token_id=1, token_text="a", seq=1),
        DraftToken(round=0, position=1, token_id=2, token_text="b", seq=2),
        DraftToken(round=0, position=2, token_id=3, token_text="c", seq=3),
        Verify(round=0, position=0, status="accepted", token_id=1, token_text="a", seq=4),
        Verify(round=0, position=1, status="rejected", token_id=9, token_text="z", draft_token_id=2, seq=5),
        Verify(round=0, position=1, status="resampled", token_id=9, token_text="z", seq=6),
        RoundMetrics(round=0, seq=7),
    ]
    index = build_index(ev)
    before = dict(((d.position, s) for d, s in index.state(4).drafts()))
    assert before == {0: "accepted", 1: PENDING, 2: PENDING}
    after = dict(((d.position, s) for d, s in index.state(5).drafts()))
    assert after == {0: "accepted", 1: "rejected", 2: SKIPPED}
    assert index.state(6).text() == "az"
    assert [c.verify.status for c in index.state(7).commits] == ["accepted", "resampled"]
    assert index.state(7).status_counts()["rejected"] == 1


def test_per_position_acceptance_and_rounds():
    events = synthetic_events(rounds=30, k=4, seed=1)
    index = build_index(events)
    end = index.state(len(events) - 1)
    tested, accepted = end.per_position_acceptance()
    assert tested.sum() == sum(m.tested for m in end.metrics)
    assert accepted.sum() == sum(m.accepted for m in end.metrics)
    assert end.finished and not index.live
    # Scrubbing to a round's end shows exactly that many rounds of metrics.
    assert len(index.state(index.round_end(9)).metrics) == 10
    assert len(end.spans) == 30 and end.spans[-1].sample[1] > end.spans[0].draft[0]


def test_autoregressive_run_is_all_bonus_trunk():
    events = synthetic_events(rounds=8, method="autoregressive")
    st = build_index(events).state(len(events) - 1)
    assert {c.verify.status for c in st.commits} == {"bonus"} and not st.drafts()
