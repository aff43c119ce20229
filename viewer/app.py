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

# The favicon inline (the token tree: accepted green, bonus blue, a rejected draft red): a
# ":material/...:" icon made every browser fetch it from fonts.gstatic.com.
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M5 20h22M15 20l7-10" '
        'stroke="#444" stroke-width="2.5"/><circle cx="5" cy="20" r="4.5" fill="#16a34a"/><circle cx="15" '
        'cy="20" r="4.5" fill="#16a34a"/><circle cx="27" cy="20" r="4.5" fill="#2563eb"/><circle cx="22" '
        'cy="10" r="4" fill="#dc2626"/></svg>')
st.set_page_config(page_title="specviz", page_icon=ICON, layout="wide")
session.init()
data.warm_imports()
pages.navigation().run()
