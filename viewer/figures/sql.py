"""SQL page figures: a query result (pandas DataFrame) in, a guessed chart out."""

from __future__ import annotations

import plotly.graph_objects as go

from viewer.figures.base import figure



# Columns that name a setting, a place or a thing (draft length, round, position, ids) are
# dimensions: as the chart's value they say nothing, so they are the x axis or the last pick.
DIMENSIONS = {"k", "round", "position", "seq", "token_index", "top_k", "seed", "max_tokens", "attempt",
              "ngram_n", "source_pos", "n_events", "date"}


def numeric_columns(df) -> list[str]:
    return [c for c in df.columns if str(df[c].dtype).startswith(("int", "uint", "float", "Int", "Float", "UInt"))]


def is_dimension(name) -> bool:
    name = str(name).lower()
    return name in DIMENSIONS or name.endswith(("_id", "_ids", "_ns"))


def value_columns(df, x) -> list[str]:
    """Numeric columns that can be the chart's value, best first: measures (fractional
    ones, then counts) in query order, dimensions last."""
    ys = [c for c in numeric_columns(df) if c != x]
    return sorted(ys, key=lambda c: (is_dimension(c), not str(df[c].dtype).lower().startswith("float")))


def x_column(df):
    """The first label column; else the first numeric dimension (k, round...); else the first column."""
    numeric = numeric_columns(df)
    labels = [c for c in df.columns if c not in numeric]
    return labels[0] if labels else next((c for c in numeric if is_dimension(c)), df.columns[0])


def make_auto_figure(df, y: str | None = None) -> go.Figure | None:
    """A chart guessed from a query result (a pandas DataFrame); None when nothing fits.

    x is ``x_column``; y is `y` or the best of ``value_columns``. With a second label
    column, it splits the bars by colour (acceptance by K × temperature). Long numeric x
    gives a line instead of bars.
    """
    if df is None or len(df) == 0 or len(df.columns) < 2:
        return None
    numeric = numeric_columns(df)
    labels = [c for c in df.columns if c not in numeric]
    x = x_column(df)
    ys = value_columns(df, x)
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
