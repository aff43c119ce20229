"""Replay: one run as of a scrub position — tree, text, timeline and metrics.

Everything below the controls is drawn from ``index.state(pos)``; the controls only move
``pos`` (session state, mirrored in the URL as ``seq``). Play and live-follow are a
fragment that reruns on a timer, so the rest of the app is not re-executed per tick.
"""

from __future__ import annotations

import time
from bisect import bisect_right

import streamlit as st

from viewer import data, pages, session
from viewer.figures import replay as figures
from viewer.replay_controls import SPEEDS, TICK_S, clamp, render_controls
from viewer.text import colored_html

TEXT_TOKENS = 600  # tokens of output text drawn; a longer run notes how many are before them

ss = pages.header("Replay")

# A pasted link (?run=…&seq=…) wins over whatever this session had open.
link_run = session.consume_link("run")
if link_run:
    ss.run, ss.pos, ss.playing, ss.follow = link_run, None, False, True
link_seq = session.consume_link("seq")
if link_seq is not None and link_seq.lstrip("-").isdigit():
    ss.pos = int(link_seq)
link_round = session.consume_link("round")  # ?round=N: the end of round N (seq wins if both)
if ss.run is None and ss.launch_run:
    ss.run = ss.launch_run

if ss.run is None:
    runs = data.list_runs(session.traces_dir())
    ids = [r["run_id"] for r in runs] + list(ss.opened)
    if not ids:
        st.info(f"No runs in `{session.traces_dir()}` yet. Record one with `specviz record`, or open a file on the Runs page.")
        st.stop()
    choice = st.selectbox("Run", ids, index=None, placeholder="choose a run to replay")
    if choice is None:
        st.stop()
    ss.run, ss.pos = choice, None

source = data.Source(session.source_path(ss.run), ss.run)
first_index = pages.load_or_stop(ss.run, "replay")

if link_round is not None and link_round.isdigit() and link_seq is None:
    ss.pos = first_index.round_end(int(link_round))

started = first_index.started
if started is not None:
    st.caption(
        f"run `{first_index.events[0].run_id or ss.run}` · {started.method} · drafter `{started.drafter or '—'}` → "
        f"target `{started.target_model or started.target or '—'}` · K={started.k} · T={started.temperature:g}"
    )
    with st.expander("Prompt", expanded=False):
        st.text(started.prompt)

ss.setdefault("tree_window", figures.TREE_WINDOW_ROUNDS)
with st.sidebar:  # outside the fragment: Streamlit does not let fragments draw in the sidebar
    st.select_slider("Tree window (rounds)", options=[4, 8, 12, 24, 48], key="tree_window",
                     help="Rounds of branches drawn up to the scrub position; the trunk spans them.")

# The timer runs only while something can change: playing, or a run still recording (its
# new events arrive on every tick; the position follows them only with "Follow live").
ticking = ss.playing or first_index.live


@st.fragment(run_every=TICK_S if ticking else None)
def replay_view() -> None:
    # Re-read each tick: a live run's version changes as events arrive; a finished one is cached.
    try:
        index = data.load_index(source)
    except data.trace_error_types() as exc:
        st.error(f"Cannot replay run `{ss.run}`: {exc}")
        return
    last = index.n_events - 1
    if ss.pos is None:
        ss.pos = last
    if ss.playing:
        clock = ss.play_trace_t0 + (time.monotonic() - ss.play_wall_t0) * SPEEDS[ss.speed]
        ss.pos = max(ss.pos, bisect_right(index.event_time, clock) - 1)
        if ss.pos >= last and not index.live:
            ss.playing = False
            st.rerun()  # stop the timer
    elif index.live and ss.follow:
        ss.pos = last
    ss.pos = clamp(ss.pos, 0, last)

    was_ticking = ticking
    render_controls(index)
    if (ss.playing or index.live) != was_ticking:
        st.rerun()  # the timer is set when the fragment is defined: redefine it

    state = index.state(ss.pos)
    session.set_link(run=ss.run, seq=str(ss.pos))
    render_panels(state)


def render_panels(state) -> None:
    m = state.latest_metrics
    ev = state.event
    cols = st.columns(5)
    cols[0].metric("Round", max(state.round, 0))
    cols[1].metric("Tokens", len(state.commits))
    cols[2].metric("Acceptance", "—" if m is None or m.acceptance_cumulative is None else f"{m.acceptance_cumulative:.0%}")
    cols[3].metric("Speedup", "—" if m is None or m.speedup is None else f"{m.speedup:.2f}×")
    cols[4].metric("Tokens/s", "—" if m is None else f"{m.tokens_per_s:.1f}",
                   delta=None if m is None or not m.baseline_tokens_per_s else f"{m.tokens_per_s - m.baseline_tokens_per_s:+.1f} vs baseline")
    st.caption(f"event {state.pos} of {state.index.n_events - 1}: `{type(ev).__name__ if ev else '—'}`"
               + (" · live run, still recording" if state.index.live else ""))
    errors = state.errors
    if errors:
        st.warning(f"{len(errors)} error event(s) so far; last: {errors[-1].where}: {errors[-1].message[:200]}")

    figs = figures.replay_figures(state, window=ss.get("tree_window", figures.TREE_WINDOW_ROUNDS))
    st.plotly_chart(figs["tree"], key="fig_tree")
    pending = [d for d, s in state.drafts(first_round=state.round) if s == "pending"]
    with st.container(height=180, key="text_panel"):
        st.html(colored_html(state.commits, pending, memo=state.index.memo, last=TEXT_TOKENS))
    st.plotly_chart(figs["timeline"], key="fig_timeline")
    st.plotly_chart(figs["metrics"], key="fig_metrics")

replay_view()
