"""Pure figure and text builders: what they draw matches the replay state."""

from __future__ import annotations

import pandas as pd

from specviz.events import DraftToken, RunStarted, Verify
from specviz.replay import build_index
from viewer.figures.replay import make_tree_figure, replay_figures
from viewer.figures.sql import make_auto_figure
from synthetic_runs import synthetic_events
from viewer.text import colored_html, first_divergence, hover


def count(fig, name):
    return sum(len(t.text or ()) for t in fig.data if t.name == name)


def test_tree_nodes_match_state_at_every_round():
    index = build_index(synthetic_events(rounds=15, k=4, seed=5))
    for rnd in range(15):
        state = index.state(index.round_end(rnd))
        fig = make_tree_figure(state, window=100)
        counts = state.status_counts()
        for status, name in (("rejected", "rejected"), ("skipped", "not tested"), ("resampled", "resampled"),
                             ("bonus", "bonus")):
            assert count(fig, name) == counts[status], (rnd, status)
        # accepted drafts show twice: on their branch and on the trunk
        assert count(fig, "accepted") == 2 * counts["accepted"]
        assert count(fig, "pending") == 0  # a closed round has no undecided draft


def test_pending_drafts_before_verification_and_window():
    events = synthetic_events(rounds=30, k=4, seed=2)
    index = build_index(events)
    first_draft_of_round_20 = next(i for i, e in enumerate(events) if isinstance(e, DraftToken) and e.round == 20)
    state = index.state(first_draft_of_round_20 + 2)
    assert count(make_tree_figure(state), "pending") == 3
    fig = make_tree_figure(state, window=4)
    assert "rounds 17–20" in fig.layout.title.text
    assert all(x >= index.round_base[17] - 1 for t in fig.data if t.name == "rejected" for x in t.x)


def test_every_figure_builds_at_start_middle_end_and_for_autoregressive():
    for events in (synthetic_events(rounds=6, k=3, errors_every=2), synthetic_events(rounds=6, method="autoregressive")):
        index = build_index(events)
        for pos in (0, len(events) // 2, len(events) - 1):
            figs = replay_figures(index.state(pos))
            assert set(figs) == {"tree", "timeline", "metrics"}


def test_builders_pass_plotly_validation(monkeypatch):
    """Production skips Plotly's validation for speed; here every builder runs with it on."""
    from viewer.figures import base, compare
    from viewer.figures import replay as figures

    monkeypatch.setattr(base, "VALIDATE", True)
    index = build_index(synthetic_events(rounds=8, k=3, errors_every=3))
    state = index.state(index.n_events - 1)
    replay_figures(state)
    for make in (figures.make_gauge_figure, figures.make_tps_figure, figures.make_latency_figure,
                 figures.make_position_figure, figures.make_entropy_figure):
        make(state)
    states = {"a": state, "b": index.state(index.n_events // 2)}
    compare.make_compare_acceptance_figure(states)
    compare.make_compare_position_figure(states)
    compare.make_compare_latency_figure(states)
    for df in (pd.DataFrame({"k": ["2", "4"], "t": ["a", "b"], "acc": [0.5, 0.7]}),
               pd.DataFrame({"round": list(range(30)), "ms": [1.0] * 30})):
        assert make_auto_figure(df) is not None


def test_metrics_grid_holds_every_panel_on_its_own_axes():
    from viewer.figures.replay import make_metrics_figure, make_position_figure

    state = build_index(synthetic_events(rounds=12, k=4, seed=4)).state(200)
    fig = make_metrics_figure(state)
    names = [t.name for t in fig.data]
    assert {"tokens/s", "baseline", "draft ms", "verify ms", "acceptance by position", "accepted share"} <= set(names)
    assert fig.data[0].type == "indicator"
    pos = next(t for t in fig.data if t.name == "acceptance by position")
    assert (pos.xaxis, pos.yaxis) == ("x3", "y3")
    assert fig.layout.xaxis3.domain == (0.0, 0.44) and fig.layout.yaxis4.range == (0, 1.05)
    assert list(pos.y) == list(make_position_figure(state).data[0].y)


def test_hostile_token_text_is_escaped():
    evil = '<img src=x onerror=alert(1)>"'
    events = [
        RunStarted(prompt="p", k=1),
        DraftToken(round=0, position=0, token_id=1, token_text=evil, seq=1),
        Verify(round=0, position=0, status="accepted", token_id=1, token_text=evil, acceptance_prob=0.9, seq=2),
    ]
    state = build_index(events).state(2)
    c = state.commits[0]
    assert "<img" not in hover(c.draft, c, "accepted")
    page = colored_html(state.commits)
    assert "<img" not in page and "&lt;img" in page


def test_first_divergence_and_text_window():
    a = build_index(synthetic_events(rounds=10, seed=1))
    b = build_index(synthetic_events(rounds=10, seed=2))
    ca, cb = a.state(a.n_events - 1).commits, b.state(b.n_events - 1).commits
    assert first_divergence(ca, ca) is None
    assert first_divergence(ca, ca[:5]) == 5
    d = first_divergence(ca, cb)
    assert d is not None and ca[d].verify.token_text != cb[d].verify.token_text or ca[d].verify.token_id != cb[d].verify.token_id
    short = colored_html(ca, last=3)
    assert f"{len(ca) - 3} earlier tokens" in short


def test_auto_figure_picks_a_chart():
    grouped = pd.DataFrame({"k": ["2", "2", "4"], "temperature": ["T=0", "T=1", "T=0"], "acceptance": [0.8, 0.6, 0.7]})
    fig = make_auto_figure(grouped)
    assert [t.name for t in fig.data] == ["temperature=T=0", "temperature=T=1"]
    single = pd.DataFrame({"method": ["speculative", "autoregressive"], "speedup": [2.0, 1.0], "runs": [3, 3]})
    assert make_auto_figure(single, "runs").data[0].y.tolist() == [3, 3]
    assert make_auto_figure(pd.DataFrame({"a": ["x"], "b": ["y"]})) is None


def test_auto_chart_takes_a_measure_as_the_value_not_a_dimension():
    from viewer.figures.sql import value_columns, x_column

    runs = pd.DataFrame({"run_id": ["a", "b"], "k": [2, 4], "produced": [30, 40], "acceptance_rate": [0.5, 0.7]})
    x = x_column(runs)
    assert x == "run_id" and value_columns(runs, x) == ["acceptance_rate", "produced", "k"]
    fig = make_auto_figure(runs)
    assert fig.layout.yaxis.title.text == "acceptance_rate"
    by_k = pd.DataFrame({"acc": [0.5, 0.7], "k": [2, 4]})  # no label column: k is the x axis
    assert x_column(by_k) == "k" and make_auto_figure(by_k).layout.yaxis.title.text == "acc"
