"""Pure figure builders (Compare and SQL pages) and the Compare diff's escaping."""

from __future__ import annotations

import pandas as pd

from specviz.events import DraftToken, RunStarted, Verify
from specviz.replay import build_index
from synthetic_runs import synthetic_events
from viewer import comparison
from viewer.figures.sql import make_auto_figure


def test_builders_pass_plotly_validation(monkeypatch):
    """Production skips Plotly's validation for speed; here every builder runs with it on."""
    from viewer.figures import base, compare

    monkeypatch.setattr(base, "VALIDATE", True)
    index = build_index(synthetic_events(rounds=8, k=3, errors_every=3))
    state = index.state(index.n_events - 1)
    states = {"a": state, "b": index.state(index.n_events // 2)}
    compare.make_compare_acceptance_figure(states)
    compare.make_compare_position_figure(states)
    compare.make_compare_latency_figure(states)
    for df in (pd.DataFrame({"k": ["2", "4"], "t": ["a", "b"], "acc": [0.5, 0.7]}),
               pd.DataFrame({"round": list(range(30)), "ms": [1.0] * 30})):
        assert make_auto_figure(df) is not None


def test_hostile_token_text_is_escaped_in_the_compare_diff():
    evil = '<img src=x onerror=alert(1)>"'

    def run(text):
        events = [
            RunStarted(prompt="p", k=1),
            DraftToken(round=0, position=0, token_id=1, token_text=text, seq=1),
            Verify(round=0, position=0, status="accepted", token_id=1, token_text=text, acceptance_prob=0.9, seq=2),
        ]
        return build_index(events).state(2).commits

    a, b = run(evil), run("safe")
    page = comparison.diff_html(a, b, comparison.align(a, b))
    assert "<img" not in page and "&lt;img" in page


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
