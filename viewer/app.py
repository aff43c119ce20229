"""specviz viewer entry point: `streamlit run viewer/app.py -- --traces DIR [--run RUN]`.

Initialises session state, then builds the navigation; each page lives in viewer/pages/.
The URL path names the page (runs, replay, compare, sql); query parameters carry the
run(s) and scrub position (see viewer/session.py), so links reopen the same moment.
"""

from __future__ import annotations

import streamlit as st

from viewer import session

st.set_page_config(page_title="specviz", page_icon="⚡", layout="wide")
session.init()

# With a run given at launch (`specviz view RUN`) the app opens on Replay.
opens_replay = bool(st.session_state.launch_run)
pages = [
    st.Page("pages/runs.py", title="Runs", icon="📋", url_path="runs", default=not opens_replay),
    st.Page("pages/replay.py", title="Replay", icon="▶️", url_path="replay", default=opens_replay),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/sql.py", title="SQL", icon="🗄️", url_path="sql"),
]
st.navigation(pages).run()
