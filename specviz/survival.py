"""Expected tokens per round from per-position acceptance: the one definition both
``-k auto`` (engine/adaptive.py, live) and ``specviz analyze`` (analysis/kmodel.py, after
the fact) use. A leaf module, so analysis does not import the engine (and MLX).

  h_i  acceptance at draft position i; g_i  the drafter's chance of proposing a token at
       position i once it proposed i (n-gram lookups run short).
  τ(K) = 1 + Σ_{i<K} Π_{j≤i} g_j h_j,   E[drafted](K) = Σ_{i<K} Π_{j≤i} g_j.
"""

from __future__ import annotations

import numpy as np

K_MAX = 16
PSEUDO = 5.0  # pseudo-trials pulling a position's rate towards the previous position's


def smoothed(num: np.ndarray, den: np.ndarray, prior: float) -> np.ndarray:
    """Per-position rates, each shrunk towards the previous position's (the first towards
    ``prior``) with PSEUDO pseudo-trials: sparse tail positions do not swing the choice of
    K, and positions never tried carry the last value."""
    out = np.empty(len(num))
    prev = prior
    for i in range(len(num)):
        prev = (num[i] + PSEUDO * prev) / (den[i] + PSEUDO)
        out[i] = prev
    return out


def expected(h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(τ(K), E[drafted](K)) for K = 1..len(h)."""
    return 1.0 + np.cumsum(np.cumprod(g * h)), np.cumsum(np.cumprod(g))


def cost_line(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> tuple[float, float] | None:
    """(intercept, slope) of a weighted least-squares line through per-token-count average
    times; both clamped at 0 (more tokens never cost less: a negative fit is noise). None
    with fewer than two distinct counts (the slope is then not identifiable)."""
    if xs.size < 2:
        return None
    xm, ym = np.average(xs, weights=weights), np.average(ys, weights=weights)
    slope = max(0.0, float(np.sum(weights * (xs - xm) * (ys - ym)) / np.sum(weights * (xs - xm) ** 2)))
    return max(0.0, float(ym - slope * xm)), slope


__all__ = ["K_MAX", "PSEUDO", "smoothed", "expected", "cost_line"]
