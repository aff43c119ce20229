"""Where acceptance falls off: per draft position, against output position and context
length, and per (round, position), each with its 95% Wilson interval.

A round's counts say everything needed: position i was decided when ``tested > i`` and
accepted when ``accepted > i`` (a round stops deciding at its first rejection).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from specviz.analysis.data import Rounds
from specviz.analysis.stats import wilson

MAX_POSITIONS = 16


@dataclass
class Rates:
    """Accepted / tested per bin with Wilson 95% bounds (NaN where nothing was tested)."""

    x: list[float]  # bin label: position, or the bin's lower edge
    tested: list[int]
    accepted: list[int]
    rate: list[float | None]
    lo: list[float | None]
    hi: list[float | None]

    @classmethod
    def of(cls, x, accepted: np.ndarray, tested: np.ndarray) -> "Rates":
        lo, hi = wilson(accepted, tested)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(tested > 0, accepted / np.maximum(tested, 1), np.nan)
        return cls(list(map(float, x)), tested.astype(int).tolist(), accepted.astype(int).tolist(),
                   _nan_none(rate), _nan_none(lo), _nan_none(hi))

    @property
    def empty(self) -> bool:
        return not any(self.tested)


def _nan_none(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=np.float64)]


def position_counts(r: Rounds, positions: int = MAX_POSITIONS) -> tuple[np.ndarray, np.ndarray]:
    """(tested, accepted) per draft position 0..positions-1, summed over rounds."""
    i = np.arange(positions)
    tested = np.array([np.count_nonzero(r.tested > p) for p in i], dtype=np.int64)
    accepted = np.array([np.count_nonzero(r.accepted > p) for p in i], dtype=np.int64)
    return tested, accepted


def per_position(r: Rounds) -> Rates:
    tested, accepted = position_counts(r)
    n = int(np.flatnonzero(tested).max()) + 1 if tested.any() else 0
    return Rates.of(range(n), accepted[:n], tested[:n])


def output_start(r: Rounds) -> np.ndarray:
    """Output tokens before each round (rounds sorted by run, then round)."""
    cum = np.cumsum(r.produced)
    first = np.r_[True, r.run[1:] != r.run[:-1]] if len(r) else np.zeros(0, bool)
    run_base = np.maximum.accumulate(np.where(first, cum - r.produced, 0)) if len(r) else cum
    return cum - r.produced - run_base


def binned(values: np.ndarray, r: Rounds, bins: int = 20) -> Rates:
    """Acceptance (per tested draft) of rounds binned by ``values`` (one per round)."""
    keep = r.tested > 0
    v, acc, tst = values[keep], r.accepted[keep], r.tested[keep]
    if v.size == 0:
        return Rates.of([], np.zeros(0), np.zeros(0))
    top = float(v.max()) + 1.0
    width = max(1.0, np.ceil((top - float(v.min())) / bins))
    start = float(np.floor(v.min() / width) * width)
    idx = ((v - start) // width).astype(np.int64)
    nb = int(idx.max()) + 1
    a = np.bincount(idx, weights=acc, minlength=nb)
    t = np.bincount(idx, weights=tst, minlength=nb)
    used = t > 0
    return Rates.of((start + width * np.arange(nb))[used], a[used], t[used])


@dataclass
class Heatmap:
    """Share of runs whose (round, position) draft was accepted; None = never decided.
    For one run a cell is 1 (accepted), 0 (rejected) or None (not tested)."""

    rounds: list[int]
    positions: list[int]
    z: list[list[float | None]]  # [round][position]

    @property
    def empty(self) -> bool:
        return not self.rounds


def heatmap(r: Rounds, max_rounds: int = 2000) -> Heatmap:
    keep = (r.tested > 0) & (r.round < max_rounds)
    rr, acc, tst = r.round[keep], r.accepted[keep], r.tested[keep]
    if rr.size == 0:
        return Heatmap([], [], [])
    n_rounds = int(rr.max()) + 1
    n_pos = int(tst.max())
    p = np.arange(n_pos)
    # One bincount per position: np.add.at over a million rounds is ~50x slower.
    num = np.stack([np.bincount(rr, weights=acc > i, minlength=n_rounds) for i in p], axis=1)
    den = np.stack([np.bincount(rr, weights=tst > i, minlength=n_rounds) for i in p], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(den > 0, num / np.maximum(den, 1), np.nan)
    return Heatmap(list(range(n_rounds)), p.tolist(), [_nan_none(row) for row in z])


__all__ = ["Rates", "Heatmap", "MAX_POSITIONS", "position_counts", "per_position", "output_start", "binned", "heatmap"]
