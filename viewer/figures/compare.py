"""Compare page figures: two replay states (by display name, A first) in, a figure out.

Each run keeps one colour in every chart (A blue, B orange: apart for colour-blind
readers too); a number a run did not measure is left out and named in the chart, never
drawn as zero.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from specviz.replay import ReplayState
from viewer.figures.base import figure, legend_below, rate

RUN_COLORS = ("#2563eb", "#ea580c")  # A, B


def _colored(states: dict[str, ReplayState]):
    return zip(states.items(), RUN_COLORS)


def make_compare_acceptance_figure(states: dict[str, ReplayState]) -> go.Figure:
    """Acceptance per round (accepted / tested); rounds that tested no draft are gaps, not 0 %."""
    traces, empty = [], []
    for (name, st), color in _colored(states):
        tested, accepted = st.metric_array("tested"), st.metric_array("accepted")
        keep = (tested > 0) & (st.metric_array("drafted") > 0)
        if not keep.any():
            empty.append(name)
        traces.append(dict(type="scatter", name=name, x=st.metric_array("round")[keep],
                           y=accepted[keep] / tested[keep], mode="lines", line=dict(color=color)))
    notes = [dict(text=f"{n}: no drafts tested", x=0.5, y=0.5 - 0.1 * i, xref="paper", yref="paper",
                  showarrow=False) for i, n in enumerate(empty)]
    return figure(traces, "Acceptance per round", legend=legend_below(), annotations=notes,
                  yaxis=dict(range=[0, 1.05], tickformat=".0%", title=dict(text="accepted / tested")),
                  xaxis=dict(title=dict(text="round")))


def make_compare_position_figure(states: dict[str, ReplayState]) -> go.Figure:
    """Acceptance at each draft position; positions a run never tested are left out."""
    traces = []
    for (name, st), color in _colored(states):
        tested, accepted = st.per_position_acceptance()
        y = np.where(tested > 0, rate(tested, accepted), np.nan)
        traces.append(dict(type="bar", name=name, x=np.arange(len(tested)), y=y, marker=dict(color=color)))
    return figure(traces, "Acceptance by draft position", barmode="group", legend=legend_below(),
                  yaxis=dict(range=[0, 1], tickformat=".0%", title=dict(text="accepted / tested")),
                  xaxis=dict(title=dict(text="draft position"), dtick=1))


def make_compare_latency_figure(states: dict[str, ReplayState]) -> go.Figure:
    """Draft and verify time per round, per run; a phase a run did not time is named, not drawn."""
    traces, missing = [], []
    for (name, st), color in _colored(states):
        for phase in ("draft", "verify"):
            ms = st.metric_array(f"{phase}_ms")
            if not len(ms) or not np.nan_to_num(ms).any():
                missing.append(f"{name} {phase}")
                continue
            # Verify boxes filled, draft boxes hollow: the run is the colour, the phase the fill.
            box = dict(type="box", name=f"{name} · {phase}", y=ms, boxpoints=False,
                       marker=dict(color=color), line=dict(color=color))
            traces.append(box if phase == "verify" else dict(box, fillcolor="rgba(0,0,0,0)"))
    notes = [dict(text="not measured: " + ", ".join(missing), x=0.5, y=1.0, xref="paper", yref="paper",
                  showarrow=False, yanchor="bottom", font=dict(size=11, color="#6b7280"))] if missing else []
    return figure(traces, "Time per round", legend=legend_below(), annotations=notes,
                  yaxis=dict(title=dict(text="ms"), rangemode="tozero"))
