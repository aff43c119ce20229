"""Runs: every run in the traces directory (live ones too), filters, and the way into
Replay (one run) or Compare (two). Trace files can be opened by path or upload."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from viewer import data, pages

ss = pages.header("Runs")
traces = ss.traces_dir
st.caption(f"Trace directory: `{traces}`")


def open_trace(path: str) -> None:
    """Validate and remember a trace file; a bad one is reported here and nowhere else."""
    try:
        p, ids = data.open_file(path)
    except data.trace_error_types() as exc:
        st.error(f"Cannot open this trace: {exc}")
        return
    for run_id in ids:
        ss.opened[run_id] = p
    st.success(f"Opened {len(ids)} run(s) from `{Path(p).name}`: " + ", ".join(f"`{i}`" for i in ids))


with st.expander("Open a trace file", expanded=False):
    c1, c2 = st.columns(2)
    path = c1.text_input("Path to a .parquet trace (or a live .jsonl log)", key="open_path")
    if c1.button("Open", key="open_btn") and path:
        open_trace(path.strip())
    upload = c2.file_uploader("…or upload one", type=["parquet", "jsonl"], key="upload")
    if upload is not None and ss.get("uploaded_name") != (upload.name, upload.size):
        ss.uploaded_name = (upload.name, upload.size)
        # Kept on disk for this server's lifetime: the store reads files, not buffers.
        tmp = Path(tempfile.mkdtemp(prefix="specviz-upload-")) / Path(upload.name).name
        tmp.write_bytes(upload.getvalue())
        open_trace(str(tmp))


def load_table() -> pd.DataFrame:
    try:
        rows = data.list_runs(traces)
    except data.trace_error_types() as exc:
        st.error(f"Cannot list `{traces}`: {exc}")
        rows = []
    for run_id, path in ss.opened.items():
        if not any(r["run_id"] == run_id for r in rows):
            rows.append({"run_id": run_id, "status": "opened file", "live": False, "prompt": Path(path).name})
    return pd.DataFrame(rows, columns=data.RUN_COLUMNS)


def apply_filters(df: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns([2, 1, 1, 1, 1, 1, 1])
    text = cols[0].text_input("Prompt contains", key="f_prompt")
    if text:
        df = df[df["prompt"].fillna("").str.contains(text, case=False, regex=False)]
    for col, name in zip(cols[1:], ("drafter", "target", "k", "temperature", "method", "status")):
        options = sorted(df[name].dropna().unique().tolist(), key=str)
        chosen = col.multiselect(name.capitalize() if name != "k" else "K", options, key=f"f_{name}")
        if chosen:
            df = df[df[name].isin(chosen)]
    return df


# The list refreshes itself so runs being recorded appear and progress without a reload.
@st.fragment(run_every=3)
def runs_table() -> None:
    df = apply_filters(load_table())
    live = int(df["live"].fillna(False).sum()) if len(df) else 0
    st.caption(f"{len(df)} run(s)" + (f", {live} recording now" if live else ""))
    st.dataframe(df, hide_index=True, key="runs_df",
                 column_config={"live": st.column_config.CheckboxColumn("live"),
                                "prompt": st.column_config.TextColumn(width="medium"),
                                "acceptance_rate": st.column_config.NumberColumn("acceptance", format="percent"),
                                "speedup": st.column_config.NumberColumn(format="%.2f×")})
    ss.run_choices = df["run_id"].tolist()
    ss.run_labels = {
        r.run_id: f"{r.run_id[:8]} · {r.status} · {r.method or '—'} · {r.drafter or '—'} · K={r.k} · {str(r.prompt or '')[:50]}"
        for r in df.itertuples()
    }


runs_table()

# Keep already-chosen runs among the options even when a filter hides them.
options = list(ss.get("run_choices", []))
options += [c for c in ss.get("chosen", []) if c not in options]
labels = ss.get("run_labels", {})
chosen = st.multiselect("Choose one run to replay, or two to compare", options, key="chosen", max_selections=2,
                        format_func=lambda run_id: labels.get(run_id, run_id))
b1, b2 = st.columns(2)
if b1.button("Replay", type="primary", disabled=len(chosen) != 1, key="go_replay"):
    ss.run, ss.pos, ss.playing, ss.follow = chosen[0], None, False, True
    pages.switch_to("replay")
if b2.button("Compare", disabled=len(chosen) != 2, key="go_compare"):
    ss.compare = list(chosen)
    pages.switch_to("compare")
