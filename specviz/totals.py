"""Per-round and per-run totals, with the definitions vLLM and Spec-Bench use.

One home for every derived count of a run: the engine accumulates ``RoundCounts`` into
``RunMetrics`` as it goes, and a run read back from its events (recovered after a crash,
written through the Recording API, rebuilt for a view) goes through the same
``round_counts`` / ``metrics_from_events``, so its totals are the engine's.

Per round (one target verification step):
  drafted   draft tokens proposed (K, or fewer: n-gram misses, K shrinking near max_tokens)
  tested    draft positions the target scored *and* decided: accepted ones plus the first
            rejected one; positions after a rejection were never decided and do not count
  accepted  draft tokens kept
  produced  tokens appended to the output: accepted + the correction or bonus token
            (less when EOS or max_tokens cuts the round short)

Per run:
  acceptance rate  accepted / tested  (vLLM's "draft acceptance rate" is accepted / drafted;
                   both counts are recorded)
  tau              produced / verify steps: mean tokens per target forward, the bonus or
                   correction token included (Spec-Bench's mean accepted length)
  alpha            mean over tested positions of sum_x min(p(x), q(x)): the expected
                   acceptance per position (Leviathan); needs full distributions, else None
  survival[i]      P(accepted > i | drafted > i): share of rounds whose position i survived
  histogram[i]     rounds (with at least one draft) that accepted exactly i tokens
  tokens/s         produced / decode time (sum of round times; prefill excluded)
  speedup          tokens/s / baseline tokens/s; the baseline is a matched autoregressive
                   run (measured) or a short autoregressive run after this one (estimated)
  rolling          acceptance over the last 50 rounds (the seed's window)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, make_dataclass
from typing import Iterable

from specviz.events import DraftToken, RoundMetrics, RunFinished, Verify
from specviz.statuses import COMMITTED

WINDOW = 50
TESTED = frozenset(("accepted", "rejected"))  # one per decided draft position (a rejection's
# second row, `resampled`, is the replacement token, not a second test)


# The numbers a run sums over its rounds, under the names the round_metrics and
# run_finished events give them. They are declared, added up and copied into events from
# these tuples, so a new summed number is one edit here (plus its event field).
COUNTS = ("drafted", "tested", "accepted", "produced")
PHASES_MS = ("draft_ms", "verify_ms", "sample_ms")
SUMMED = (*COUNTS, *PHASES_MS, "round_ms")  # run_finished has no round_ms: it is in tokens_per_s
BASELINE = ("baseline_tokens_per_s", "baseline_estimated", "speedup")  # same in both events
# run_finished fields a RunMetrics holds under the same name (the rest: run_fields)
RUN_FINISHED_SAME = ("rounds", *COUNTS, *PHASES_MS, "tau", "alpha", *BASELINE, "survival", "k_effective",
                     "baseline_run_id", "baseline_kind", "inexact_rounds")

# More positions than any round drafts (k is a few dozen at most); see RunMetrics.add.
MAX_POSITIONS = 4096

# One declaration of the summed numbers for a round (RoundCounts) and a run (RunMetrics).
_Sums = make_dataclass("_Sums", [*((name, int, 0) for name in COUNTS),
                                 *((name, float, 0.0) for name in (*PHASES_MS, "round_ms"))],
                       namespace={"__module__": __name__})  # importable by name: pickles (Ray sweeps)


def _named(obj: object, names: Iterable[str]) -> dict:
    return {name: getattr(obj, name) for name in names}


@dataclass
class RoundCounts(_Sums):
    """One round's SUMMED numbers (``RoundCounts(drafted, tested, accepted, produced)``)."""

    overlaps: list[float] = field(default_factory=list)  # sum_x min(p, q) per tested position
    inexact: bool = False  # a verify event of the round was marked exact = false


@dataclass
class RunMetrics(_Sums):
    """A run's SUMMED numbers so far, and what is derived from them round by round."""

    window: int = WINDOW
    rounds: int = 0
    overlap_sum: float = 0.0
    overlap_n: int = 0
    histogram: list[int] = field(default_factory=list)
    reached: list[int] = field(default_factory=list)  # rounds with drafted > i
    survived: list[int] = field(default_factory=list)  # ... and accepted > i
    inexact_rounds: int = 0
    baseline_tokens_per_s: float | None = None
    baseline_estimated: bool = True
    baseline_run_id: str = ""
    baseline_kind: str = ""
    _recent: deque = field(default_factory=deque)

    def add(self, c: RoundCounts) -> None:
        self.rounds += 1
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(c, name))
        self.overlap_sum += sum(c.overlaps)
        self.overlap_n += len(c.overlaps)
        self.inexact_rounds += c.inexact
        if c.drafted > 0:
            # Per-position counts stop at MAX_POSITIONS: counts read from a damaged or
            # crafted round_metrics (2**62 drafted, -3 accepted) must not size a list.
            if 0 <= c.accepted <= MAX_POSITIONS:
                _grow(self.histogram, c.accepted + 1)
                self.histogram[c.accepted] += 1
            positions = min(c.drafted, MAX_POSITIONS)
            _grow(self.reached, positions)
            _grow(self.survived, positions)
            for i in range(positions):
                self.reached[i] += 1
                if c.accepted > i:
                    self.survived[i] += 1
        self._recent.append((c.accepted, c.tested))
        if len(self._recent) > self.window:
            self._recent.popleft()

    # -- derived ---------------------------------------------------------------------
    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.tested if self.tested else None

    @property
    def acceptance_rolling(self) -> float | None:
        tested = sum(t for _, t in self._recent)
        return sum(a for a, _ in self._recent) / tested if tested else None

    @property
    def tau(self) -> float | None:
        return self.produced / self.rounds if self.rounds else None

    @property
    def alpha(self) -> float | None:
        return self.overlap_sum / self.overlap_n if self.overlap_n else None

    @property
    def tokens_per_s(self) -> float:
        return self.produced / (self.round_ms / 1e3) if self.round_ms > 0 else 0.0

    @property
    def speedup(self) -> float | None:
        if not self.baseline_tokens_per_s or not self.round_ms:
            return None
        return self.tokens_per_s / self.baseline_tokens_per_s

    @property
    def survival(self) -> list[float]:
        return [s / r for s, r in zip(self.survived, self.reached) if r]

    @property
    def k_effective(self) -> float | None:
        return self.drafted / self.rounds if self.rounds else None

    def round_fields(self) -> dict:
        """Running values for a RoundMetrics event."""
        return dict(
            _named(self, BASELINE),
            acceptance_rolling=self.acceptance_rolling,
            acceptance_cumulative=self.acceptance,
            tau_cumulative=self.tau,
            total_tokens=self.produced,
            tokens_per_s=self.tokens_per_s,
        )

    def round_event(self, index: int, c: RoundCounts) -> RoundMetrics:
        """The ``round_metrics`` event of round ``index`` (counted in ``c``), after ``add(c)``."""
        alpha = sum(c.overlaps) / len(c.overlaps) if c.overlaps else None
        return RoundMetrics(round=index, alpha=alpha, **_named(c, SUMMED), **self.round_fields())

    def run_fields(self) -> dict:
        """Totals for the RunFinished event."""
        return dict(
            _named(self, RUN_FINISHED_SAME),
            acceptance_rate=self.acceptance,
            tokens_per_s=self.tokens_per_s if self.round_ms else None,
            accepted_histogram=list(self.histogram),
        )


def expected_tokens(alpha: float, k: float) -> float:
    """Expected tokens of a round drafting k tokens with i.i.d. acceptance alpha (the accepted
    prefix plus the correction or bonus token): (1 - alpha^(k+1)) / (1 - alpha)."""
    return k + 1.0 if alpha >= 1.0 else (1 - alpha ** (k + 1)) / (1 - alpha)


def leviathan_bound(alpha: float, drafted: Iterable[int], c: float) -> float:
    """Leviathan's expected speedup for the rounds a run actually drafted: the rounds'
    expected tokens over their cost in target forward passes, sum E(K_r) / sum (c K_r + 1).
    A drafter that proposes fewer than K (an n-gram match running out, K shrinking near
    max_tokens) is not charged for tokens it never drafted; with every K_r = K this is
    ``leviathan_speedup(alpha, K, c)``."""
    ks = list(drafted)
    cost = sum(c * k + 1 for k in ks)
    return sum(expected_tokens(alpha, k) for k in ks) / cost if cost else 1.0


def leviathan_speedup(alpha: float, k: float, c: float) -> float:
    """Expected wall-time speedup (Leviathan et al. 2023, Thm 3.8):
    (1 - alpha^(K+1)) / ((1 - alpha)(cK + 1)), c = draft step cost / target step cost."""
    if alpha >= 1.0:
        return (k + 1) / (c * k + 1)
    return (1 - alpha ** (k + 1)) / ((1 - alpha) * (c * k + 1))


def round_counts(events: Iterable) -> RoundCounts:
    """One round's counts from its events: drafted from ``draft_token``, the rest from
    ``verify`` (overlaps from ``Verify.overlap``), timings from its ``round_metrics``.

    A round without draft events takes ``drafted`` from its ``round_metrics``, one without
    verify events the other counts (writers that logged only ``round_metrics``); traces older than schema 1.1 have no per-position
    overlap, so the round's mean ``alpha`` stands for each tested position."""
    c = RoundCounts(0, 0, 0, 0)
    metrics = None
    verified = False
    for e in events:
        kind = type(e)
        if kind is DraftToken:
            c.drafted += 1
        elif kind is Verify:
            verified = True
            status = e.status
            if status in TESTED:
                c.tested += 1
                c.accepted += status == "accepted"
                if e.overlap is not None:
                    c.overlaps.append(e.overlap)
            if status in COMMITTED:
                c.produced += 1
            if not e.exact:
                c.inexact = True
        elif kind is RoundMetrics:
            metrics = e
    if metrics is not None:
        c.draft_ms, c.verify_ms = metrics.draft_ms, metrics.verify_ms
        c.sample_ms, c.round_ms = metrics.sample_ms, metrics.round_ms
        if not c.drafted:
            c.drafted = metrics.drafted
        if not verified:
            c.tested, c.accepted, c.produced = metrics.tested, metrics.accepted, metrics.produced
        if not c.overlaps and metrics.alpha is not None:
            c.overlaps = [metrics.alpha] * max(0, min(c.tested, MAX_POSITIONS))
    return c


def metrics_from_events(events: Iterable) -> RunMetrics:
    """The run's ``RunMetrics`` replayed from its events, round by round; the baseline is
    the last ``round_metrics`` event's (a finished run's own ``run_finished`` is ignored)."""
    by_round: dict[int, list] = {}
    last = None
    for e in events:
        kind = type(e)
        if kind is DraftToken or kind is Verify or kind is RoundMetrics:
            by_round.setdefault(e.round, []).append(e)
            if kind is RoundMetrics:
                last = e
    m = RunMetrics()
    for round_events in by_round.values():
        m.add(round_counts(round_events))
    if last is not None:
        m.baseline_tokens_per_s, m.baseline_estimated = last.baseline_tokens_per_s, last.baseline_estimated
    return m


def finished_from_events(events: list, *, status: str, finish_reason: str) -> RunFinished:
    """A ``run_finished`` for a run that never logged one (a crash found by recovery, a
    ``with open_run(...)`` block left without ``finish()``) or logged one without totals.
    The output is the committed tokens, so a recovered trace shows all that was produced."""
    m = metrics_from_events(events)
    committed = [e for e in events if type(e) is Verify and e.status in COMMITTED]
    monos = [e.t_mono_ns for e in events if e.t_mono_ns]
    wall_ms = (max(monos) - min(monos)) / 1e6 if monos else 0.0
    totals = m.run_fields()
    if totals["tokens_per_s"] is None and wall_ms > 0:  # a writer that logged no round times
        totals["tokens_per_s"] = m.produced / (wall_ms / 1e3)
    return RunFinished(
        status=status,
        finish_reason=finish_reason,
        wall_ms=wall_ms,
        output_text="".join(e.token_text for e in committed),
        output_token_ids=[e.token_id for e in committed],
        **totals,
    )


def _grow(values: list[int], n: int) -> None:
    if len(values) < n:
        values.extend([0] * (n - len(values)))


__all__ = [
    "WINDOW",
    "TESTED",
    "COUNTS",
    "PHASES_MS",
    "SUMMED",
    "RoundCounts",
    "RunMetrics",
    "leviathan_speedup",
    "leviathan_bound",
    "expected_tokens",
    "round_counts",
    "metrics_from_events",
    "finished_from_events",
]
