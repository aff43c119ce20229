"""What `specviz view` serves: the viewer (app.py) as Streamlit's ASGI app, plus the
player's payload route and the middleware that starts reading a linked run at once
(viewer/prefetch.py), and the player's files served so a browser keeps them
(viewer/player_files.py). Streamlit's `streamlit run` finds ``app`` here and serves it with
uvicorn; `streamlit run viewer/app.py` still serves the pages alone."""

import logging

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import Route


class _RuntimeNotStartedYet(logging.Filter):
    """Streamlit warns "No runtime found" for each @st.cache_data decorated before its
    runtime starts, as the viewer's readers are when this module imports them: harmless
    (a cache picks its real storage on its first call, in the runtime), but it was the only
    thing besides specviz's banner in the terminal of `specviz view`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No runtime found")


_cache_log = logging.getLogger("streamlit.runtime.caching.cache_data_api")
_cache_log.addFilter(_quiet := _RuntimeNotStartedYet())
try:
    from viewer import data
    from viewer.player_files import PlayerFiles
    from viewer.prefetch import PAYLOAD_ROUTE, PREFETCHER, PrefetchOnRequest, payload_endpoint
finally:
    _cache_log.removeFilter(_quiet)

PREFETCHER.serving = True
# The imports a first read needs (~1 s of CPU), started with the server rather than on the
# first page run: a run opened right after the first page otherwise read while they ran.
data.warm_imports()
app = st.App("app.py", routes=[Route(PAYLOAD_ROUTE, payload_endpoint, methods=["GET"])],
             middleware=[Middleware(PlayerFiles), Middleware(PrefetchOnRequest)])
