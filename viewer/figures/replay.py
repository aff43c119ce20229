"""Replay page figures: a replay state in, a figure out.

No Streamlit here, so the builders are testable and benchmarkable on their own. Every
builder bounds the number of points it draws (windows, "last N"), so a scrub step costs
the same on round 10 as on round 2,000.
"""

from __future__ import annotations

import html
import math
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go

from specviz.replay import PENDING, SKIPPED, ReplayState
from viewer.figures.base import PHASE_COLORS
from viewer.figures.base import figure as _figure
from viewer.figures.base import legend_below as _legend_below
from viewer.figures.base import rate as _rate
from viewer.text import COLORS, hover, label, show_token

TREE_WINDOW_ROUNDS = 12  # rounds of branches drawn around the scrub position
TIMELINE_WINDOW_ROUNDS = 40
LATENCY_ROUNDS = 10
ENTROPY_POINTS = 300  # most recent tested positions in the acceptance-vs-entropy scatter
SERIES_POINTS = 400  # a per-round line thins to about this many points (every n-th round)
TREE_STATUSES = ("accepted", "rejected", "resampled", "bonus", PENDING, SKIPPED)
# Branch lanes alternate above and below the trunk so neighbouring rounds never overlap.
LANES = (1.0, -1.0, 2.0, -2.0)


def _size(entropy: float | None) -> float:
    """Node size grows with entropy (nats), as in the seed: uncertain tokens look big."""
    if entropy is None or math.isnan(entropy):
        return 10.0
    return 7.0 + 5.0 * min(entropy, 4.0)


def _opacity(prob: float | None) -> float:
    """Opacity = acceptance probability, floored so a near-certain rejection stays visible."""
    if prob is None or math.isnan(prob):
        return 1.0
    return 0.3 + 0.7 * max(0.0, min(1.0, prob))


def tree_window(state: ReplayState, window: int = TREE_WINDOW_ROUNDS) -> int:
    """First round drawn: the `window` rounds ending at the scrub position's round."""
    return max(0, state.round - window + 1)


def make_tree_figure(state: ReplayState, window: int = TREE_WINDOW_ROUNDS) -> go.Figure:
    """Committed tokens as a trunk (y = 0), each round's drafts as a branch off it.

    One node trace per status (named by it) so a reader, or a test, can count what the
    figure shows; edges into a rejection are dashed red, into untested drafts dotted.
    """
    index = state.index
    first = tree_window(state, window)
    base0 = min((b for r, b in index.round_base.items() if r >= first), default=len(state.commits))
    nodes = {s: ([], [], [], [], [], []) for s in TREE_STATUSES}  # x, y, size, opacity, text, hover

    def add(status, x, y, entropy, prob, token, hov):
        n = nodes[status]
        n[0].append(x), n[1].append(y), n[2].append(_size(entropy))
        n[3].append(_opacity(prob) if status != PENDING else 0.6)
        n[4].append(show_token(token)), n[5].append(hov)

    trunk = state.commits[base0:]
    for c in trunk:
        v = c.verify
        ent = c.draft.entropy if c.draft is not None and v.status == "accepted" else v.target_entropy
        add(v.status, c.index, 0.0, ent, v.acceptance_prob, v.token_text, hover(c.draft, c, v.status, index.memo))
    edges = {"trunk": ([], []), "branch": ([], []), "rejection": ([], []), "skipped": ([], [])}
    if trunk:
        edges["trunk"][0].extend([trunk[0].index, trunk[-1].index, None])
        edges["trunk"][1].extend([0.0, 0.0, None])
    prev: dict[int, tuple[float, float]] = {}
    for d, status in state.drafts(first_round=first):
        lane = LANES[d.round % len(LANES)]
        x = index.round_base.get(d.round, 0) + d.position
        # The first draft hangs off the last committed token before its round.
        px, py = prev.get(d.round, (x - 1, 0.0))
        kind = "rejection" if status == "rejected" else "skipped" if status == SKIPPED else "branch"
        edges[kind][0].extend([px, x, None])
        edges[kind][1].extend([py, lane, None])
        prev[d.round] = (x, lane)
        v = d.verify if status in ("accepted", "rejected") else None
        add(status, x, lane, d.entropy, v.acceptance_prob if v else None, d.text, hover(d, None, status, index.memo))

    edge_style = {
        "trunk": dict(color="#6b7280", width=2),
        "branch": dict(color="#9ca3af", width=1),
        "rejection": dict(color=COLORS["rejected"], width=2, dash="dash"),
        "skipped": dict(color="#9ca3af", width=1, dash="dot"),
    }
    traces = [
        dict(type="scatter", x=xs, y=ys, mode="lines", line=edge_style[kind], hoverinfo="skip",
             showlegend=False, name=f"edge:{kind}")
        for kind, (xs, ys) in edges.items()
    ]
    for status, (xs, ys, size, opacity, text, hov) in nodes.items():
        traces.append(dict(
            type="scatter", x=np.array(xs, dtype=float), y=np.array(ys, dtype=float), mode="markers+text",
            name=label(status), text=text, textposition="top center", textfont=dict(size=9),
            hovertext=hov, hoverinfo="text",
            marker=dict(color=COLORS[status], size=np.array(size), opacity=np.array(opacity),
                        symbol="circle-open" if status == SKIPPED else "circle",
                        line=dict(width=1.5 if status == SKIPPED else 0.5, color="#4b5563")),
        ))
    return _figure(traces, f"Token tree · rounds {first}–{max(state.round, first)}", height=380,
                   legend=_legend_below(-0.2), yaxis=dict(visible=False, range=[-2.8, 2.8]),
                   xaxis=dict(title=dict(text="output position")))


def make_timeline_figure(state: ReplayState, window: int = TIMELINE_WINDOW_ROUNDS) -> go.Figure:
    """Draft / verify / sample spans per round on the run's clock, errors and retries marked."""
    spans = state.spans[-window:]
    rounds = np.array([s.round for s in spans])
    traces = []
    for phase in ("draft", "verify", "sample"):
        ends = np.array([getattr(s, phase) for s in spans], dtype=float).reshape(-1, 2)
        traces.append(dict(
            type="bar", name=phase, y=np.full(len(spans), phase, dtype=object), x=ends[:, 1] - ends[:, 0],
            base=ends[:, 0], orientation="h", marker=dict(color=PHASE_COLORS[phase]), customdata=rounds,
            hovertemplate=f"round %{{customdata}} · {phase} %{{x:.3f}} s from %{{base:.3f}} s<extra></extra>",
        ))
    t_lo = spans[0].draft[0] if spans else 0.0
    errs = [(t, e) for t, e in state.error_times() if t >= t_lo]
    for name, retry, symbol, color in (("error", False, "x", COLORS["rejected"]), ("retry", True, "triangle-up", "#f59e0b")):
        sel = [(t, e) for t, e in errs if bool(e.retryable or e.attempt) == retry]
        traces.append(dict(
            type="scatter", name=name, x=np.array([t for t, _ in sel], dtype=float),
            y=np.full(len(sel), "errors", dtype=object), mode="markers",
            marker=dict(symbol=symbol, size=12, color=color), hoverinfo="text",
            hovertext=[html.escape(f"{e.where}: {e.message} (attempt {e.attempt})"[:300]) for _, e in sel],
        ))
    now = state.time_s
    return _figure(
        traces, "Timeline", height=260, barmode="overlay", legend=_legend_below(-0.35),
        xaxis=dict(title=dict(text="seconds since run start")),
        yaxis=dict(categoryorder="array", categoryarray=["errors", "sample", "verify", "draft"]),
        shapes=[dict(type="line", x0=now, x1=now, y0=0, y1=1, yref="paper", line=dict(color="#111827", width=1, dash="dot"))],
    )


class Panel(NamedTuple):
    """One chart's content, drawn alone (make_*_figure) or in a grid (make_metrics_figure)."""

    title: str
    traces: list[dict]
    xaxis: dict
    yaxis: dict


def _panel_figure(panel: Panel, height: int = 240, **layout) -> go.Figure:
    return _figure(panel.traces, panel.title, height=height, legend=_legend_below(), xaxis=panel.xaxis,
                   yaxis=panel.yaxis, **layout)


def gauge_panel(state: ReplayState) -> Panel:
    """Rolling acceptance as a gauge (red < 50 %, yellow to 75 %, green above), as in the seed."""
    m = state.latest_metrics
    value = None if m is None else (m.acceptance_rolling if m.acceptance_rolling is not None else m.acceptance_cumulative)
    return Panel("Acceptance (rolling 50 rounds)", [dict(
        type="indicator", mode="gauge+number", value=None if value is None else 100 * value,
        number=dict(suffix="%", valueformat=".0f"),
        gauge=dict(axis=dict(range=[0, 100]), bar=dict(color="#111827"),
                   steps=[dict(range=[0, 50], color="#fecaca"), dict(range=[50, 75], color="#fef08a"),
                          dict(range=[75, 100], color="#bbf7d0")]),
    )], {}, {})


def make_gauge_figure(state: ReplayState) -> go.Figure:
    return _panel_figure(gauge_panel(state), height=220)


def _thin(a: np.ndarray, n: int = SERIES_POINTS) -> np.ndarray:
    """Every k-th value, always keeping the last (the scrub position's): the browser draws
    a 2,000-round line no better than a 400-point one, only slower."""
    if len(a) <= n:
        return a
    step = -(-len(a) // n)
    return np.concatenate([a[:-1:step], a[-1:]])


def tps_panel(state: ReplayState) -> Panel:
    """Tokens/s per round against the autoregressive baseline (dashed red)."""
    rounds = _thin(state.metric_array("round"))
    return Panel("Tokens/s vs baseline", [
        dict(type="scatter", name="tokens/s", x=rounds, y=_thin(state.metric_array("tokens_per_s")), mode="lines",
             line=dict(color=COLORS["bonus"]), fill="tozeroy"),
        dict(type="scatter", name="baseline", x=rounds, y=_thin(state.metric_array("baseline_tokens_per_s")),
             mode="lines", line=dict(color=COLORS["rejected"], dash="dash")),
    ], dict(title=dict(text="round")), {})


def make_tps_figure(state: ReplayState) -> go.Figure:
    return _panel_figure(tps_panel(state))


def latency_panel(state: ReplayState, last: int = LATENCY_ROUNDS) -> Panel:
    """Draft vs verify latency, stacked, for the last `last` rounds."""
    rounds = state.metric_array("round")[-last:].astype(int).astype(str)
    return Panel(f"Draft vs verify latency, last {last} rounds", [
        dict(type="bar", name="draft ms", x=rounds, y=state.metric_array("draft_ms")[-last:],
             marker=dict(color=PHASE_COLORS["draft"])),
        dict(type="bar", name="verify ms", x=rounds, y=state.metric_array("verify_ms")[-last:],
             marker=dict(color=PHASE_COLORS["verify"])),
    ], dict(title=dict(text="round"), type="category"), dict(title=dict(text="ms")))


def make_latency_figure(state: ReplayState, last: int = LATENCY_ROUNDS) -> go.Figure:
    return _panel_figure(latency_panel(state, last), barmode="stack")


def position_panel(state: ReplayState) -> Panel:
    """Acceptance rate at each draft position over the positions tested so far."""
    tested, accepted = state.per_position_acceptance()
    return Panel("Acceptance by draft position", [dict(
        type="bar", name="acceptance by position", x=np.arange(len(tested)), y=_rate(tested, accepted),
        marker=dict(color=COLORS["accepted"]), customdata=np.stack([accepted, tested], axis=-1) if len(tested) else None,
        hovertemplate="position %{x}: %{y:.0%} (%{customdata[0]}/%{customdata[1]})<extra></extra>",
    )], dict(title=dict(text="draft position"), dtick=1), dict(range=[0, 1], tickformat=".0%"))


def make_position_figure(state: ReplayState) -> go.Figure:
    return _panel_figure(position_panel(state))


def entropy_panel(state: ReplayState, last: int = ENTROPY_POINTS) -> Panel:
    """Acceptance probability against draft entropy, with the empirical rate per entropy bin."""
    ent, prob, acc = state.tested_points(last)
    traces = [
        dict(type="scatter", x=ent[acc == ok], y=prob[acc == ok], mode="markers", name=name,
             marker=dict(color=COLORS[name], size=5, opacity=0.6))
        for ok, name in ((True, "accepted"), (False, "rejected"))
    ]
    finite = ~np.isnan(ent)
    if finite.any():
        edges = np.linspace(0, max(float(ent[finite].max()), 1e-6), 9)
        which = np.clip(np.digitize(ent[finite], edges) - 1, 0, 7)
        counts = np.bincount(which, minlength=8)
        hits = np.bincount(which, weights=acc[finite], minlength=8)
        mids = (edges[:-1] + edges[1:]) / 2
        keep = counts > 0
        traces.append(dict(type="scatter", x=mids[keep], y=hits[keep] / counts[keep], mode="lines+markers",
                           name="accepted share", line=dict(color="#111827")))
    return Panel(f"Acceptance vs entropy (last {last} tested)", traces,
                 dict(title=dict(text="draft entropy (nats)")), dict(range=[0, 1.05]))


def make_entropy_figure(state: ReplayState, last: int = ENTROPY_POINTS) -> go.Figure:
    return _panel_figure(entropy_panel(state, last))


# Cells of the metrics grid: (x domain, y domain). The gauge takes the first.
_GRID = (((0.0, 0.26), (0.6, 1.0)), ((0.36, 0.64), (0.6, 1.0)), ((0.74, 1.0), (0.6, 1.0)),
         ((0.0, 0.44), (0.0, 0.36)), ((0.56, 1.0), (0.0, 0.36)))


def make_metrics_figure(state: ReplayState) -> go.Figure:
    """The gauge and the four metric charts as one figure.

    One Plotly plot instead of five: each plot has a fixed cost in the browser (its own
    SVG layers, listeners and resize handling) that dominated opening a run.
    """
    panels = [gauge_panel(state), tps_panel(state), latency_panel(state), position_panel(state), entropy_panel(state)]
    traces, layout, notes = [], {}, []
    for i, (panel, (xd, yd)) in enumerate(zip(panels, _GRID)):
        notes.append(dict(text=f"<b>{panel.title}</b>", x=(xd[0] + xd[1]) / 2, y=yd[1] + 0.06, xref="paper",
                          yref="paper", showarrow=False, font=dict(size=12)))
        if i == 0:
            traces.append(dict(panel.traces[0], domain=dict(x=list(xd), y=[yd[0], yd[1] - 0.04])))
            continue
        n = "" if i == 1 else str(i)
        layout[f"xaxis{n}"] = dict(panel.xaxis, domain=list(xd), anchor=f"y{n}")
        layout[f"yaxis{n}"] = dict(panel.yaxis, domain=list(yd), anchor=f"x{n}")
        traces.extend(dict(t, xaxis=f"x{n}", yaxis=f"y{n}") for t in panel.traces)
    return _figure(traces, "", height=600, barmode="stack", annotations=notes, legend=_legend_below(-0.12),
                   margin=dict(l=40, r=10, t=30, b=30), **layout)


def replay_figures(state: ReplayState, window: int = TREE_WINDOW_ROUNDS) -> dict[str, go.Figure]:
    """Every figure of the Replay page for one scrub position (what one scrub step rebuilds)."""
    return {
        "tree": make_tree_figure(state, window),
        "timeline": make_timeline_figure(state),
        "metrics": make_metrics_figure(state),
    }
