"""Pure Plotly builders for the Analysis page: parts of a ``specviz.analysis.Report`` in,
titled figures with axis titles out; an empty input gives a figure saying "not measured".

The page draws the six panels of a configuration as ONE figure (``make_analysis_figure``:
each panel's traces on its own axes of a grid), because every separate Plotly chart costs
the browser its own layout and SVG: six charts took seconds to draw on this machine."""

from __future__ import annotations

import plotly.graph_objects as go

from specviz.analysis.acceptance import Heatmap, Rates
from specviz.analysis.kmodel import KCurve
from specviz.analysis.replay import ReplayResult

HEIGHT = 320


def _figure(traces: list, title: str, x: str, y: str, **layout) -> go.Figure:
    base = dict(title=dict(text=title, font=dict(size=14)), height=HEIGHT, margin=dict(l=50, r=20, t=40, b=40),
                xaxis=dict(title=dict(text=x)), yaxis=dict(title=dict(text=y)))
    base.update(layout)
    return go.Figure(data=traces, layout=base)


def empty_figure(title: str, x: str, y: str, note: str = "not measured") -> go.Figure:
    fig = _figure([], title, x, y)
    fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=14))
    return fig


def _errors(rates: Rates) -> dict:
    rate = [r if r is not None else None for r in rates.rate]
    plus = [(h - r) if h is not None and r is not None else None for h, r in zip(rates.hi, rate)]
    minus = [(r - lo) if lo is not None and r is not None else None for lo, r in zip(rates.lo, rate)]
    return dict(type="data", symmetric=False, array=plus, arrayminus=minus)


def make_position_figure(rates: Rates) -> go.Figure:
    title, x, y = "Acceptance per draft position (95% Wilson interval)", "draft position", "accepted / tested"
    if rates.empty:
        return empty_figure(title, x, y, "not measured: no tested drafts")
    bar = go.Bar(x=rates.x, y=rates.rate, error_y=_errors(rates), marker=dict(color="#22c55e"),
                 customdata=list(zip(rates.accepted, rates.tested)),
                 hovertemplate="position %{x}: %{y:.2f} (%{customdata[0]}/%{customdata[1]})<extra></extra>")
    return _figure([bar], title, x, y, yaxis=dict(title=dict(text=y), range=[0, 1.05]))


def make_binned_figure(rates: Rates, what: str) -> go.Figure:
    title, x, y = f"Acceptance by {what} (95% Wilson band)", f"{what} (tokens, bin start)", "accepted / tested"
    if rates.empty:
        return empty_figure(title, x, y, "not measured: no tested drafts")
    band_x = rates.x + rates.x[::-1]
    band_y = [h for h in rates.hi] + [lo for lo in rates.lo[::-1]]
    band = go.Scatter(x=band_x, y=band_y, fill="toself", fillcolor="rgba(34,197,94,0.2)", line=dict(width=0),
                      hoverinfo="skip", showlegend=False)
    line = go.Scatter(x=rates.x, y=rates.rate, mode="lines+markers", line=dict(color="#16a34a"), showlegend=False,
                      customdata=list(zip(rates.accepted, rates.tested)),
                      hovertemplate="%{x}: %{y:.2f} (%{customdata[0]}/%{customdata[1]})<extra></extra>")
    return _figure([band, line], title, x, y, yaxis=dict(title=dict(text=y), range=[0, 1.05]))


def make_heatmap_figure(h: Heatmap) -> go.Figure:
    title, x, y = "Accepted share per round × draft position", "draft position", "round"
    if h.empty:
        return empty_figure(title, x, y, "not measured: no tested drafts")
    trace = go.Heatmap(z=h.z, x=h.positions, y=h.rounds, zmin=0, zmax=1, colorscale=[[0, "#ef4444"], [1, "#22c55e"]],
                       colorbar=dict(title=dict(text="accepted")), hoverongaps=False,
                       hovertemplate="round %{y}, position %{x}: %{z:.2f}<extra></extra>")
    return _figure([trace], title, x, y, height=max(HEIGHT, 420), yaxis=dict(title=dict(text=y), autorange="reversed"))


def make_k_figure(curve: KCurve | None) -> go.Figure:
    title, x = "Expected τ(K) and speedup(K) (model; dashed = extrapolated)", "K (draft tokens per round)"
    if curve is None:
        return empty_figure(title, x, "speedup ×", "not measured: no drafted rounds")
    last = max([k for k, e in zip(curve.ks, curve.extrapolated) if not e], default=0)
    seen = [k <= last for k in curve.ks]
    traces = [
        go.Scatter(x=[k for k, s in zip(curve.ks, seen) if s], y=[v for v, s in zip(curve.speedup, seen) if s],
                   mode="lines+markers", name="speedup (modelled)", line=dict(color="#3b82f6")),
        go.Scatter(x=[k for k, s in zip(curve.ks, seen) if k >= last], y=[v for v, k in zip(curve.speedup, curve.ks) if k >= last],
                   mode="lines+markers", name="speedup, extrapolated", line=dict(color="#3b82f6", dash="dash")),
        go.Scatter(x=curve.ks, y=curve.tau, mode="lines", name="τ (tokens per round)", yaxis="y2",
                   line=dict(color="#a855f7")),
        go.Scatter(x=[curve.best_k], y=[curve.best_speedup], mode="markers+text", name="best fixed K",
                   text=[f"best K = {curve.best_k}"], textposition="top center",
                   marker=dict(size=12, color="#f59e0b", symbol="star")),
    ]
    return _figure(traces, title, x, "speedup ×", yaxis2=dict(title=dict(text="τ"), overlaying="y", side="right"),
                   legend=dict(orientation="h", y=-0.25))


def make_replay_figure(results: list[ReplayResult]) -> go.Figure:
    title, x, y = "What-if replay: rounds needed at each K (exact, greedy runs)", "K", "rounds"
    if not results:
        return empty_figure(title, x, y, "not measured: no replayable run (greedy, deterministic drafter)")
    traces = [go.Scatter(x=r.ks, y=r.rounds, mode="lines+markers", name=r.run_id[:8],
                         customdata=r.tau, hovertemplate="K=%{x}: %{y} rounds, τ %{customdata:.2f}<extra></extra>")
              for r in results]
    return _figure(traces, title, x, y, legend=dict(orientation="h", y=-0.25))


def make_audit_figure(positions: list, run_id: str) -> go.Figure:
    title, x, y = f"Audit {run_id[:8]}: accepted vs expected per position", "draft position", "acceptance"
    if not positions:
        return empty_figure(title, x, y, "not measured: no sampled decisions")
    obs = Rates([p.position for p in positions], [p.tested for p in positions], [p.accepted for p in positions],
                [p.accepted / p.tested if p.tested else None for p in positions],
                [p.lo for p in positions], [p.hi for p in positions])
    traces = [
        go.Bar(x=obs.x, y=obs.rate, error_y=_errors(obs), name="observed (95% interval)", marker=dict(color="#22c55e")),
        go.Scatter(x=obs.x, y=[p.expected / p.tested if p.tested else None for p in positions], mode="markers",
                   name="expected Σ min(1, p/q) / n", marker=dict(size=12, color="#111827", symbol="line-ew-open")),
    ]
    return _figure(traces, title, x, y, yaxis=dict(title=dict(text=y), range=[0, 1.05]), legend=dict(orientation="h", y=-0.25))


PANEL_HEIGHT = 330
GRID_COLS = 2


def make_analysis_figure(group, replays: list[ReplayResult]) -> dict | go.Figure:
    """The configuration's six panels (per-position acceptance, τ and speedup by K, by output
    position, by context length, the round × position heatmap, what-if replay) as one
    figure dict: panel i on axes x{i+1}/y{i+1}, titled by an annotation above it."""
    panels = [make_position_figure(group.per_position), make_k_figure(group.k),
              make_binned_figure(group.by_output_position, "output position"),
              make_binned_figure(group.by_context_length, "context length"),
              make_heatmap_figure(group.heatmap), make_replay_figure(replays)]
    return combine(panels)


def combine(panels: list[go.Figure], cols: int = GRID_COLS) -> dict | go.Figure:
    """Panels laid out row by row on one figure, keeping each one's traces, axis titles,
    ranges, secondary y axis and "not measured" note."""
    rows = -(-len(panels) // cols)
    layout: dict = dict(height=rows * PANEL_HEIGHT + 60, margin=dict(l=60, r=30, t=40, b=40), annotations=[],
                        legend=dict(orientation="h", y=-40 / (rows * PANEL_HEIGHT)), hovermode="closest")
    data: list[dict] = []
    spare = len(panels)  # secondary y axes are numbered after the panels' own
    for i, fig in enumerate(panels):
        r, c = divmod(i, cols)
        x0, x1 = c / cols + (0.02 if c == 0 else 0.07), (c + 1) / cols - 0.06
        y1 = 1 - r / rows - 0.09 / rows  # room for the panel's title above it
        y0 = 1 - (r + 1) / rows + 0.2 / rows  # and for its x axis title below
        n = "" if i == 0 else str(i + 1)
        own = fig.layout.to_plotly_json()
        layout[f"xaxis{n}"] = dict(domain=[x0, x1], anchor=f"y{n}", title=own.get("xaxis", {}).get("title", {}))
        layout[f"yaxis{n}"] = dict(domain=[y0, y1], anchor=f"x{n}",
                                   **{k: v for k, v in own.get("yaxis", {}).items() if k in ("title", "range", "autorange")})
        layout["annotations"].append(dict(text=own["title"]["text"], x=(x0 + x1) / 2, y=y1, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=13)))
        layout["annotations"] += [{**a, "xref": f"x{n} domain", "yref": f"y{n} domain"} for a in own.get("annotations", [])]
        second = None
        if "yaxis2" in own:
            spare += 1
            second = str(spare)
            layout[f"yaxis{second}"] = {**own["yaxis2"], "overlaying": f"y{n}", "anchor": f"x{n}", "side": "right"}
        for trace in fig.data:
            t = trace.to_plotly_json()
            t["xaxis"], t["yaxis"] = f"x{n}", (f"y{second}" if t.get("yaxis") == "y2" and second else f"y{n}")
            if not t.get("name"):
                t["showlegend"] = False
            if t.get("type") == "heatmap":
                t["colorbar"] = {**t.get("colorbar", {}), "x": x1 + 0.01, "y": (y0 + y1) / 2, "len": y1 - y0,
                                 "yanchor": "middle", "thickness": 12}
            data.append(t)
    # a plain dict skips Plotly's validation (a deep copy of every trace); Streamlit refuses
    # a dict without traces, so a figure whose panels are all empty is built as one
    return {"data": data, "layout": layout} if data else go.Figure(layout=layout)


__all__ = ["make_analysis_figure", "combine", "empty_figure", "make_position_figure", "make_binned_figure", "make_heatmap_figure", "make_k_figure",
           "make_replay_figure", "make_audit_figure"]
