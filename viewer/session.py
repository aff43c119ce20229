"""Session state and deep links shared by the pages.

The URL carries what a colleague needs to land on the same moment of the same run:
the page (its url path), ``run`` (or ``runs=a,b`` on Compare) and ``seq`` (the scrub
position, an event index). Session state carries the rest. Query parameters are read
into state once per distinct link, then state writes them back, so browser links stay
current as the user scrubs.
"""

from __future__ import annotations

import argparse
import os
import sys

import streamlit as st

ENV_TRACES = "SPECVIZ_TRACES"
ENV_RUN = "SPECVIZ_VIEW_RUN"


def launch_args() -> argparse.Namespace:
    """What `specviz view` passed: `streamlit run viewer/app.py -- --traces DIR [--run RUN]`;
    several --traces (files and directories) become one os.pathsep-joined source."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--traces", action="append")
    parser.add_argument("--run", default=os.environ.get(ENV_RUN) or None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    args.traces = os.pathsep.join(args.traces) if args.traces else os.environ.get(ENV_TRACES, "traces")
    return args


def init() -> None:
    """Defaults for every key the pages use (the entry file calls this before any page)."""
    args = launch_args()
    ss = st.session_state
    ss.setdefault("traces_dir", args.traces)
    ss.setdefault("launch_run", args.run)
    ss.setdefault("run", None)  # the run on Replay: (source path, run id)
    ss.setdefault("compare", [])  # two (source path, run id) on Compare
    ss.setdefault("pos", None)  # scrub position on Replay (event index)
    ss.setdefault("playing", False)
    ss.setdefault("speed", "real time")
    ss.setdefault("follow", True)
    ss.setdefault("opened", {})  # run id -> file path, for traces opened by path or upload
    ss.setdefault("seen_links", set())


def traces_dir() -> str:
    init()
    return st.session_state.traces_dir


def source_path(run_id: str) -> str:
    """Runs opened from a file are read from it; the rest from the traces directory."""
    return st.session_state.opened.get(run_id, traces_dir())


def consume_link(key: str) -> str | None:
    """A query parameter's value the first time this session sees it (a pasted link)."""
    value = st.query_params.get(key)
    if value is None:
        return None
    mark = (key, value)
    if mark in st.session_state.seen_links:
        return None
    st.session_state.seen_links.add(mark)
    return value


def set_link(**params: str | None) -> None:
    """Write the current page's deep-link parameters (None removes one)."""
    for key, value in params.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
        st.session_state.seen_links.add((key, value))
