"""A recording run followed as it grows, at the cost of what arrived, not of the run.

Each tick of a followed run used to re-read its whole log, fold it again, rebuild the
player's payload and diff it against the previous one: ~0.4 s of CPU at round 2,000,
growing with the run. ``LiveRun`` keeps all three between ticks instead: the log is read
from the last offset (``store.LogTail``), only the new events are folded
(``replay.IndexBuilder``) and added to the payload's columns (``PayloadBuilder``), and a
player is sent each column's tail past what it holds (``PayloadBuilder.delta_since``).

One ``LiveRun`` per log, shared by every session following it (``st.cache_resource``),
behind a lock: sessions run in their own threads. When the log goes away the run has
been published; the page then reads the finished trace as any other run, and the
payload last built here is the base of the one delta that moves a player there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import streamlit as st

from specviz.replay import IndexBuilder, ReplayIndex
from viewer import data
from viewer.player.payload import PayloadBuilder, encode_json

KEEP_VERSIONS = 64  # versions a delta can start from (~30 s of ticks from a few sessions)
KEEP_SENT = 4  # versions remembered per session as the bases of its next delta


class LiveRun:
    """One live log, folded and encoded as far as it has been read."""

    def __init__(self, log: Path):
        from specviz.store import LogTail

        self.lock = threading.Lock()
        self.tail = LogTail(log)
        self.fold = IndexBuilder()
        self.payload = PayloadBuilder()
        self.stables: OrderedDict[str, dict] = OrderedDict()  # version -> PayloadBuilder.stable() then
        self.version = ""
        self.whole: tuple[str, str] | None = None  # (version, its payload as JSON text)
        self.broken = False  # an update failed half-way: the page reads the run whole instead

    @property
    def index(self) -> ReplayIndex:
        return self.fold.index

    @property
    def gone(self) -> bool:
        """The log was removed (the run was published, or recovered): read the trace instead."""
        return self.tail.gone

    def update(self) -> None:
        """Fold what was appended to the log since the last update (callers hold ``lock``)."""
        new = self.tail.poll()
        if not new and self.version:
            return
        index = self.fold.add(new)
        self.payload.extend(index)
        started = index.started
        self.version = f"{started.run_id if started else ''}:{index.n_events}:{index.finished_at}"
        self.stables[self.version] = self.payload.stable()
        while len(self.stables) > KEEP_VERSIONS:
            self.stables.popitem(last=False)

    def player_data(self, base: str | None) -> str:
        """The payload for a player holding version `base`: a delta from it when it is still
        known here, else the whole payload (callers hold ``lock``)."""
        if base == self.version:
            return ""
        stable = self.stables.get(base) if base else None
        if stable is not None:
            return encode_json({"base": base, "delta": self.payload.delta_since(stable)})
        if self.whole is None or self.whole[0] != self.version:
            self.whole = (self.version, encode_json(self.payload.body))
        return self.whole[1]

    def body_at(self, version: str) -> dict | None:
        """The payload as it is at `version` if that is still the newest one here (the log
        read so far): the base of the delta to the run's published trace."""
        with self.lock:
            return self.payload.body if version == self.version else None


@st.cache_resource(max_entries=8, show_spinner=False)
def _live_run(log: str, inode: int) -> LiveRun:
    return LiveRun(Path(log))


def live_log(source: data.Source) -> Path | None:
    """The run's live log, if it is recording into one (not yet published)."""
    files = [Path(f) for f, _, _ in source.version()]
    logs = [f for f in files if f.suffix == ".jsonl"]
    return logs[0] if len(logs) == 1 and len(files) == 1 else None


def follow(source: data.Source) -> LiveRun | None:
    """The shared, up-to-date ``LiveRun`` of a recording run; None when the run is not
    recording into a log (any more), or has no events yet: read it with ``data.load_index``."""
    log = live_log(source)
    if log is None:
        return None
    try:
        run = _live_run(str(log), log.stat().st_ino)
    except FileNotFoundError:
        return None  # published between the listing and the read: the trace has it
    with run.lock:
        if run.broken:
            return None
        try:
            run.update()
        except (FileNotFoundError, *data.trace_error_types()):
            return None  # published meanwhile, or not a readable file: the whole read says which
        except Exception:  # a log this cannot fold: never used again; the whole read reports it
            run.broken = True
            return None
    return None if run.gone or not run.index.n_events else run


def player_data(run: LiveRun, posted: dict | None, sent: dict) -> tuple[str, str]:
    """(data, version) for a player following `run`, as ``replay_controls.player_data``
    does for a whole read: nothing when it has this version; else a delta from the version
    this session sent last, or from the one the player `ask`s from (posts lag behind the
    messages the player has applied); else the whole payload. `sent` records the versions
    sent, with `run` (which can still give the newest one's payload: see ``body_at``)."""
    have = posted.get("have") if posted else None
    with run.lock:
        if have == run.version:
            return "", run.version
        base = None
        if have is not None:
            base = have if posted.get("ask") else next(reversed(sent), None)
        text = run.player_data(base)
        version = run.version
    sent[version] = run
    for old in list(sent)[:-KEEP_SENT]:
        del sent[old]
    return text, version
