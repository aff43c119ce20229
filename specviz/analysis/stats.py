"""Interval estimates and tests used by the analysis, in numpy only (scipy is a dev
dependency): Wilson intervals for proportions, a Poisson-binomial z-score for "observed
vs expected acceptances", and the one-sample Kolmogorov–Smirnov test against U(0, 1)."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: np.ndarray | int, trials: np.ndarray | int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (lower, upper) per element; NaN where trials == 0.

    Chosen over the normal (Wald) interval because acceptance near 0 or 1 with few trials
    is common here, and Wald's interval then collapses to a point or leaves [0, 1]."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lo, hi


def poisson_binomial_z(observed: float, expected_sum: float, variance_sum: float) -> float | None:
    """z-score of a count of independent Bernoulli(a_i) successes against its expectation
    sum(a_i) with variance sum(a_i (1 - a_i)); None when the variance is zero."""
    if variance_sum <= 0:
        return None if observed == expected_sum else math.inf
    return (observed - expected_sum) / math.sqrt(variance_sum)


def count_pvalue(observed: int, trials: int, expected: float, variance: float) -> float:
    """Two-sided p-value of ``observed`` successes in ``trials`` independent Bernoulli(a_i)
    with sum(a_i) = ``expected`` and sum(a_i (1 - a_i)) = ``variance``.

    Normal with continuity correction when the variance is large; otherwise the rarer
    outcome (successes, or failures when the a_i are near 1) is Poisson, which keeps one
    rejection at a = 0.99 from reading as a 5-sigma event."""
    if trials <= 0:
        return 1.0
    if variance >= 9.0:
        z = max(0.0, abs(observed - expected) - 0.5) / math.sqrt(variance)
        return math.erfc(z / math.sqrt(2))
    x, lam = (observed, expected) if expected <= trials - expected else (trials - observed, trials - expected)
    lam = max(lam, 1e-12)
    pmf = [math.exp(i * math.log(lam) - lam - math.lgamma(i + 1)) for i in range(int(x) + 1)]
    below = min(1.0, sum(pmf))
    above = min(1.0, 1.0 - below + pmf[-1])
    return min(1.0, 2 * min(below, above))


def ks_pvalue(d: float, n: int) -> float:
    """Asymptotic p-value of the one-sample KS statistic D over n draws (Stephens' small-n
    correction of the Kolmogorov distribution; good to ~1e-3 for n >= 5)."""
    if n <= 0:
        return math.nan
    sn = math.sqrt(n)
    lam = (sn + 0.12 + 0.11 / sn) * d
    if lam < 1e-3:
        return 1.0
    k = np.arange(1, 101)
    terms = 2 * (-1.0) ** (k - 1) * np.exp(-2 * k * k * lam * lam)
    return float(min(1.0, max(0.0, terms.sum())))


def ks_statistic(x_sorted: np.ndarray) -> float:
    """KS distance D between the empirical CDF of sorted draws and U(0, 1)'s."""
    n = x_sorted.size
    i = np.arange(1, n + 1)
    return float(max((i / n - x_sorted).max(), (x_sorted - (i - 1) / n).max()))


def ks_uniform(u: np.ndarray) -> tuple[float, float]:
    """(D, p-value) of the KS test of draws ``u`` against U(0, 1)."""
    x = np.sort(np.asarray(u, dtype=np.float64))
    if x.size == 0:
        return math.nan, math.nan
    d = ks_statistic(x)
    return d, ks_pvalue(d, x.size)


__all__ = ["Z95", "wilson", "poisson_binomial_z", "count_pvalue", "ks_pvalue", "ks_statistic", "ks_uniform"]
