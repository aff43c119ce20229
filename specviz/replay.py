"""Replay: the state of a run as of any scrub position, derived only from its events.

The viewer asks "what did the run look like after event N?" on every scrub step, so the
answer has to be cheap on a 2,000-round trace. ``ReplayIndex`` folds the whole trace once
and records, for every fact, the event index at which it became true (a draft token
appears, its verdict arrives, a token is committed, a round's metrics land). The state at
position N is then a set of prefix slices and bisections over those indices, which is
exactly what folding ``events[: N + 1]`` gives — ``fold()`` is that slow reference fold,
kept so tests can check the two agree. The trace stays the only source of truth.

Draft positions after a rejection never get a verify event; once the rejection (or the
round's end) is known they are ``skipped`` ("not tested"), never accepted.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from specviz.events import DraftToken, Error, RoundMetrics, RunFinished, RunStarted, TopToken, Verify
from specviz.statuses import COMMITTED

# Statuses a tree node can show. "pending": drafted, verdict not yet known at this
# position; "skipped": after a rejection in its round, never tested by the target.
PENDING = "pending"
SKIPPED = "skipped"


@dataclass(slots=True)
class DraftNode:
    """One drafted token and, once known, its verdict."""

    round: int
    position: int
    token_id: int
    text: str
    seq: int  # event index at which it was drafted
    logprob: float | None
    entropy: float | None
    top: Sequence[TopToken]
    status: str = PENDING  # final status: accepted | rejected | skipped | pending (never decided)
    verdict_at: int | None = None  # event index at which `status` became known
    verify: Verify | None = None  # the verify event for this position (accepted/rejected)

    def status_at(self, pos: int) -> str:
        if self.verdict_at is not None and self.verdict_at <= pos:
            return self.status
        return PENDING


@dataclass(slots=True)
class CommitNode:
    """One token appended to the output (accepted, resampled or bonus)."""

    index: int  # position in the output
    seq: int  # event index of its verify event
    verify: Verify
    draft: DraftNode | None  # the draft it came from (accepted), or the rejected draft it replaces


@dataclass(slots=True)
class RoundSpan:
    """Where one round's phases fall on the run's clock (seconds since run start)."""

    round: int
    seq: int  # event index of its round_metrics
    draft: tuple[float, float]
    verify: tuple[float, float]
    sample: tuple[float, float]


@dataclass
class ReplayIndex:
    """A whole trace folded once; ``state(pos)`` answers any scrub position."""

    events: list
    started: RunStarted | None = None
    finished_at: int | None = None
    drafts: list[DraftNode] = field(default_factory=list)
    commits: list[CommitNode] = field(default_factory=list)
    metrics: list[RoundMetrics] = field(default_factory=list)
    metrics_at: list[int] = field(default_factory=list)
    commit_at: list[int] = field(default_factory=list)  # event index of each commit
    draft_at: list[int] = field(default_factory=list)  # event index of each draft
    errors: list[tuple[int, Error]] = field(default_factory=list)
    spans: list[RoundSpan] = field(default_factory=list)
    # Per event: the round it belongs to (carried forward for run-level events).
    event_round: list[int] = field(default_factory=list)
    # Per event: seconds since run start (monotonic clock; 0 where unknown).
    event_time: list[float] = field(default_factory=list)
    # Round -> index of its first commit: a round's branch grows from the output position
    # it was proposed at.
    round_base: dict[int, int] = field(default_factory=dict)
    # Tested draft positions in verdict order, as arrays for prefix statistics.
    tested_at: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tested_position: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tested_accepted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # Lazily built per-field arrays of the metrics; the player's payload (viewer/replay_controls.py).
    _columns: dict = field(default_factory=dict, repr=False)
    memo: dict = field(default_factory=dict, repr=False)

    @property
    def n_events(self) -> int:
        return len(self.events)

    @property
    def rounds(self) -> list[int]:
        """Rounds that appear in the trace, in order."""
        return sorted(set(self.round_base) | {m.round for m in self.metrics})

    @property
    def live(self) -> bool:
        """True while no run_finished has been recorded (a run still being written)."""
        return self.finished_at is None

    def round_end(self, rnd: int) -> int:
        """The event index that closes a round: the last event carrying that round."""
        # event_round is non-decreasing, so the round's last event is a bisection away.
        return max(0, bisect_right(self.event_round, rnd) - 1)

    def metric_array(self, name: str) -> np.ndarray:
        """One RoundMetrics field for every round, as an array (NaN where unset), built once."""
        col = self._columns.get(name)
        if col is None:
            col = np.array([getattr(m, name) for m in self.metrics], dtype=float)
            self._columns[name] = col
        return col

    def state(self, pos: int) -> "ReplayState":
        pos = max(-1, min(pos, self.n_events - 1))
        return ReplayState(self, pos)


def _seconds(ns: int, t0: int) -> float:
    return (ns - t0) / 1e9 if ns and t0 else 0.0


def build_index(events: Sequence) -> ReplayIndex:
    """Fold a whole trace (events in seq order) once."""
    return IndexBuilder().add(events)


class IndexBuilder:
    """A fold that can go on: ``add`` folds events that follow the ones already added
    (a live run's new events), so following a recording costs what arrived, not the run.

    ``index`` is extended in place; its lazily built caches are dropped on each add.
    Not thread-safe: one caller at a time (the viewer holds a lock around it).
    """

    def __init__(self) -> None:
        self.index = ReplayIndex(events=[])
        self._fold = _IndexFold(self.index)
        f = self._fold
        self._on = {RunStarted: f.started, DraftToken: f.draft, Verify: f.verify,
                    RoundMetrics: f.round_metrics, Error: f.error, RunFinished: f.finished}

    def add(self, events: Sequence) -> ReplayIndex:
        idx, fold, on = self.index, self._fold, self._on
        start = len(idx.events)
        idx.events.extend(events)
        for i in range(start, len(idx.events)):
            ev = idx.events[i]
            handle = on.get(type(ev))
            if handle is not None:
                handle(i, ev)
            idx.event_round.append(fold.current_round)
            idx.event_time.append(_seconds(ev.t_mono_ns, fold.t0))
        fold.store_tested()
        idx._columns.clear()
        idx.memo.clear()
        return idx


class _IndexFold:
    """``build_index``'s one pass: what it keeps between events, one method per event kind."""

    def __init__(self, idx: ReplayIndex):
        self.idx = idx
        self.by_key: dict[tuple[int, int], DraftNode] = {}
        self.open_rounds: dict[int, list[DraftNode]] = {}
        self.tested: list[tuple[int, int, bool]] = []  # (event index, position, accepted)
        self.t0 = 0
        self.current_round = -1

    def close_round(self, rnd: int, at: int) -> None:
        # Drafts still undecided when their round ends were never tested.
        for node in self.open_rounds.pop(rnd, []):
            if node.verdict_at is None:
                node.status, node.verdict_at = SKIPPED, at

    def started(self, i: int, ev: RunStarted) -> None:
        self.idx.started = ev
        self.t0 = ev.t_mono_ns

    def draft(self, i: int, ev: DraftToken) -> None:
        idx = self.idx
        self.current_round = ev.round
        if ev.round not in idx.round_base:
            idx.round_base[ev.round] = len(idx.commits)
        node = DraftNode(ev.round, ev.position, ev.token_id, ev.token_text, i, ev.logprob, ev.entropy, ev.top)
        idx.drafts.append(node)
        idx.draft_at.append(i)
        self.by_key[(ev.round, ev.position)] = node
        self.open_rounds.setdefault(ev.round, []).append(node)

    def verify(self, i: int, ev: Verify) -> None:
        idx = self.idx
        self.current_round = ev.round
        idx.round_base.setdefault(ev.round, len(idx.commits))
        node = self.by_key.get((ev.round, ev.position))
        if ev.status in ("accepted", "rejected") and node is not None and node.verdict_at is None:
            node.status, node.verdict_at, node.verify = ev.status, i, ev
            self.tested.append((i, ev.position, ev.status == "accepted"))
        if ev.status == "rejected":
            # Everything drafted after the rejected position is decided: not tested.
            for other in self.open_rounds.get(ev.round, []):
                if other.position > ev.position and other.verdict_at is None:
                    other.status, other.verdict_at = SKIPPED, i
        if ev.status in COMMITTED:
            src = node if ev.status in ("accepted", "resampled") else None
            idx.commits.append(CommitNode(len(idx.commits), i, ev, src))
            idx.commit_at.append(i)

    def round_metrics(self, i: int, ev: RoundMetrics) -> None:
        idx = self.idx
        self.current_round = ev.round
        idx.metrics.append(ev)
        idx.metrics_at.append(i)
        self.close_round(ev.round, i)
        end = _seconds(ev.t_mono_ns, self.t0)
        if not end and idx.spans:
            end = idx.spans[-1].sample[1] + ev.round_ms / 1e3
        start = end - (ev.round_ms or ev.draft_ms + ev.verify_ms + ev.sample_ms) / 1e3
        d_end = start + ev.draft_ms / 1e3
        v_end = d_end + ev.verify_ms / 1e3
        idx.spans.append(RoundSpan(ev.round, i, (start, d_end), (d_end, v_end), (v_end, v_end + ev.sample_ms / 1e3)))

    def error(self, i: int, ev: Error) -> None:
        self.idx.errors.append((i, ev))
        if ev.round is not None:
            self.current_round = ev.round

    def finished(self, i: int, ev: RunFinished) -> None:
        self.idx.finished_at = i
        for rnd in list(self.open_rounds):
            self.close_round(rnd, i)

    def store_tested(self) -> None:
        """The tested positions as arrays, for prefix statistics (the new ones appended)."""
        idx = self.idx
        new = self.tested[len(idx.tested_at):]
        if new:
            at, position, accepted = zip(*new)
            idx.tested_at = np.concatenate([idx.tested_at, np.asarray(at, dtype=np.int64)])
            idx.tested_position = np.concatenate([idx.tested_position, np.asarray(position, dtype=np.int64)])
            idx.tested_accepted = np.concatenate([idx.tested_accepted, np.asarray(accepted, dtype=bool)])


class ReplayState:
    """The run as of event index ``pos`` (inclusive); -1 is before the first event."""

    def __init__(self, index: ReplayIndex, pos: int):
        self.index = index
        self.pos = pos
        self._n_commits = bisect_right(index.commit_at, pos)
        self._n_metrics = bisect_right(index.metrics_at, pos)
        self._n_drafts = bisect_right(index.draft_at, pos)
        self._n_tested = int(np.searchsorted(index.tested_at, pos, side="right"))

    # -- what the scrub position shows -------------------------------------------------

    @property
    def event(self):
        return self.index.events[self.pos] if self.pos >= 0 else None

    @property
    def round(self) -> int:
        return self.index.event_round[self.pos] if self.pos >= 0 else -1

    @property
    def finished(self) -> bool:
        return self.index.finished_at is not None and self.index.finished_at <= self.pos

    @property
    def commits(self) -> list[CommitNode]:
        return self.index.commits[: self._n_commits]

    @property
    def metrics(self) -> list[RoundMetrics]:
        return self.index.metrics[: self._n_metrics]

    def metric_array(self, name: str) -> np.ndarray:
        return self.index.metric_array(name)[: self._n_metrics]

    @property
    def spans(self) -> list[RoundSpan]:
        return self.index.spans[: self._n_metrics]

    @property
    def errors(self) -> list[Error]:
        return [e for i, e in self.index.errors if i <= self.pos]

    def drafts(self) -> list[tuple[DraftNode, str]]:
        """Drafted tokens visible at this position, with their status here."""
        return [(d, d.status_at(self.pos)) for d in self.index.drafts[: self._n_drafts]]

    def status_counts(self) -> dict[str, int]:
        """How many draft nodes / commits show each status at this position."""
        counts = dict.fromkeys(("accepted", "rejected", "resampled", "bonus", PENDING, SKIPPED), 0)
        for _, status in self.drafts():
            if status in (PENDING, SKIPPED, "rejected"):
                counts[status] += 1
        for c in self.commits:
            counts[c.verify.status] += 1
        return counts

    def per_position_acceptance(self) -> tuple[np.ndarray, np.ndarray]:
        """(tested, accepted) counts per draft position over the tested positions so far."""
        n = self._n_tested
        if not n:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pos = self.index.tested_position[:n]
        size = int(pos.max()) + 1
        tested = np.bincount(pos, minlength=size)
        accepted = np.bincount(pos, weights=self.index.tested_accepted[:n], minlength=size).astype(np.int64)
        return tested, accepted

    def text(self) -> str:
        return "".join(c.verify.token_text for c in self.commits)


# -- the slow reference fold ---------------------------------------------------------


def fold(events: Sequence) -> dict:
    """Fold events one by one with no precomputation: the definition ``state()`` must match.

    Returns plain data: committed (text, status) pairs, each draft's status keyed by
    (round, position), and the rounds whose metrics have arrived.
    """
    committed: list[tuple[str, str]] = []
    drafts: dict[tuple[int, int], str] = {}
    metrics_rounds: list[int] = []
    for ev in events:
        if isinstance(ev, DraftToken):
            drafts[(ev.round, ev.position)] = PENDING
        elif isinstance(ev, Verify):
            if ev.status in ("accepted", "rejected") and drafts.get((ev.round, ev.position)) == PENDING:
                drafts[(ev.round, ev.position)] = ev.status
            if ev.status == "rejected":
                for (r, p), s in drafts.items():
                    if r == ev.round and p > ev.position and s == PENDING:
                        drafts[(r, p)] = SKIPPED
            if ev.status in COMMITTED:
                committed.append((ev.token_text, ev.status))
        elif isinstance(ev, RoundMetrics):
            metrics_rounds.append(ev.round)
            for (r, p), s in drafts.items():
                if r == ev.round and s == PENDING:
                    drafts[(r, p)] = SKIPPED
        elif isinstance(ev, RunFinished):
            for key, s in drafts.items():
                if s == PENDING:
                    drafts[key] = SKIPPED
    return {"committed": committed, "drafts": drafts, "metrics_rounds": metrics_rounds}


def state_as_fold(state: ReplayState) -> dict:
    """``state`` in ``fold()``'s shape, for comparing the two."""
    return {
        "committed": [(c.verify.token_text, c.verify.status) for c in state.commits],
        "drafts": {(d.round, d.position): s for d, s in state.drafts()},
        "metrics_rounds": [m.round for m in state.metrics],
    }
