"""Compare: two runs against each other — their outputs aligned token by token, the
set-ups that make them unlike, their totals side by side, acceptance and latency charts,
and links into Replay at the divergence. Deep link: ``?runs=a,b``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from viewer import comparison, pages, session
from viewer.figures import compare as figures

ss = pages.header("Compare")

link = session.consume_link("runs")
if link:
    ss.compare = pages.full_ids([r for r in link.split(",") if r])[:2]
chosen = pages.choose_runs("Two runs to compare", 2, "compare")
session.set_link(runs=",".join(chosen))
# A run still recording keeps this page current (re-read every 2 s) without a reload.
any_live = any(pages.load_or_stop(r, "compare").live for r in chosen)


def legend(names: list[str]) -> None:
    items = "".join(
        f'<span style="margin-right:1.5em"><span style="display:inline-block;width:0.9em;height:0.9em;'
        f'background:{color};vertical-align:middle;margin-right:0.3em"></span>{name}</span>'
        for name, color in zip(names, figures.RUN_COLORS))
    st.html(f'<div style="font-family:monospace">{items}</div>')


def render_diff(a, b, names: list[str]) -> None:
    ops = comparison.align(a.commits, b.commits)
    first = comparison.first_difference(ops)
    if first is None:
        st.success(f"Identical outputs ({len(a.commits)} tokens).")
    else:
        n = comparison.counts(ops)
        st.warning(f"Outputs first differ at token {first[0]} of A (token {first[1]} of B): "
                   f"{n['replace']} substituted, {n['delete']} only in A, {n['insert']} only in B, "
                   f"{n['equal']} shared.")
        for index, run_id, name, at in zip((a, b), chosen, names, first):
            seq = comparison.divergence_seq(index, at)
            pages.link("replay", f"Replay {name} at the divergence (event {seq})", run=run_id, seq=str(seq))
    st.caption("Shared text plain; where they differ, A's tokens struck through in blue, then B's in orange.")
    with st.container(height=300, key="cmp_diff"):
        st.html(comparison.diff_html(a.commits, b.commits, ops))


@st.fragment(run_every=2 if any_live else None)
def compare_view() -> None:
    a, b = (pages.load_or_stop(r, "compare") for r in chosen)
    names = [f"{tag} {r[:8]}" for tag, r in zip("AB", chosen)]
    for problem in comparison.mismatches(a, b):
        st.warning(f"Not a like-for-like comparison: {problem}.")
    legend(names)
    # Totals beside the text, so both fit in one screen at 1024 px as at 1440 px.
    totals, text = st.columns([2, 3])
    table = pd.DataFrame({name: comparison.summary(index) for name, index in zip(names, (a, b))})
    totals.dataframe(table, key="cmp_summary", height="content")
    with text:
        render_diff(a, b, names)
    states = {name: index.state(index.n_events - 1) for name, index in zip(names, (a, b))}
    st.plotly_chart(figures.make_compare_acceptance_figure(states), key="cmp_acceptance")
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.make_compare_position_figure(states), key="cmp_position")
    c2.plotly_chart(figures.make_compare_latency_figure(states), key="cmp_latency")


compare_view()
