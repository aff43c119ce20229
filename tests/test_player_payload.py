"""The client-side player's payload against the folded run it comes from: every number a
tooltip shows is the trace's own, for accepted, resampled and bonus tokens alike."""

from __future__ import annotations

import json
import math

import pytest

from specviz.events import Verify
from specviz.replay import build_index
from viewer.player.payload import STATUSES, apply_delta, delta, encode, payload
from synthetic_runs import synthetic_events


@pytest.fixture(scope="module")
def run():
    events = synthetic_events(rounds=30, k=4, seed=11, errors_every=7)
    return events, build_index(events), json.loads(encode(build_index(events)))


def test_events_commits_and_metrics_line_up(run):
    events, index, p = run
    types = [p["event_types"][t] for t in p["events"]["type"]]
    assert types == [e.__struct_config__.tag for e in events]
    assert p["events"]["round"] == index.event_round
    S, V = p["strings"], p["verifies"]
    assert "".join(S[V["text"][v]] for v in p["commits"]["verify"]) == "".join(c.verify.token_text for c in index.commits)
    assert p["commits"]["seq"] == [c.seq for c in index.commits]
    assert p["metrics"]["seq"] == index.metrics_at
    assert p["metrics"]["tokens_per_s"] == [round(m.tokens_per_s, 4) for m in index.metrics]
    assert len(p["errors"]) == len(index.errors) > 0
    assert p["live"] is False and p["finished_at"] == len(events) - 1


def test_each_token_carries_its_own_probability(run):
    events, index, p = run
    V, D = p["verifies"], p["drafts"]
    seen = set()
    for c, commit in enumerate(index.commits):
        v = p["commits"]["verify"][c]
        ev = commit.verify
        status = STATUSES[V["status"][v]]
        assert status == ev.status
        seen.add(status)
        # The token shown: its own p (the replacement's for a resampled token).
        assert V["final_p"][v] == pytest.approx(math.exp(ev.final_logprob), rel=1e-3)
        if status == "resampled":
            d = p["commits"]["draft"][c]
            rejected = index.events[D["verdict_at"][d]]
            assert isinstance(rejected, Verify) and rejected.status == "rejected"
            rv = D["verify"][d]
            # The rejected draft's numbers stay with the draft, on their own line.
            assert V["p"][rv] == pytest.approx(math.exp(rejected.target_logprob), rel=1e-3)
            assert V["q"][rv] == pytest.approx(math.exp(rejected.draft_logprob), rel=1e-3)
            assert V["u"][rv] == pytest.approx(rejected.u, abs=1e-4)
            assert V["p"][v] != V["p"][rv] or V["final_p"][v] != V["p"][rv]
        if status == "accepted":
            assert V["acc"][v] == pytest.approx(ev.acceptance_prob, abs=1e-4)
    assert seen == {"accepted", "resampled", "bonus"}


def test_recorded_p_and_q_win_over_logprobs():
    events = synthetic_events(rounds=5, k=3, seed=2)
    for e in events:
        if isinstance(e, Verify) and e.status in ("accepted", "rejected"):
            e.target_p, e.draft_q, e.exact, e.inexact_reason = 0.25, 0.5, False, "top-k only"
    p = json.loads(encode(build_index(events)))
    V = p["verifies"]
    tested = [i for i, s in enumerate(V["status"]) if STATUSES[s] in ("accepted", "rejected")]
    assert tested and all(V["p"][i] == 0.25 and V["q"][i] == 0.5 for i in tested)
    assert all(V["inexact"][i] == "top-k only" and V["exact"][i] is False for i in tested)


def test_live_run_and_hostile_text_travel_as_data():
    events = synthetic_events(rounds=3, k=2, seed=1, finished=False)
    events[1].token_text = "</script><script>alert(1)</script>"
    p = json.loads(encode(build_index(events)))
    assert p["live"] is True and p["finished_at"] is None
    assert "</script><script>alert(1)</script>" in p["strings"]


def test_a_growing_run_travels_as_small_deltas():
    """Reads of a run still recording (prefixes of its events, the last one finished): each
    delta turns the previous payload into exactly the new one and carries only what the
    new events changed, so a live tick's transfer does not grow with the run."""
    events = synthetic_events(rounds=120, k=4, seed=3, errors_every=17)
    cuts = [40, 41, 300, 301, 330, 900, len(events) - 1, len(events)]
    bodies = [json.loads(json.dumps(payload(build_index(events[:n])))) for n in cuts]
    for m, n, old, new in zip(cuts, cuts[1:], bodies, bodies[1:]):
        d = json.loads(json.dumps(delta(old, new)))
        assert apply_delta(old, d) == new, n
        assert new["strings"][: len(old["strings"])] == old["strings"]  # interned in event order
        # A fixed framing (~2.5 k characters) plus a few hundred per new event, not the run.
        assert len(json.dumps(d)) < 4000 + 400 * (n - m), (n, len(json.dumps(d)), len(json.dumps(new)))
    assert len(json.dumps(delta(bodies[2], bodies[3]))) < 4000  # one event more, 301 events in
    assert len(json.dumps(bodies[3])) > 40_000
