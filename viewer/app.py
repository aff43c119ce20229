"""specviz viewer entry point: `streamlit run viewer/app.py -- --traces DIR [--run RUN]`.

Initialises session state, then builds the navigation; each page lives in viewer/views/
(not pages/: Streamlit treats a pages/ folder beside the entry file as a legacy
multipage app, and a deep link opened before the first st.navigation call would run the
page without this entry file).
The URL path names the page (runs, replay, compare, sql); query parameters carry the
run(s) and scrub position (see viewer/session.py), so links reopen the same moment.
"""

from __future__ import annotations

import streamlit as st

from viewer import session

st.set_page_config(page_title="specviz", page_icon=":material/account_tree:", layout="wide")
session.init()

# With a run given at launch (`specviz view RUN`) the app opens on Replay.
opens_replay = bool(st.session_state.launch_run)
pages = [
    st.Page("views/runs.py", title="Runs", icon=":material/list:", url_path="runs", default=not opens_replay),
    st.Page("views/replay.py", title="Replay", icon=":material/play_circle:", url_path="replay", default=opens_replay),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("views/sql.py", title="SQL", icon=":material/database:", url_path="sql"),
]
st.navigation(pages).run()
