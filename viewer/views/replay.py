"""Replay: one run, scrubbed and played in the browser by the client-side player.

The page picks the run, reads it, and hands the player its payload once per version of
the run (viewer/player). Scrubbing, playback, the keyboard and live follow all happen in
the browser; the player posts its position back at most once a second and the page
writes it into the URL (``seq``), so a link reopens the same moment. A run still
recording is re-read on a timer (a fragment, so the rest of the app does not rerun)
until its run_finished arrives.
"""

from __future__ import annotations

import time

import streamlit as st

from viewer import data, live_follow, pages, prefetch, session
from viewer.player import player
from viewer.replay_controls import TICK_S, player_data, prepare_player_data, run_choices

ss = pages.header("Replay")
ss.setdefault("replay_nonce", 0)


def ask_position(pos: int | None) -> None:
    """A position the player must move to (a link): a new nonce tells it so."""
    ss.pop(f"player_{ss.run}", None)  # and its last posted position is no longer current
    ss.pos = pos
    ss.replay_nonce += 1


# A pasted link (?run=…&seq=…) wins over whatever this session had open.
link_run = session.consume_link("run")
if link_run:
    ss.run = link_run
    ask_position(None)
link_seq = session.consume_link("seq")
if link_seq is not None and link_seq.lstrip("-").isdigit():
    ask_position(int(link_seq))
link_round = session.consume_link("round")  # ?round=N: the end of round N (seq wins if both)
if link_round is not None and link_seq is None:
    ss.replay_round = link_round  # applied once the run is read (maybe on the next run of this page)
if ss.run is None and ss.launch_run:
    ss.run = ss.launch_run


@st.fragment(run_every=pages.PICKER_REFRESH_S)
def run_picker() -> None:
    """The run to replay; re-listed on a timer so a run that starts recording appears."""
    rows = pages.run_rows()
    ids, current = run_choices(list(rows), ss.run)
    if not ids:
        st.info(f"No runs in `{session.traces_dir()}` yet. Record one with `specviz record`, or open a file on the Runs page.")
        return
    choice = st.selectbox("Run", ids, index=None if current is None else ids.index(current),
                          format_func=lambda r: pages.run_label(rows[r]) if r in rows else r,
                          placeholder="choose a run to replay", key=f"replay_pick_{ss.run}")
    if choice is not None and choice != current:
        ss.run = choice
        ask_position(None)
        st.rerun()


run_picker()
if ss.run is None:
    st.stop()

source = data.Source(session.source_path(ss.run), ss.run)
first_index = pages.load_or_stop(ss.run, "replay") if data.read_before(source) else None
wanted_round = ss.pop("replay_round", None) if first_index is not None else None
if wanted_round is not None and wanted_round.isdigit():
    ask_position(first_index.round_end(int(wanted_round)))


def since_last_answer(posted: dict | None) -> dict | None:
    """The player's last post, or, when it has not posted since the page last answered it
    (a rerun from a timer or another widget), the version that answer sent: it has that
    one, or is applying it (a player that lost it asks again with a new post)."""
    answered = ss.get(f"player_answered_{ss.run}")
    if answered is None or answered[0] != (posted or {}).get("n"):
        return posted
    return {**(posted or {}), "have": answered[1], "ask": False}


def open_by_fetch(key: str) -> bool:
    """A published run of the launch directory that the player does not hold yet: the
    player fetches its payload itself (viewer/prefetch.py: read since the request for
    this page arrived). The page waits for the read only to name the position in the
    URL, or to say why the run cannot be read. False: the page sends the run itself."""
    posted = ss.get(key)
    if isinstance(posted, dict) and (posted.get("have") or posted.get("fetch_failed")):
        return False
    if "replay_round" in ss or not prefetch.fetchable(source):
        return False
    player("", "", pos=ss.pos, nonce=ss.replay_nonce, key=key, fetch=prefetch.fetch_url(ss.run))
    try:
        memo = prefetch.PREFETCHER.submit(source).result()
    except data.trace_error_types() as exc:
        st.error(f"Cannot replay run `{ss.run}`: {exc}")
        return True
    if memo is not None:
        session.set_link(run=ss.run, seq=str(max(0, memo["n_events"] - 1) if ss.pos is None else ss.pos))
    return True


# A recording run: the player itself posts a tick every 0.5 s (each post reruns this
# fragment); the timer here is only a slower backstop.
@st.fragment(run_every=TICK_S if first_index is not None and first_index.live else None)
def replay_view() -> None:
    key = f"player_{ss.run}"
    if open_by_fetch(key):
        return
    if first_index is None:
        # A run this server has not read yet: draw the player empty first, so the browser
        # loads its page and Plotly (and draws its charts' frames) while the server reads
        # the run and builds what it sends; the rerun then hands it the run (the same key:
        # the same frame), or has it waiting for the player when it is ready.
        player("", "", pos=None, nonce=ss.replay_nonce, key=key)
        prepare_player_data(pages.load_or_stop(ss.run, "replay"))
        st.rerun()
    # A recording run is followed from its log (only what arrived since the last tick is
    # read); a finished one is read once and cached; a run published meanwhile is read anew.
    started = time.perf_counter()
    live = live_follow.follow(source) if first_index.live else None
    try:
        index = live.index if live is not None else data.load_index(source)
    except data.trace_error_types() as exc:
        st.error(f"Cannot replay run `{ss.run}`: {exc}")
        return
    posted = ss.get(key)  # the player's last posted position (its component value)
    if isinstance(posted, dict) and posted.get("run") and isinstance(posted.get("pos"), int):  # not a player still empty
        # A followed run's position is "the newest event", not the one last posted: a
        # player that Streamlit remounts (it may, on the rerun that ends a live run) must
        # land on the final event, and the URL must name it.
        ss.pos = None if posted.get("follow") else posted["pos"]
    posted, sent = since_last_answer(posted if isinstance(posted, dict) else None), ss.setdefault(f"player_sent_{ss.run}", {})
    if live is not None:
        text, version = live_follow.player_data(live, posted, sent)
    else:
        text, version = player_data(index, posted, sent)
    ss[f"player_answered_{ss.run}"] = (posted or {}).get("n"), version
    player(text, version, pos=ss.pos, nonce=ss.replay_nonce, key=key, work_ms=1e3 * (time.perf_counter() - started))
    session.set_link(run=ss.run, seq=str(max(0, index.n_events - 1) if ss.pos is None else ss.pos))
    # A run that finishes keeps this fragment's timer until the page is next run whole (each
    # tick then costs a cached read and an empty update): a whole-app rerun fired from the
    # timer at the moment the run finished is where followed pages were seen to go blank.


replay_view()
