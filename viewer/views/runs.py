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
where = data.sources(traces)  # `specviz view` takes a directory, a file, or several of either
kind = ("Trace directory" if where[0].is_dir() else "Trace file") if len(where) == 1 else "Traces"
st.caption(f"{kind}: " + " · ".join(f"`{p}`" for p in where))


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
    for note in data.moved_notes(p):
        st.caption(note)


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
    listed = {r["run_id"] for r in rows}
    for path in dict.fromkeys(ss.opened.values()):
        try:
            rows += [r for r in data.file_rows(path) if r["run_id"] in ss.opened and r["run_id"] not in listed]
        except data.trace_error_types() as exc:
            st.error(f"Cannot read the opened file `{path}` any more: {exc}")
    df = pd.DataFrame(rows, columns=data.RUN_COLUMNS).astype({c: "Int64" for c in data.INTEGER_COLUMNS})
    df["speedup"] = [speedup_text(x, live) for x, live in zip(df["speedup"], df["live"])]
    return df


def speedup_text(speedup: float | None, live: bool | None) -> str:
    """A finished run without an autoregressive baseline has no speedup: say so, not None or 0."""
    if speedup is not None and speedup == speedup:  # NaN is missing too
        return f"{speedup:.2f}×"
    return "—" if live else "not measured"


FILTERS = {"method": "Method", "drafter": "Drafter", "k": "K", "temperature": "T", "target": "Target",
           "status": "Status"}


def apply_filters(df: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns([2, 1, 1, 1, 1, 1, 1])
    text = cols[0].text_input("Prompt contains", key="f_prompt", placeholder="any text")
    if text:
        df = df[df["prompt"].fillna("").str.contains(text, case=False, regex=False)]
    for col, (name, label) in zip(cols[1:], FILTERS.items()):
        options = sorted(df[name].dropna().unique().tolist(), key=str)
        chosen = col.multiselect(label, options, key=f"f_{name}", placeholder="any")
        if chosen:
            df = df[df[name].isin(chosen)]
    return df


COLUMNS = {
    "run_id": st.column_config.TextColumn("run", width="medium"),
    "acceptance_rate": st.column_config.NumberColumn("acceptance", format="percent", width="small"),
    "speedup": st.column_config.TextColumn("speedup", width="small", help="against the autoregressive baseline"),
    "produced": st.column_config.NumberColumn("tokens", width="small"),
    "tokens_per_s": st.column_config.NumberColumn("tok/s", format="%.1f", width="small"),
    "tau": st.column_config.NumberColumn("τ", format="%.2f", width="small"),
    "k": st.column_config.NumberColumn("K", width="small"),
    "temperature": st.column_config.NumberColumn("T", format="%g", width="small"),
    "prompt": st.column_config.TextColumn(width="large"),
    "live": st.column_config.CheckboxColumn("live"),
}


def open_replay(run_id: str) -> None:
    ss.run, ss.pos, ss.playing, ss.follow = run_id, None, False, True
    pages.switch_to("replay")


# The list refreshes itself so runs being recorded appear and progress without a reload.
@st.fragment(run_every=3)
def runs_table() -> None:
    # A click names a row of the table as it was drawn: map it through the ids drawn then,
    # not through a listing that may have gained a run since.
    picked = ss.get("runs_df", {}).get("selection", {}).get("rows", [])
    shown = ss.get("runs_shown", [])
    if picked and picked[0] < len(shown):
        open_replay(shown[picked[0]])
    df = apply_filters(load_table())
    live = int(df["live"].fillna(False).sum()) if len(df) else 0
    st.caption(f"{len(df)} run(s)" + (f", {live} recording now" if live else "") + " · click a row to replay it")
    ss.runs_shown = df["run_id"].tolist()
    st.dataframe(df, hide_index=True, key="runs_df", on_select="rerun", selection_mode="single-row",
                 column_config=COLUMNS, column_order=data.RUN_COLUMNS, placeholder="—")
    compare_picker(df)


def compare_picker(df: pd.DataFrame) -> None:
    labels = {r.run_id: f"{r.run_id[:8]} · {r.status} · {r.method or '—'} · K={r.k} · {str(r.prompt or '')[:40]}"
              for r in df.itertuples()}
    # Keep already-chosen runs among the options even when a filter hides them.
    options = list(labels) + [c for c in ss.get("chosen", []) if c not in labels]
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    chosen = c1.multiselect("Two runs to compare", options, key="chosen", max_selections=2,
                            format_func=lambda run_id: labels.get(run_id, run_id), placeholder="choose two runs")
    if c2.button("Compare", disabled=len(chosen) != 2, key="go_compare"):
        ss.compare = list(chosen)
        pages.switch_to("compare")


runs_table()

# Unreadable files never hide the runs above; they are listed here, out of the way.
problems = data.list_problems(traces)
if problems:
    with st.expander(f"{len(problems)} unreadable file(s)", expanded=False):
        st.dataframe(pd.DataFrame(problems, columns=["file", "problem"]), hide_index=True, key="problems_df")
