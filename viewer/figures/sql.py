"""SQL page figures: a query result (pandas DataFrame) in, a guessed chart out."""

from __future__ import annotations

import plotly.graph_objects as go

from viewer.figures.base import figure



def numeric_columns(df) -> list[str]:
    return [c for c in df.columns if str(df[c].dtype).startswith(("int", "uint", "float", "Int", "Float", "UInt"))]


def make_auto_figure(df, y: str | None = None) -> go.Figure | None:
    """A chart guessed from a query result (a pandas DataFrame); None when nothing fits.

    x is the first non-numeric column (else the first column); y is `y` or the first
    other numeric column. With a second label column, it splits the bars by colour
    (acceptance by K × temperature). Long numeric x gives a line instead of bars.
    """
    if df is None or len(df) == 0 or len(df.columns) < 2:
        return None
    numeric = numeric_columns(df)
    labels = [c for c in df.columns if c not in numeric]
    x = labels[0] if labels else df.columns[0]
    ys = [c for c in numeric if c != x]
    if not ys:
        return None
    y = y if y in ys else ys[0]
    df = df.head(2000)
    if len(labels) >= 2:
        traces = [dict(type="bar", name=f"{labels[1]}={key}", x=part[x].astype(str).to_numpy(), y=part[y].to_numpy())
                  for key, part in df.groupby(labels[1], sort=True, dropna=False)]
        # Categories in the query's row order (its ORDER BY), not in order of first trace.
        order = list(dict.fromkeys(df[x].astype(str)))
        return figure(traces, f"{y} by {x} and {labels[1]}", height=360, barmode="group",
                       xaxis=dict(type="category", categoryorder="array", categoryarray=order, title=dict(text=str(x))),
                       yaxis=dict(title=dict(text=str(y))))
    line = x in numeric and len(df) > 20
    xs = (df[x] if line else df[x].astype(str)).to_numpy()
    trace = dict(type="scatter", mode="lines+markers") if line else dict(type="bar")
    return figure([dict(trace, name=str(y), x=xs, y=df[y].to_numpy())], f"{y} by {x}", height=360,
                   xaxis=dict(type="linear" if line else "category", title=dict(text=str(x))),
                   yaxis=dict(title=dict(text=str(y))))
