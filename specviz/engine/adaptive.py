"""Adaptive K (``-k auto``): each round's K chosen from the run's own record so far.

Two rules share the run's measured costs; which one applies depends on the drafter.

*Survival* (drafters with no distribution: n-gram, NASD). The expected tokens per
millisecond of a round drafting up to K tokens is τ(K) / T(K), with τ(K) and
E[drafted](K) from the run's per-position acceptance and draft availability
(``specviz.survival``, the model ``specviz analyze`` fits after the fact; untried positions
inherit the last tried one, which lets K grow while drafts keep passing);
  T(K) = draft(E[drafted]) + verify(E[drafted] + 1) + other, lines fitted to the rounds'
       own draft and verify times (mean time per distinct token count, then least squares).
Statistics are kept apart by regime: after a round that accepted everything it drafted
(copying a span) and after any other round, since acceptance differs sharply between them.

*Confidence* (drafters that report q of each token they draft: model drafters). Each
drafted token costs real time, so the draft stops as soon as one more token is not worth
its price (SpecDec++ / DISCO-style, with the threshold derived from the run's own numbers
rather than tuned): after drafting tokens 1..i with confidences q_1..q_i, draft token i+1 iff
  S_i · n(q_i) ≥ ρ · (d + v),
  S_i = Π a(q_j)  the chance every drafted token so far is accepted, a(q) the acceptance
                  of tested tokens with confidence q in the run so far (binned);
  n(q_i)          the acceptance so far of a token drafted after one of confidence q_i
                  (confidence runs in streaks: a sure token is usually followed by one);
  ρ               the best rate known so far: the run's tokens per millisecond, or the
                  survival model's expected rate of the best fixed K if higher (Dinkelbach:
                  a token gained is worth 1/ρ ms, so this is the one-step optimal stop for
                  tokens / ms, and ρ only rises towards the optimum);
  d, v            ms per drafted token and per token the target scores (the verify line).
Both tables start from a calibrated drafter (a = n = the bin's mid-q) with PRIOR_WEIGHT
pseudo-trials. The survival rule's first WARM_ROUNDS rounds use START_K; the confidence
rule needs one round of measured costs, and drafts in its first (up to START_K tokens) while
S_i · n(q_i) ≥ FIRST_BAR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import exp

import numpy as np

from specviz.survival import K_MAX, cost_line, expected, smoothed

START_K = 4  # until a regime has seen any drafts
WARM_ROUNDS = 2  # rounds at START_K before the survival rule applies: no costs are known yet
# the confidence rule's bar in the first round, before any cost is measured: draft on while
# a token is more likely accepted than not (by the calibrated prior). Not tuned.
FIRST_BAR = 0.5
PRIOR_ACCEPT = 0.5
# confidence bins (q of the drafted token); finer near 1, where a model drafter's sure
# tokens pile up and acceptance changes fastest
EDGES = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0])
MID_Q = (EDGES[:-1] + EDGES[1:]) / 2
PRIOR_WEIGHT = 2.0  # pseudo-trials at the calibrated prior per bin


def q_bin(logprob: float) -> int:
    return int(min(len(MID_Q) - 1, np.searchsorted(EDGES, exp(logprob), side="right") - 1))


@dataclass
class _Means:
    """Mean y per distinct x, fitted as a line through them (weighted by counts)."""

    sums: dict[int, list[float]] = field(default_factory=dict)

    def add(self, x: int, y: float) -> None:
        s = self.sums.setdefault(x, [0.0, 0.0])
        s[0] += y
        s[1] += 1

    def line(self) -> tuple[float, float]:
        if not self.sums:
            return 0.0, 0.0
        xs = np.array(list(self.sums), dtype=np.float64)
        n = np.array([c for _, c in self.sums.values()])
        ys = np.array([s for s, _ in self.sums.values()]) / n
        fit = cost_line(xs, ys, n)
        return fit if fit is not None else (float(ys[0]), 0.0)


@dataclass
class _Regime:
    tested: np.ndarray = field(default_factory=lambda: np.zeros(K_MAX))
    accepted: np.ndarray = field(default_factory=lambda: np.zeros(K_MAX))
    asked: np.ndarray = field(default_factory=lambda: np.zeros(K_MAX))
    proposed: np.ndarray = field(default_factory=lambda: np.zeros(K_MAX))


@dataclass
class _Calibration:
    """Acceptance by the drafter's confidence: ``a`` of a token by its own q, ``n`` of a
    token by the q of the token drafted before it (when that one was accepted)."""

    tested: np.ndarray = field(default_factory=lambda: np.zeros(len(MID_Q)))
    accepted: np.ndarray = field(default_factory=lambda: np.zeros(len(MID_Q)))
    next_tested: np.ndarray = field(default_factory=lambda: np.zeros(len(MID_Q)))
    next_accepted: np.ndarray = field(default_factory=lambda: np.zeros(len(MID_Q)))

    def a(self, b: int) -> float:
        return (self.accepted[b] + PRIOR_WEIGHT * MID_Q[b]) / (self.tested[b] + PRIOR_WEIGHT)

    def n(self, b: int) -> float:
        return (self.next_accepted[b] + PRIOR_WEIGHT * MID_Q[b]) / (self.next_tested[b] + PRIOR_WEIGHT)

    def add(self, bins: list[int], tested: int, accepted: int) -> None:
        for i, b in enumerate(bins[:tested]):
            self.tested[b] += 1
            self.accepted[b] += i < accepted
            if i > 0:
                self.next_tested[bins[i - 1]] += 1
                self.next_accepted[bins[i - 1]] += i < accepted

    def survival(self, bins: list[int]) -> float:
        return float(np.prod([self.a(b) for b in bins]))


class AdaptiveK:
    """The ``auto`` K policy: ``choose()`` before a round, ``keep_drafting(logprobs)`` after
    each token a confidence-reporting drafter drafts, ``observe(...)`` after the round."""

    name = "auto"

    def __init__(self, k_max: int = K_MAX) -> None:
        self.k_max = k_max
        self.regimes = {True: _Regime(), False: _Regime()}
        self.copying = False  # the last round accepted every draft it had
        self.draft, self.verify = _Means(), _Means()
        self.other_sum = 0.0
        self.rounds = 0
        self.confident = False  # the drafter reports q per token: the confidence rule
        self.calibration = _Calibration()
        self.produced_sum = self.ms_sum = self.drafted_sum = self.draft_ms_sum = 0.0
        self.stopped_at: int | None = None  # the draft length at which keep_drafting said stop

    @property
    def rule(self) -> str:
        """The rule this round follows: warm-up, confidence or survival."""
        if self.confident and self.rounds > 0:
            return "confidence"
        return "warm-up" if self.rounds < WARM_ROUNDS else "survival"

    def choose(self) -> int:
        rule = self.rule
        if rule == "confidence":
            return self.k_max  # the cap: keep_drafting ends the draft
        rates = self._fixed_k_rates()
        if rule == "warm-up" or rates is None:
            return min(START_K, self.k_max)
        return int(np.argmax(rates)) + 1

    def _fixed_k_rates(self) -> np.ndarray | None:
        """Expected tokens per ms of drafting up to K = 1..k_max in this regime (survival model)."""
        r = self.regimes[self.copying]
        if not r.tested.any() or not self.rounds:
            return None
        n = self.k_max
        pooled = r.accepted.sum() / r.tested.sum()
        h = smoothed(r.accepted[:n], r.tested[:n], pooled if pooled > 0 else PRIOR_ACCEPT)
        g = smoothed(r.proposed[:n], r.asked[:n], 1.0)
        tau, drafted = expected(h, g)
        d0, d1 = self.draft.line()
        v0, v1 = self.verify.line()
        return tau / (d0 + d1 * drafted + v0 + v1 * (drafted + 1) + self.other_sum / self.rounds)

    def threshold(self) -> float | None:
        """ρ · (d + v): what S_i · n(q_i) must reach to draft one more token (confidence rule)."""
        if self.rule != "confidence":
            return None
        d = self.draft_ms_sum / self.drafted_sum if self.drafted_sum else 0.0
        rates = self._fixed_k_rates()
        rho = max(self.produced_sum / self.ms_sum, 0.0 if rates is None else float(rates.max()))
        return rho * (d + self.verify.line()[1])

    def keep_drafting(self, logprobs: list[float | None]) -> bool:
        """After the drafter drafted tokens of these log q: draft another? (confidence rule)"""
        if not logprobs or logprobs[-1] is None:
            return True  # no confidence reported: K from choose()
        limit = FIRST_BAR if self.rounds == 0 else self.threshold()
        if limit is None:
            return True
        bins = [q_bin(lp) for lp in logprobs]
        more = self.calibration.survival(bins) * self.calibration.n(bins[-1]) >= limit
        self.stopped_at = None if more else len(logprobs)
        return more

    def k_used(self, k: int, drafted: int) -> int:
        """The K a round chose: where the confidence rule stopped the draft, else ``k``."""
        stopped, self.stopped_at = self.stopped_at, None
        return drafted if stopped == drafted else k

    def observe(self, k: int, drafted: int, tested: int, accepted: int, draft_ms: float, verify_ms: float,
                round_ms: float, logprobs: list[float | None] | None = None) -> None:
        r = self.regimes[self.copying]
        p = np.arange(K_MAX)
        r.tested += tested > p
        r.accepted += accepted > p
        r.asked += (drafted >= p) & (k > p)
        r.proposed += (drafted > p) & (k > p)
        if drafted > 0:
            self.draft.add(drafted, draft_ms)
        self.verify.add(drafted + 1, verify_ms)
        self.other_sum += max(0.0, round_ms - draft_ms - verify_ms)
        self.rounds += 1
        self.copying = drafted > 0 and accepted == drafted
        self._observe_confidence(drafted, tested, accepted, draft_ms, round_ms, logprobs or [])

    def _observe_confidence(self, drafted: int, tested: int, accepted: int, draft_ms: float, round_ms: float,
                            logprobs: list[float | None]) -> None:
        self.produced_sum += accepted + 1
        self.ms_sum += round_ms
        self.drafted_sum += drafted
        self.draft_ms_sum += draft_ms
        if logprobs and all(lp is not None for lp in logprobs):
            self.confident = True
            self.calibration.add([q_bin(lp) for lp in logprobs], tested, accepted)


__all__ = ["AdaptiveK", "FIRST_BAR", "K_MAX", "START_K", "WARM_ROUNDS", "q_bin"]
