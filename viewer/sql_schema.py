"""The SQL views' columns for the SQL page's schema browser.

Read with DuckDB's DESCRIBE on the page's own connection, the same source the README's
column tables are tested against (tests/test_readme_views.py): what the browser lists
is exactly what a query over this directory can name (a partitioned store adds `date`
to `events`, for instance).
"""

from __future__ import annotations

import streamlit as st

from specviz.sql import VIEWS
from viewer import data

VIEW_NAMES = ("runs", "events", *VIEWS)
README_VIEWS = "README.md, The trace store → SQL → Views"


# Binding the views reads file footers, not rows; a short TTL picks up a store that
# gains its first date partition (and with it `events.date`).
@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def view_columns(traces_dir: str) -> dict[str, list[tuple[str, str]]]:
    """{view: [(column, DuckDB type), ...]} in the views' own column order."""
    con = data.new_sql_connection(traces_dir)
    try:
        return {v: [(row[0], row[1]) for row in con.execute(f"DESCRIBE {v}").fetchall()] for v in VIEW_NAMES}
    finally:
        con.close()
