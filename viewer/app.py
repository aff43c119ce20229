"""specviz viewer entry point: `streamlit run viewer/app.py -- --traces DIR [--run RUN]`.

Initialises session state, then builds the navigation from viewer/pages.py (each page
lives in viewer/views/; not pages/: Streamlit treats a pages/ folder beside the entry
file as a legacy multipage app, and a deep link opened before the first st.navigation
call would run the page without this entry file).
The URL path names the page (runs, replay, compare, sql); query parameters carry the
run(s) and scrub position (see viewer/session.py), so links reopen the same moment.
"""

from __future__ import annotations

import streamlit as st

from viewer import data, pages, session

st.set_page_config(page_title="specviz", page_icon=":material/account_tree:", layout="wide")
session.init()
data.warm_imports()
pages.navigation().run()
