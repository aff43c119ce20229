"""SQL: queries over the store's views (runs, events, drafts, verifications, rounds,
tokens, errors) with presets, a table, an automatic chart and CSV download.

Queries go through ``specviz.sql.query`` on the store's locked-down connection, so the
page refuses exactly what `specviz sql` refuses (writes, ATTACH, SET, other files...).
"""

from __future__ import annotations

import streamlit as st

from viewer import data, pages
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

ss = pages.header("SQL")
traces = ss.traces_dir
st.caption(f"Read-only views over `{traces}`: runs, events, drafts, verifications, rounds, tokens, errors.")


def _use_preset() -> None:
    name = ss.sql_preset
    if name in PRESETS:
        ss.sql_text = PRESETS[name]


ss.setdefault("sql_preset", next(iter(PRESETS)))
ss.setdefault("sql_text", PRESETS[ss.sql_preset] if ss.sql_preset in PRESETS else "")
st.selectbox("Preset", ["(custom)", *PRESETS], key="sql_preset", on_change=_use_preset)
query = st.text_area("Query", key="sql_text", height=160)

try:
    df = data.run_sql(traces, query)
except data.trace_error_types() as exc:
    st.error(f"Query refused or failed: {exc}")
    st.stop()
except Exception as exc:  # the store's connection could not be opened at all
    st.error(f"Cannot open `{traces}` for SQL: {type(exc).__name__}: {exc}")
    st.stop()

st.caption(f"{len(df)} row(s)")
st.dataframe(df, hide_index=True, key="sql_result")
st.download_button("Download CSV", df.to_csv(index=False).encode(), file_name="specviz-query.csv",
                   mime="text/csv", key="sql_csv")
numeric = [c for c in figures.numeric_columns(df) if c != df.columns[0]]
if len(numeric) > 1:
    y = st.selectbox("Chart column", numeric, key="sql_chart_y")
else:
    y = None
fig = figures.make_auto_figure(df, y)
if fig is not None:
    st.plotly_chart(fig, key="sql_chart")
else:
    st.caption("No chart: the result needs a label column and a numeric one.")
