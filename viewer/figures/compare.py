"""Compare page figures: two replay states (by display name) in, a figure out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from specviz.replay import ReplayState
from viewer.figures.base import PHASE_COLORS, figure, legend_below, rate



def make_compare_acceptance_figure(states: dict[str, ReplayState]) -> go.Figure:
    """Acceptance per round (accepted / tested) for each run."""
    traces = []
    for name, st in states.items():
        tested, accepted = st.metric_array("tested"), st.metric_array("accepted")
        keep = tested > 0
        traces.append(dict(type="scatter", name=name, x=st.metric_array("round")[keep],
                           y=accepted[keep] / tested[keep], mode="lines"))
    return figure(traces, "Acceptance per round", legend=legend_below(),
                   yaxis=dict(range=[0, 1.05], tickformat=".0%"), xaxis=dict(title=dict(text="round")))


def make_compare_position_figure(states: dict[str, ReplayState]) -> go.Figure:
    traces = []
    for name, st in states.items():
        tested, accepted = st.per_position_acceptance()
        traces.append(dict(type="bar", name=name, x=np.arange(len(tested)), y=rate(tested, accepted)))
    return figure(traces, "Acceptance by draft position", barmode="group", legend=legend_below(),
                   yaxis=dict(range=[0, 1], tickformat=".0%"), xaxis=dict(title=dict(text="draft position"), dtick=1))


def make_compare_latency_figure(states: dict[str, ReplayState]) -> go.Figure:
    """Round latency distribution per run, split into draft and verify."""
    traces = [
        dict(type="box", name=f"{name} · {phase}", y=st.metric_array(f"{phase}_ms"),
             marker=dict(color=PHASE_COLORS[phase]), boxpoints=False)
        for name, st in states.items() for phase in ("draft", "verify")
    ]
    return figure(traces, "Latency per round (ms)", showlegend=False)

