"""Adaptive K (``-k auto``): each round's K chosen from the run's own record so far.

The expected tokens per millisecond of a round drafting up to K tokens is
τ(K) / T(K), with τ(K) and E[drafted](K) from the run's per-position acceptance and draft
availability (``specviz.survival``, the model ``specviz analyze`` fits after the fact;
untried positions inherit the last tried one, which lets K grow while drafts keep passing);
  T(K) = draft(E[drafted]) + verify(E[drafted] + 1) + other, lines fitted to the rounds'
       own draft and verify times (mean time per distinct token count, then least squares).
Statistics are kept apart by regime: after a round that accepted everything it drafted
(copying a span) and after any other round, since acceptance differs sharply between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from specviz.survival import K_MAX, cost_line, expected, smoothed

START_K = 4  # until a regime has seen any drafts
PRIOR_ACCEPT = 0.5


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


class AdaptiveK:
    """The ``auto`` K policy: ``choose()`` before a round, ``observe(...)`` after it."""

    name = "auto"

    def __init__(self, k_max: int = K_MAX) -> None:
        self.k_max = k_max
        self.regimes = {True: _Regime(), False: _Regime()}
        self.copying = False  # the last round accepted every draft it had
        self.draft, self.verify = _Means(), _Means()
        self.other_sum = 0.0
        self.rounds = 0

    def choose(self) -> int:
        r = self.regimes[self.copying]
        if not r.tested.any() or self.rounds < 2:
            return min(START_K, self.k_max)
        n = self.k_max
        pooled = r.accepted.sum() / r.tested.sum()
        h = smoothed(r.accepted[:n], r.tested[:n], pooled if pooled > 0 else PRIOR_ACCEPT)
        g = smoothed(r.proposed[:n], r.asked[:n], 1.0)
        tau, drafted = expected(h, g)
        d0, d1 = self.draft.line()
        v0, v1 = self.verify.line()
        cost = d0 + d1 * drafted + v0 + v1 * (drafted + 1) + self.other_sum / self.rounds
        return int(np.argmax(tau / cost)) + 1

    def observe(self, k: int, drafted: int, tested: int, accepted: int,
                draft_ms: float, verify_ms: float, round_ms: float) -> None:
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


__all__ = ["AdaptiveK", "K_MAX", "START_K"]
