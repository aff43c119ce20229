"""Compare: two runs side by side — texts aligned with the first divergence marked,
acceptance per round and per position, latency. Deep link: ``?runs=a,b``."""

from __future__ import annotations

import streamlit as st

from viewer import pages, session
from viewer.figures import compare as figures
from viewer.text import colored_html, first_divergence

ss = pages.header("Compare")

link = session.consume_link("runs")
if link:
    ss.compare = [r for r in link.split(",") if r][:2]

pages.choose_runs("Two runs to compare", 2, "compare")

session.set_link(runs=",".join(ss.compare))


def load_states() -> dict:
    states = {}
    for tag, run_id in zip("AB", ss.compare):
        index = pages.load_or_stop(run_id, "compare")
        states[f"{tag} {run_id[:8]}"] = index.state(index.n_events - 1)
    return states


first = load_states()
# A run still recording keeps this page current (re-read every 2 s) without a reload.
any_live = any(s.index.live for s in first.values())


@st.fragment(run_every=2 if any_live else None)
def compare_view() -> None:
    states = load_states()
    (name_a, a), (name_b, b) = states.items()
    div = first_divergence(a.commits, b.commits)
    if div is None:
        st.success(f"Identical outputs ({len(a.commits)} tokens).")
    else:
        st.warning(f"Outputs diverge at token {div} (marked ▶).")

    cols = st.columns(2)
    for col, (name, state) in zip(cols, states.items()):
        s = state.index.started
        m = state.latest_metrics
        with col:
            st.subheader(f"`{name}`")
            if s is not None:
                st.caption(f"{s.method} · drafter `{s.drafter or '—'}` · K={s.k} · T={s.temperature:g} · "
                           f"{'live' if state.index.live else 'finished'}")
            c1, c2, c3 = st.columns(3)
            c1.metric("Tokens", len(state.commits))
            c2.metric("Acceptance", "—" if m is None or m.acceptance_cumulative is None else f"{m.acceptance_cumulative:.0%}")
            c3.metric("Speedup", "—" if m is None or m.speedup is None else f"{m.speedup:.2f}×")
            with st.container(height=220, key=f"cmp_text_{name}"):
                st.html(colored_html(state.commits, mark_at=div, memo=state.index.memo))

    st.plotly_chart(figures.make_compare_acceptance_figure(states), key="cmp_acceptance")
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.make_compare_position_figure(states), key="cmp_position")
    c2.plotly_chart(figures.make_compare_latency_figure(states), key="cmp_latency")


compare_view()
