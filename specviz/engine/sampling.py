"""Sampling transforms shared by target and drafter, so p and q are compared like for like.

``temperature == 0`` is greedy: the sampling distribution is one-hot on the argmax. Otherwise
logits are divided by the temperature, then top-k and top-p (nucleus) mask the tail, and
the rest is renormalised (mlx-lm's ``sample_utils`` order: top-k, then top-p).

Transforms are closures built once per run (``make_transform``), as mlx-lm builds samplers.
Every random draw of a run comes from one seeded ``numpy.random.Generator`` (``make_rng``),
so with a seed and a local target a re-run reproduces the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mlx.core as mx
import numpy as np


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


# raw logits (n, V) -> probabilities of the sampling distribution (n, V), float64 numpy
Transform = Callable[[mx.array], np.ndarray]


def make_transform(params: SamplingParams) -> Transform:
    """The sampling distribution for rows of raw logits, as float64 numpy rows summing to 1."""
    if params.greedy:

        def greedy(logits: mx.array) -> np.ndarray:
            best = np.asarray(mx.argmax(logits, axis=-1)).reshape(-1)
            probs = np.zeros((best.size, logits.shape[-1]), dtype=np.float64)
            probs[np.arange(best.size), best] = 1.0
            return probs

        return greedy

    inv_t = 1.0 / params.temperature
    top_k, top_p = params.top_k, params.top_p

    def sample_dist(logits: mx.array) -> np.ndarray:
        x = logits.astype(mx.float32) * inv_t
        logprobs = x - mx.logsumexp(x, axis=-1, keepdims=True)
        if 0 < top_k < logprobs.shape[-1]:
            kth = mx.sort(logprobs, axis=-1)[..., -top_k][..., None]
            logprobs = mx.where(logprobs < kth, -mx.inf, logprobs)
        if top_p < 1.0:
            sorted_lp = mx.sort(logprobs, axis=-1)
            sorted_p = mx.exp(sorted_lp)
            mass_above = mx.cumsum(sorted_p, axis=-1, reverse=True, inclusive=False)
            total = mass_above[..., :1] + sorted_p[..., :1]
            dropped = (mass_above >= top_p * total).sum(axis=-1, keepdims=True)
            threshold = mx.take_along_axis(sorted_lp, dropped, axis=-1)
            logprobs = mx.where(logprobs < threshold, -mx.inf, logprobs)
        probs = np.asarray(mx.exp(logprobs), dtype=np.float64)
        if probs.ndim == 1:
            probs = probs[None]
        probs /= probs.sum(axis=-1, keepdims=True)
        return probs

    return sample_dist


def trace_logprobs(logits: mx.array, params: SamplingParams) -> mx.array:
    """What events record as logprobs: log softmax(logits / T), with T = 1 when greedy.

    Top-k / top-p masks are left out so recorded numbers stay finite; acceptance_prob and u
    in ``verify`` events are the decision's own numbers.
    """
    x = logits.astype(mx.float32)
    if not params.greedy:
        x = x * (1.0 / params.temperature)
    return x - mx.logsumexp(x, axis=-1, keepdims=True)


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


__all__ = ["SamplingParams", "Transform", "make_transform", "trace_logprobs", "make_rng", "sample_from"]
