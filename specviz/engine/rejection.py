"""Deciding a round: modified rejection sampling (Leviathan et al. 2023) and exact match.

For draft x_i ~ q_i at position i: accept with probability min(1, p_i(x)/q_i(x)); on the
first rejection sample the replacement from norm(max(0, p_i - q_i)) and stop; if all K pass,
sample a bonus token from p_K. The output then follows p exactly. A deterministic drafter
(n-gram, or greedy decoding) has q_i one-hot on x: accept with p_i(x), resample from p_i
with x removed.

``p`` here is always the *sampling* distribution (temperature, top-k, top-p applied).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from specviz.engine.sampling import sample_from
from specviz.sampling_params import SamplingParams


@dataclass
class Step:
    """The verdict at one position."""

    position: int
    draft_token: int | None  # None for the bonus position
    accepted: bool
    token: int  # the final token here (the draft when accepted)
    p_draft: float | None = None  # sampling p of the draft token
    q_draft: float | None = None
    acceptance_prob: float | None = None
    u: float | None = None
    overlap: float | None = None  # sum_x min(p, q) at this position (alpha's summand)
    exact: bool = True


@dataclass
class Decision:
    steps: list[Step] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.steps if s.draft_token is not None and s.accepted)

    @property
    def tested(self) -> int:
        return sum(1 for s in self.steps if s.draft_token is not None)


def decide_full(
    draft: list[int],
    q: np.ndarray | None,
    p: np.ndarray,
    rng: np.random.Generator,
    *,
    resample_from_residual: bool = True,
) -> Decision:
    """Leviathan's rule with full distributions. ``p`` (K+1, V), ``q`` (K, V) or None.

    ``resample_from_residual=False`` is a deliberately broken rule (resamples from p) kept
    for the distribution test to prove it can fail.
    """
    decision = Decision()
    for i, x in enumerate(draft):
        pi = p[i]
        px = float(pi[x])
        if q is None:
            qx = 1.0
            overlap = px
        else:
            qx = float(q[i][x])
            overlap = float(np.minimum(pi, q[i]).sum())
        a = 1.0 if qx <= 0 else min(1.0, px / qx)
        u = float(rng.random())
        if u < a:
            decision.steps.append(Step(i, x, True, x, px, qx, a, u, overlap))
            continue
        if resample_from_residual:
            if q is None:
                residual = pi.copy()
                residual[x] = 0.0
            else:
                residual = np.maximum(pi - q[i], 0.0)
            if not residual.sum() > 0:  # p == q up to rounding: any draw from p is right
                residual = pi
        else:
            residual = pi
        token = sample_from(residual, rng)
        decision.steps.append(Step(i, x, False, token, px, qx, a, u, overlap))
        return decision
    bonus = sample_from(p[len(draft)], rng)
    decision.steps.append(Step(len(draft), None, True, bonus, float(p[len(draft)][bonus])))
    return decision


def decide_greedy(draft: list[int], best: list[int], rng: np.random.Generator) -> Decision:
    """``decide_full`` for a greedy target (p one-hot on ``best[i]``, the row's argmax) and a
    deterministic draft (``q`` None), without building dense rows: the same steps and the
    same draws from ``rng`` (u per tested position, then one draw for the replacement or the
    bonus, which from a one-hot row is always its argmax), so traces are identical."""
    decision = Decision()
    for i, x in enumerate(draft):
        px = 1.0 if x == best[i] else 0.0
        u = float(rng.random())
        if u < px:
            decision.steps.append(Step(i, x, True, x, px, 1.0, px, u, px))
            continue
        rng.random()
        decision.steps.append(Step(i, x, False, best[i], px, 1.0, px, u, px))
        return decision
    rng.random()
    decision.steps.append(Step(len(draft), None, True, best[len(draft)], 1.0))
    return decision


def sparse_dist(known: dict[int, float], params: SamplingParams) -> tuple[dict[int, float], bool]:
    """The sampling distribution over the known tokens of a top-k target.

    ``known`` maps id -> raw logprob. Returns (probabilities over the known ids, exact):
    greedy is exact when the argmax is known (it is: the top-1 is); at temperature 1 with no
    top-k/top-p the known probabilities are the true ones (mass outside is left out).
    Otherwise the distribution is renormalised over the known ids (an approximation).
    """
    ids = list(known)
    lps = np.array([known[i] for i in ids], dtype=np.float64)
    if params.greedy:
        best = ids[int(np.argmax(lps))]
        return {best: 1.0}, True
    raw_ok = params.temperature == 1.0 and params.top_k == 0 and params.top_p >= 1.0
    if raw_ok:
        return {i: math.exp(lp) for i, lp in zip(ids, lps)}, False
    x = lps / params.temperature
    order = np.argsort(-x, kind="stable")
    if params.top_k > 0:
        order = order[: params.top_k]
    w = np.exp(x[order] - x[order].max())
    w /= w.sum()
    if params.top_p < 1.0:
        keep = int(np.searchsorted(np.cumsum(w), params.top_p, side="left")) + 1
        order, w = order[:keep], w[:keep] / w[:keep].sum()
    return {ids[j]: float(pw) for j, pw in zip(order, w)}, False


def _draw(dist: dict[int, float], rng: np.random.Generator) -> int:
    ids = list(dist)
    return ids[sample_from(np.array([dist[i] for i in ids]), rng)]


def decide_topk(
    draft: list[int],
    q: np.ndarray | None,
    draft_logprobs: list[float],
    tops: list[list[tuple[int, float]]],
    generated: list[int] | None,
    params: SamplingParams,
    rng: np.random.Generator,
) -> Decision:
    """Leviathan's rule when the target is known only through top-k logprobs plus
    p(draft token): acceptance uses p(x) (exact at T=1 or greedy), the residual is
    approximated over the known tokens (steps flagged ``exact=False`` unless greedy)."""
    decision = Decision()
    for i, x in enumerate(draft):
        known = {tid: lp for tid, lp in tops[i]}
        known[x] = draft_logprobs[i]
        dist, exact = sparse_dist(known, params)
        px = dist.get(x, 0.0)
        qx = 1.0 if q is None else float(q[i][x])
        a = 1.0 if qx <= 0 else min(1.0, px / qx)
        u = float(rng.random())
        if u < a:
            decision.steps.append(Step(i, x, True, x, px, qx, a, u, None, exact))
            continue
        residual = {t: max(0.0, pt - (float(q[i][t]) if q is not None else float(t == x))) for t, pt in dist.items()}
        residual = {t: v for t, v in residual.items() if v > 0} or dict(dist)
        token = _draw(residual, rng)
        decision.steps.append(Step(i, x, False, token, px, qx, a, u, None, exact))
        return decision
    k = len(draft)
    if generated:
        bonus, exact = generated[0], True
    elif k < len(tops) and tops[k]:
        dist, exact = sparse_dist(dict(tops[k]), params)
        bonus = _draw(dist, rng)
    else:
        return decision  # nothing known about position K: no bonus this round
    decision.steps.append(Step(k, None, True, bonus, None, exact=exact))
    return decision


def decide_exact_match(draft: list[int], generated: list[int]) -> Decision:
    """Accept while the draft equals the target's own continuation; the first divergence is
    replaced by the target's token. Positions after it were never scored: no steps."""
    decision = Decision()
    for i, x in enumerate(draft):
        if i >= len(generated):
            return decision  # the target stopped before scoring this position
        t = generated[i]
        decision.steps.append(Step(i, x, t == x, t))
        if t != x:
            return decision
    if len(generated) > len(draft):
        decision.steps.append(Step(len(draft), None, True, generated[len(draft)]))
    return decision


__all__ = ["Step", "Decision", "decide_full", "decide_greedy", "decide_topk", "decide_exact_match", "sparse_dist"]
