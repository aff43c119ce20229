"""Sampling transforms shared by target and drafter, so p and q are compared like for like.

``temperature == 0`` is greedy: the sampling distribution is one-hot on the argmax. Otherwise
logits are divided by the temperature, then top-k and top-p (nucleus) mask the tail, and
the rest is renormalised (mlx-lm's ``sample_utils`` order: top-k, then top-p).

Transforms are closures built once per run (``make_transform``), as mlx-lm builds samplers.
Every random draw of a run comes from one seeded ``numpy.random.Generator`` (``make_rng``),
so with a seed and a local target a re-run reproduces the same tokens.
"""

from __future__ import annotations

from typing import Any, Callable

import mlx.core as mx
import numpy as np

from specviz.sampling_params import SamplingParams

# raw logits (n, V) -> probabilities of the sampling distribution (n, V), float64 numpy
Transform = Callable[[Any], np.ndarray]


def as_numpy(logits: Any) -> np.ndarray:
    """Logits as a 2-D float32 numpy array (no copy for an evaluated float32 mx.array).

    The per-round maths (softmax, entropy, top-k over ~50k ids) is several times faster in
    numpy than in MLX's CPU backend, so it runs here."""
    if isinstance(logits, mx.array) and logits.dtype != mx.float32:
        logits = logits.astype(mx.float32)
    a = np.asarray(logits, dtype=np.float32)
    return a.reshape(-1, a.shape[-1])


def make_transform(params: SamplingParams) -> Transform:
    """The sampling distribution for rows of raw logits, as float64 numpy rows summing to 1."""
    if params.greedy:

        def greedy(logits: Any) -> np.ndarray:
            best = as_numpy(logits).argmax(axis=-1)
            probs = np.zeros((best.size, as_numpy(logits).shape[-1]), dtype=np.float64)
            probs[np.arange(best.size), best] = 1.0
            return probs

        return greedy

    inv_t = 1.0 / params.temperature
    top_k, top_p = params.top_k, params.top_p

    def sample_dist(logits: Any) -> np.ndarray:
        x = as_numpy(logits).astype(np.float64) * inv_t
        width = x.shape[-1]
        if 0 < top_k < width:
            kth = np.partition(x, width - top_k, axis=-1)[:, width - top_k, None]
            x = np.where(x < kth, -np.inf, x)
        probs = np.exp(x - x.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        if top_p < 1.0:
            # mlx-lm's rule: drop the tokens whose strictly-more-likely mass already reaches top_p.
            ascending = np.sort(probs, axis=-1)
            mass_above = ascending[:, ::-1].cumsum(axis=-1)[:, ::-1] - ascending
            dropped = (mass_above >= top_p).sum(axis=-1)
            threshold = np.take_along_axis(ascending, dropped[:, None], axis=-1)
            probs = np.where(probs < threshold, 0.0, probs)
            probs /= probs.sum(axis=-1, keepdims=True)
        return probs

    return sample_dist


def trace_stats(logits: Any, params: SamplingParams, n_top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """What events record, per row of raw logits: log softmax(logits / T) with T = 1 when
    greedy. Returns (x = logits / T, log Z per row, entropy per row in nats, top rows of
    (id, logprob) best first); the logprob of token t in row r is ``x[r, t] - log_z[r]``.

    Top-k / top-p masks are left out so recorded numbers stay finite; acceptance_prob and u
    in ``verify`` events are the decision's own numbers.
    """
    x = as_numpy(logits)
    if not params.greedy:
        x = x * np.float32(1.0 / params.temperature)
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=-1)
    log_z = m[:, 0] + np.log(s)
    entropy = log_z - np.einsum("ij,ij->i", e, x) / s
    tops: list[list[tuple[int, float]]] = [[] for _ in range(x.shape[0])]
    n_top = min(n_top, x.shape[-1])
    if n_top > 0:
        idx, vals = top_n(x, n_top)
        vals = vals - log_z[:, None]
        tops = [list(zip(i, v)) for i, v in zip(idx.tolist(), vals.tolist())]
    return x, log_z, entropy, tops


TOP_BLOCK = 64


def top_n(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, values) of each row's n largest entries, best first (equal values: lower id
    first). The n largest lie in the blocks of TOP_BLOCK entries whose maximum reaches the
    n-th largest block maximum, so only those are sorted: ~10x faster than an argpartition
    of 49k-wide rows, which was most of a round's bookkeeping."""
    rows, width = x.shape
    blocks = width // TOP_BLOCK
    cand = np.broadcast_to(np.arange(width), (rows, width))
    if blocks > n:
        maxima = x[:, : blocks * TOP_BLOCK].reshape(rows, blocks, TOP_BLOCK).max(axis=-1)
        nth = np.partition(maxima, blocks - n, axis=-1)[:, blocks - n, None]
        chosen = maxima >= nth  # more than n only when block maxima tie: then sort everything
        if (chosen.sum(axis=-1) == n).all():
            best = np.nonzero(chosen)[1].reshape(rows, n)
            cand = (best[:, :, None] * TOP_BLOCK + np.arange(TOP_BLOCK)).reshape(rows, -1)
            if width > blocks * TOP_BLOCK:  # the ragged last block is always a candidate
                tail = np.broadcast_to(np.arange(blocks * TOP_BLOCK, width), (rows, width - blocks * TOP_BLOCK))
                cand = np.concatenate([cand, tail], axis=1)
    vals = np.take_along_axis(x, cand, axis=-1)
    order = np.lexsort((cand, -vals), axis=-1)[:, :n]
    return np.take_along_axis(cand, order, axis=-1), np.take_along_axis(vals, order, axis=-1)


def make_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def sample_from(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One draw from a probability row (inverse CDF; exact argmax for one-hot rows)."""
    cdf = np.cumsum(probs)
    total = cdf[-1]
    if not total > 0:
        raise ValueError("cannot sample from an all-zero distribution")
    idx = int(np.searchsorted(cdf, rng.random() * total, side="right"))
    return min(idx, probs.size - 1)


__all__ = ["Transform", "as_numpy", "make_transform", "trace_stats", "top_n", "make_rng", "sample_from"]
