"""What every figure builder shares: one construction path, the legend placement and the
acceptance-rate division. Builders live in one module per page."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

# Plotly's validation deep-copies and checks every property: half of a figure's build cost.
# The builders write plain nested dicts (no magic underscores like marker_color, which
# only validation expands), and tests build every figure with VALIDATE on so a bad
# property still fails there.
VALIDATE = False


def figure(traces: list[dict], title: str, height: int = 300, **layout) -> go.Figure:
    """One construction per figure: traces as dicts holding numpy arrays."""
    layout = dict(dict(title=dict(text=title, font=dict(size=14)), height=height,
                       margin=dict(l=40, r=10, t=40, b=30)), **layout)
    return go.Figure(data=traces, layout=layout, _validate=VALIDATE)


def legend_below(y: float = -0.3) -> dict:
    return dict(orientation="h", y=y)


def rate(tested: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """accepted / tested, 0 where nothing was tested."""
    return np.divide(accepted, tested, out=np.zeros(len(tested)), where=tested > 0)
