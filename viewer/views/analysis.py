"""Analysis: the numbers of `specviz analyze` drawn — acceptance with intervals, where it
falls off, τ(K) and speedup(K) with the best K, what-if replay, the audit's verdicts and
the metric conventions. Same functions as the CLI (specviz.analysis).
Deep link: ``/analysis?runs=a,b`` or ``?where=<SQL condition>``."""

from __future__ import annotations

import streamlit as st

from viewer import analysis_figures as af
from viewer import data, pages, session

ss = pages.header("Analysis")
ss.setdefault("analysis_runs", [])
ss.setdefault("analysis_where", "")

if link := session.consume_link("runs"):
    ss.analysis_runs = pages.full_ids([r for r in link.split(",") if r])  # unique prefixes, as everywhere
if link := session.consume_link("where"):
    ss.analysis_where = link
if not ss.analysis_runs and not ss.analysis_where and ss.get("run"):
    ss.analysis_runs = [ss.run[1]]  # the run open on Replay

traces = session.traces_dir()
ids = [r["run_id"] for r in data.list_runs(traces)]
if unknown := [r for r in ss.analysis_runs if r not in ids]:
    st.warning(f"No single run in {traces} starts with: {', '.join(unknown)}")
c1, c2 = st.columns([3, 2])
picked = c1.multiselect("Runs", ids, default=[r for r in ss.analysis_runs if r in ids], key="analysis_pick",
                        help="Runs to analyse together; runs of one configuration are pooled.")
where = c2.text_input("or a condition over runs (SQL)", value=ss.analysis_where, key="analysis_where_box",
                      placeholder="drafter LIKE 'ngram%' AND k = 4")
ss.analysis_runs, ss.analysis_where = list(picked), where.strip()
session.set_link(runs=",".join(picked) or None, where=ss.analysis_where or None)
if not picked and not ss.analysis_where:
    st.info("Choose runs, or type a condition such as `temperature = 0`.")
    st.stop()


@st.cache_data(max_entries=16, show_spinner="Analysing…")
def report_for(traces_dir: str, run_ids: tuple[str, ...], where: str, version: tuple):
    from specviz.analysis import analyze

    # its own connection: the result is shared, the connection is not
    return data.on_current_files(traces_dir, lambda con: analyze(con, list(run_ids), where=where or None))


try:
    version = data.traces_version(traces)
    report = report_for(traces, tuple(picked), ss.analysis_where, version)
except data.trace_error_types() as exc:
    st.error(f"Cannot analyse: {exc}")
    st.stop()

groups = report.groups
labels = [f"{g.label} ({len(g.run_ids)} runs)" for g in groups]
g = groups[st.selectbox("Configuration", range(len(groups)), format_func=labels.__getitem__, key="analysis_group")
           if len(groups) > 1 else 0]

k = g.k
m1, m2, m3, m4 = st.columns(4)
m1.metric("Runs", len(g.run_ids))
m2.metric("Best fixed K (model)", "—" if k is None else f"{k.best_k}  ({k.best_speedup:.2f}×)")
m3.metric("Recorded rounds (model)", "—" if k is None else f"{k.recorded_speedup:.2f}×")
m4.metric("Oracle K per round", "—" if k is None else f"{k.oracle_speedup:.2f}×",
          None if k is None else f"{k.left_on_table:+.0%} left on the table")
for note in g.notes:
    st.caption(f"note: {note}")

mine = [r for r in report.runs if r.run_id in set(g.run_ids)]


@st.cache_data(max_entries=16, show_spinner=False)
def panels_for(traces_dir: str, run_ids: tuple[str, ...], where: str, version: tuple, group: int):
    """The six panels' figure, kept beside the report it draws (same key but the group):
    every rerun of the page (a widget touched) would otherwise rebuild and revalidate it."""
    rep = report_for(traces_dir, run_ids, where, version)  # cached: the page just asked for it
    g = rep.groups[group]
    mine = [r for r in rep.runs if r.run_id in set(g.run_ids)]
    return af.make_analysis_figure(g, [r.replay for r in mine if r.replay is not None])


# one figure for the six panels: each separate chart costs the browser its own draw
st.plotly_chart(panels_for(traces, tuple(picked), ss.analysis_where, version, groups.index(g)), key="an_grid")

st.subheader("Losslessness audit")
# Static tables, not st.dataframe: its canvas grid costs the browser more than a chart.
st.table([{"run": r.run_id, "K": "auto" if r.k_policy == "auto" else r.k, "verdict": r.audit.verdict,
           "details": " · ".join(r.audit.details + ([r.replay_note] if r.replay_note else []))} for r in mine],
         hide_index=True)
sampled = [r for r in mine if r.audit.positions]
if sampled:
    which = st.selectbox("Sampled run", range(len(sampled)), format_func=lambda i: sampled[i].run_id,
                         key="analysis_audit_run") if len(sampled) > 1 else 0
    st.plotly_chart(af.make_audit_figure(sampled[which].audit.positions, sampled[which].run_id), key="an_audit_fig")

st.subheader("Metric conventions")
c = g.conventions
st.table([
    {"engine": "specviz", "metric": "acceptance_rate = accepted / tested", "value": c.acceptance_rate},
    {"engine": "specviz", "metric": "τ = produced / rounds", "value": c.tau},
    {"engine": "vLLM", "metric": "draft_acceptance_rate = accepted / drafted", "value": c.vllm_draft_acceptance_rate},
    {"engine": "vLLM", "metric": "mean_acceptance_length = 1 + accepted / num_drafts", "value": c.vllm_mean_acceptance_length},
    {"engine": "SGLang", "metric": "spec_accept_length = produced / verify passes", "value": c.sglang_spec_accept_length},
    {"engine": "llama.cpp", "metric": f"draft_n_accepted / draft_n = {c.llamacpp_draft_n_accepted} / {c.llamacpp_draft_n}",
     "value": c.llamacpp_acceptance},
], hide_index=True)
