"""The Replay page's scrub controls: round and event sliders, steps, play/pause, speed.

Controls only move ``st.session_state.pos`` (through callbacks, which run before the
script, so the panels drawn in the same run already show the new position). A slider
that must show a position set elsewhere is drawn afresh (see _slider_key).
"""

from __future__ import annotations

import time
import streamlit as st

from specviz.replay import ReplayIndex

# Playback rates against the recorded clock; "real time" replays gaps as they happened.
SPEEDS = {"real time": 1.0, "2×": 2.0, "5×": 5.0, "20×": 20.0, "100×": 100.0}
TICK_S = 0.5  # how often play / live-follow redraws


def clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _goto(pos: int) -> None:
    """A position chosen by the user: stops playback and stops following a live run
    (otherwise the next refresh would jump back to the newest event)."""
    st.session_state.pos = pos
    st.session_state.playing = False
    st.session_state.follow = False


def _current(name: str, key: str) -> bool:
    """A change from a slider that has since been replaced (the browser had not yet heard
    of its successor) is stale: applying it would jump the scrub back."""
    return key == f"scrub_{name}_{st.session_state.get(f'nonce_{name}', 0)}"


def _on_round(index: ReplayIndex, key: str) -> None:
    if not _current("round", key):
        return
    value = st.session_state[key]
    st.session_state.shown_round = value  # the slider already shows it: keep the widget
    _goto(index.round_end(value))


def _on_event(key: str) -> None:
    if not _current("event", key):
        return
    value = st.session_state[key]
    st.session_state.shown_event = value
    _goto(value)


def _slider_key(name: str, want: int) -> str:
    """A key that changes whenever the slider must show a value the user did not set.

    Writing a moved slider's value back through session state races the browser (a
    stale value can come back as a change and jump the scrub); a fresh widget with
    `value=` cannot. The slider the user drags keeps its key, so it keeps focus.
    """
    ss = st.session_state
    if ss.get(f"shown_{name}") != want:
        ss[f"nonce_{name}"] = ss.get(f"nonce_{name}", 0) + 1
        ss[f"shown_{name}"] = want
    return f"scrub_{name}_{ss.get(f'nonce_{name}', 0)}"


def _step_round(index: ReplayIndex, delta: int) -> None:
    """Forward: to the end of this round (or of the next one when already there).
    Back: to the end of the previous round. Past either end: the first / last event."""
    ss = st.session_state
    rnd = index.event_round[ss.pos]
    if delta > 0:
        target = rnd + 1 if index.round_end(rnd) == ss.pos else rnd
    else:
        target = rnd - 1
    if target < 0:
        _goto(0)
    elif target > (index.rounds[-1] if index.rounds else -1):
        _goto(index.n_events - 1)
    else:
        _goto(index.round_end(target))


def _anchor_clock(index: ReplayIndex) -> None:
    """Playback maps wall time since this moment onto the trace's clock from `pos`."""
    ss = st.session_state
    ss.play_wall_t0 = time.monotonic()
    ss.play_trace_t0 = index.event_time[ss.pos]


def _toggle_play(index: ReplayIndex) -> None:
    ss = st.session_state
    if ss.playing:
        ss.playing = False
        return
    if ss.pos >= index.n_events - 1 and not index.live:
        ss.pos = 0  # play from the start when at the end
    ss.playing = True
    _anchor_clock(index)


def _on_speed(index: ReplayIndex) -> None:
    if st.session_state.playing:
        _anchor_clock(index)


def render_controls(index: ReplayIndex) -> None:
    ss = st.session_state
    last = index.n_events - 1
    max_round = index.rounds[-1] if index.rounds else 0
    want_round = clamp(index.event_round[ss.pos], 0, max_round)
    if max_round > 0:
        key = _slider_key("round", want_round)
        st.slider("Round", 0, max_round, value=want_round, key=key, on_change=_on_round, args=(index, key))
    if last > 0:
        key = _slider_key("event", ss.pos)
        st.slider("Event", 0, last, value=ss.pos, key=key, on_change=_on_event, args=(key,),
                  help="Finer than rounds: every draft, verdict and metrics event.")
    # Material icons ship with Streamlit's frontend; plain Unicode media glyphs are missing
    # from many system fonts (Debian's chromium drew them as boxes).
    # A horizontal container sizes each control to its content (columns truncated labels).
    bar = st.container(horizontal=True, vertical_alignment="bottom", key="scrub_bar")
    row = [bar] * 9
    row[0].button("Start", icon=":material/first_page:", key="btn_start", help="First event", on_click=_goto, args=(0,))
    row[1].button("Round", icon=":material/fast_rewind:", key="btn_prev_round", help="Previous round",
                  on_click=_step_round, args=(index, -1))
    row[2].button("Event", icon=":material/chevron_left:", key="btn_prev_event", help="Previous event",
                  on_click=_goto, args=(max(0, ss.pos - 1),))
    row[3].button("Event", icon=":material/chevron_right:", icon_position="right", key="btn_next_event",
                  help="Next event", on_click=_goto, args=(min(last, ss.pos + 1),))
    row[4].button("Round", icon=":material/fast_forward:", icon_position="right", key="btn_next_round",
                  help="Next round", on_click=_step_round, args=(index, 1))
    row[5].button("End", icon=":material/last_page:", icon_position="right", key="btn_end", help="Last event",
                  on_click=_goto, args=(last,))
    row[6].button("Pause" if ss.playing else "Play", icon=":material/pause:" if ss.playing else ":material/play_arrow:",
                  key="btn_play", type="primary", on_click=_toggle_play, args=(index,))
    row[7].selectbox("Speed", list(SPEEDS), key="speed", on_change=_on_speed, args=(index,), width=140)
    if index.live:
        row[8].toggle("Follow live", key="follow", help="Jump to each new event as the run records it.")
