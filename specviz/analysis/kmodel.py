"""Which K: τ(K) and expected speedup(K) for K = 1..16 from the recorded per-position
survival and a cost model fitted to the recorded draft and verify times; the best fixed K
in hindsight; and what an oracle choosing K per round would have reached.

Model (per configuration, rounds pooled over its runs):
  h_i  P(position i accepted | reached and drafted), g_i  P(the drafter proposes a token
       at position i | it proposed i tokens and K allowed more): n-gram drafts run short.
       Both shrink towards the previous position's value (``specviz.survival``, the same
       maths ``-k auto`` decides with), so sparse tail positions do not swing the best
       K, and positions never observed carry the last observed value (``extrapolated``).
  E[accepted | K] = sum_{i<K} prod_{j<=i} g_j h_j      τ(K) = 1 + E[accepted | K]
  E[drafted  | K] = sum_{i<K} prod_{j<=i} g_j
  T(K) = draft(E[drafted]) + verify(E[drafted] + 1) + other       (linear costs, ms)
  speedup(K) = τ(K) · T(0) / T(K): tokens per ms against one target step per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from specviz.analysis.acceptance import position_counts
from specviz.analysis.data import Rounds
from specviz.survival import K_MAX, cost_line, expected, smoothed


@dataclass
class Line:
    intercept: float
    slope: float
    identified: bool  # False when every round had the same x (slope assumed 0)

    def __call__(self, x):
        return self.intercept + self.slope * np.asarray(x, dtype=np.float64)


def fit_line(x: np.ndarray, y: np.ndarray) -> Line:
    """Least squares through the median y of each distinct x, weighted by its count:
    per-x medians keep a few slow rounds (warm-up, a busy machine) from tilting the line."""
    if x.size == 0:
        return Line(0.0, 0.0, False)
    xi = x.astype(np.int64)
    counts = np.bincount(xi)
    xs = np.flatnonzero(counts)
    # token counts are small integers: a stable int16 argsort is a radix sort, O(n)
    order = np.argsort(xi.astype(np.int16), kind="stable")
    groups = np.split(y[order], np.cumsum(counts[xs])[:-1])
    med = np.array([np.median(g) for g in groups])
    counts = counts[xs]
    fit = cost_line(xs.astype(np.float64), med, counts.astype(np.float64))
    if fit is None:
        return Line(float(med[0]), 0.0, False)
    return Line(fit[0], fit[1], True)


@dataclass
class CostModel:
    draft: Line  # ms per round against tokens drafted
    verify: Line  # ms per round against tokens scored (drafted + 1)
    other_ms: float  # sampling, events, bookkeeping: median of the rest of the round
    rounds: int

    def round_ms(self, drafted) -> np.ndarray:
        d = np.asarray(drafted, dtype=np.float64)
        return np.where(d > 0, self.draft(d), 0.0) + self.verify(d + 1) + self.other_ms

    @property
    def step_ms(self) -> float:
        """One plain target step (K = 0): the autoregressive cost per token."""
        return float(self.round_ms(0.0))


def fit_costs(r: Rounds) -> CostModel | None:
    if len(r) == 0 or not np.any(r.round_ms > 0):
        return None
    timed = r.round_ms > 0
    drafted = r.drafted[timed].astype(np.float64)
    has = drafted > 0
    draft = fit_line(drafted[has], r.draft_ms[timed][has]) if has.any() else Line(0.0, 0.0, False)
    verify = fit_line(drafted + 1, r.verify_ms[timed])
    rest = r.round_ms[timed] - r.draft_ms[timed] - r.verify_ms[timed]
    return CostModel(draft, verify, max(0.0, float(np.median(rest))), int(timed.sum()))


@dataclass
class KCurve:
    ks: list[int]
    tau: list[float]
    drafted: list[float]  # expected draft tokens per round
    round_ms: list[float]
    tokens_per_s: list[float]
    speedup: list[float]
    extrapolated: list[bool]  # K beyond any K recorded: tail positions carry the last value
    h: list[float]  # smoothed per-position acceptance used
    g: list[float]  # smoothed per-position draft availability used
    best_k: int
    best_speedup: float
    recorded_k: float  # mean K of the recorded rounds with a draft
    recorded_speedup: float  # the model's speedup at the recorded rounds' own draft lengths
    oracle_speedup: float  # per-round oracle K (a lower bound: full rounds are not lengthened)
    costs: CostModel
    notes: list[str] = field(default_factory=list)

    @property
    def left_on_table(self) -> float:
        """Oracle over the recorded rounds, minus one (0.1 = 10% more throughput was available)."""
        return self.oracle_speedup / self.recorded_speedup - 1.0 if self.recorded_speedup else 0.0


def availability(r: Rounds, round_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(proposed, asked) per position: rounds whose drafter reached position i and whose
    K allowed it, and of those the ones where it did propose a token there."""
    i = np.arange(K_MAX)
    asked = np.array([np.count_nonzero((r.drafted >= p) & (round_k > p)) for p in i], dtype=np.float64)
    proposed = np.array([np.count_nonzero((r.drafted > p) & (round_k > p)) for p in i], dtype=np.float64)
    return proposed, asked


def k_curve(r: Rounds, round_k: np.ndarray) -> KCurve | None:
    """``round_k``: each round's K (its recorded choice, else the run's K)."""
    costs = fit_costs(r)
    drafting = r.drafted > 0
    if costs is None or not drafting.any():
        return None
    tested, accepted = position_counts(r, K_MAX)
    pooled = accepted.sum() / tested.sum() if tested.sum() else 0.0
    h = smoothed(accepted.astype(np.float64), tested.astype(np.float64), float(pooled))
    proposed, asked = availability(r, round_k)
    g = smoothed(proposed, asked, 1.0)
    ks = np.arange(1, K_MAX + 1)
    tau, drafted = expected(h, g)
    t = costs.round_ms(drafted)
    step = costs.step_ms
    speedup = tau * step / t
    best = int(np.argmax(speedup))
    # The oracle drafts exactly what the target would accept; a round that accepted all it
    # drafted keeps its length (what lay beyond was never observed).
    rejected = r.tested > r.accepted
    k_oracle = np.where(rejected, r.accepted, r.drafted)
    produced = float(r.produced.sum())
    oracle = produced * step / float(costs.round_ms(k_oracle).sum())
    actual = produced * step / float(costs.round_ms(r.drafted).sum())
    max_k = int(round_k.max()) if round_k.size else 0
    notes = []
    if not (r.draft_ms.any() or r.verify_ms.any()):
        notes.append("no draft/verify split recorded (only round times): costs modelled flat in K")
    elif not costs.verify.identified:
        notes.append("every round scored the same number of tokens: verify cost per token not identifiable (assumed flat)")
    return KCurve(
        ks=ks.tolist(), tau=tau.tolist(), drafted=drafted.tolist(), round_ms=t.tolist(),
        tokens_per_s=(tau / t * 1e3).tolist(), speedup=speedup.tolist(), extrapolated=(ks > max_k).tolist(),
        h=h.tolist(), g=g.tolist(), best_k=int(ks[best]), best_speedup=float(speedup[best]),
        recorded_k=float(r.drafted[drafting].mean()), recorded_speedup=actual, oracle_speedup=oracle,
        costs=costs, notes=notes,
    )


__all__ = ["K_MAX", "Line", "CostModel", "KCurve", "fit_line", "fit_costs", "k_curve", "availability"]
