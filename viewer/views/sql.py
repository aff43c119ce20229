"""SQL: queries over the store's views (runs, events, drafts, verifications, rounds,
tokens, errors) with presets, a Run button, a schema browser, a table (capped, and
saying so), an automatic chart and CSV download.

Queries go through ``data.run_sql`` (``specviz.sql.query`` on this session's own
locked-down connection), so the page refuses exactly what `specviz sql` refuses (writes,
ATTACH, SET, other files...) and stops a query at its time limit.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from viewer import data, pages, sql_schema
from viewer.figures import sql as figures

PRESETS = {
    "Acceptance by K × temperature": (
        "SELECT CAST(k AS VARCHAR) AS k, 'T=' || CAST(temperature AS VARCHAR) AS temperature,\n"
        "       avg(acceptance_rate) AS acceptance, count(*) AS runs\n"
        "FROM runs WHERE method = 'speculative'\n"
        "GROUP BY k, temperature ORDER BY k, temperature"
    ),
    "τ (tokens per verify) by drafter": (
        "SELECT drafter, avg(tau) AS tau, count(*) AS runs\n"
        "FROM runs WHERE tau IS NOT NULL\n"
        "GROUP BY drafter ORDER BY tau DESC"
    ),
    "Speedup by method": (
        "SELECT method, avg(speedup) AS speedup, avg(tokens_per_s) AS tokens_per_s, count(*) AS runs\n"
        "FROM runs GROUP BY method ORDER BY speedup DESC NULLS LAST"
    ),
    "Per-position survival": (
        "-- share of drafts at each position that were accepted (all earlier ones were too)\n"
        "SELECT CAST(d.position AS VARCHAR) AS position,\n"
        "       avg(CASE WHEN v.status = 'accepted' THEN 1.0 ELSE 0.0 END) AS survival,\n"
        "       count(*) AS drafted\n"
        "FROM drafts d LEFT JOIN verifications v\n"
        "  ON v.run_id = d.run_id AND v.round = d.round AND v.position = d.position\n"
        " AND v.status IN ('accepted', 'rejected')\n"
        "GROUP BY d.position ORDER BY d.position"
    ),
}

CUSTOM = "(custom)"
MAX_ROWS = 100_000  # rows shown and downloadable; a longer result says it was cut

ss = pages.header("SQL")
traces = ss.traces_dir
st.caption(f"Read-only views over `{traces}`. A query runs when you press Run (or pick a preset).")


def _use_preset() -> None:
    if ss.sql_preset in PRESETS:
        ss.sql_text = ss.sql_ran = PRESETS[ss.sql_preset]


def _edited() -> None:
    # Once the text is no longer the preset's, the preset box must not claim it is.
    if ss.sql_text != PRESETS.get(ss.sql_preset):
        ss.sql_preset = CUSTOM


def _run() -> None:
    ss.sql_ran = ss.sql_text


def schema_browser() -> None:
    st.markdown("**Views**")
    for view, columns in sql_schema.view_columns(traces).items():
        with st.expander(f"{view} · {len(columns)} columns"):
            st.dataframe(pd.DataFrame(columns, columns=["column", "type"]), hide_index=True,
                         key=f"schema_{view}", height=min(35 * len(columns) + 38, 320))
    st.caption(f"Each column's meaning: {sql_schema.README_VIEWS}.")


def show_error(message: str) -> None:
    """The message verbatim: DuckDB's wording holds `*`, `_` and backticks that Markdown would eat."""
    st.error("Query refused or failed:")
    st.code(message, language=None, wrap_lines=True)


ss.setdefault("sql_preset", next(iter(PRESETS)))
ss.setdefault("sql_text", PRESETS.get(ss.sql_preset, ""))
ss.setdefault("sql_ran", ss.sql_text)
editor, browser = st.columns([3, 1])
with browser:
    schema_browser()
with editor:
    st.selectbox("Preset", [CUSTOM, *PRESETS], key="sql_preset", on_change=_use_preset)
    st.text_area("Query", key="sql_text", height=180, on_change=_edited)
    st.button("Run", type="primary", key="sql_run", on_click=_run)
    timeout = st.number_input("Time limit (s)", min_value=1.0, max_value=600.0, value=data.SQL_TIMEOUT_S, step=5.0,
                              key="sql_timeout", help="A query still running after this long is stopped.")
    if ss.sql_text.strip() != ss.sql_ran.strip():
        st.caption("The query was edited: press Run to see its results.")
    try:
        df = data.run_sql(traces, ss.sql_ran, max_rows=MAX_ROWS + 1, timeout=timeout)
    except data.trace_error_types() as exc:
        show_error(str(exc))
        st.stop()
    except Exception as exc:  # the store's connection could not be opened at all
        show_error(f"Cannot open {traces} for SQL: {type(exc).__name__}: {exc}")
        st.stop()
    if len(df) > MAX_ROWS:
        df = df.head(MAX_ROWS)
        st.warning(f"Only the first {MAX_ROWS:,} rows are shown and downloadable: add a LIMIT, a WHERE or a "
                   "GROUP BY to see the rest.")
    else:
        st.caption(f"{len(df):,} row(s)")
    st.dataframe(df, hide_index=True, key="sql_result")
    st.download_button("Download CSV", df.to_csv(index=False).encode(), file_name="specviz-query.csv",
                       mime="text/csv", key="sql_csv")
    values = figures.value_columns(df, figures.x_column(df)) if len(df.columns) > 1 else []
    y = st.selectbox("Chart value", values, key="sql_chart_y") if len(values) > 1 else None
    fig = figures.make_auto_figure(df, y)
    if fig is not None:
        st.plotly_chart(fig, key="sql_chart")
    else:
        st.caption("No chart: the result needs a label column and a numeric one.")
