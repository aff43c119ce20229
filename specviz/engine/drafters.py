"""Drafters: who proposes the K tokens a round verifies.

* ``ngram[:N]``  prompt lookup (PLD / the PyTorch seed's NASD idea): find the most recent
  earlier occurrence of the context's last n tokens (n = N..1) in prompt + output and propose
  what followed it. Deterministic: q is one-hot on the proposal, so Leviathan's rule accepts
  with p(x) and resamples from p with x removed.
* ``layerskip:N`` early exit from the local target's first N layers, reusing its final norm
  and LM head (``local.EarlyExit``), with its own N-layer KV cache.
* ``mlx:<repo or path>`` any MLX-LM model sharing the target's vocabulary.

Model drafters sample from the same sampling transform as the target (greedy when
temperature is 0) and return q for each proposal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import mlx.core as mx
import numpy as np

from specviz.engine.local import CachedModel, EngineError
from specviz.engine.sampling import SamplingParams, Transform, as_numpy, sample_from, trace_stats
from specviz.models.tokenizer import hf_tokenizer


@dataclass
class Draft:
    """Up to K proposed ids. ``q`` (n, V) rows of the draft sampling distribution, or None
    when the proposal is deterministic (q one-hot on each token)."""

    tokens: list[int] = field(default_factory=list)
    q: np.ndarray | None = None
    logprobs: list[float | None] = field(default_factory=list)  # trace logprobs of each token
    entropies: list[float | None] = field(default_factory=list)
    tops: list[list[tuple[int, float]]] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)  # time spent on each token


@dataclass
class DraftContext:
    """Per-run things a drafter needs: the sampling transform and the run's random stream."""

    params: SamplingParams
    transform: Transform
    rng: np.random.Generator
    vocab_size: int  # the target's distribution width
    n_top: int = 5


class Drafter(Protocol):
    spec: str
    model_name: str

    def prefill(self, prompt_ids: list[int]) -> None: ...

    def propose(self, context: list[int], k: int, ctx: DraftContext) -> Draft: ...


class NgramDrafter:
    """Prompt lookup over prompt + output; no model, no distribution."""

    def __init__(self, n: int = 3, spec: str | None = None) -> None:
        if n < 1:
            raise EngineError(f"ngram:N needs N >= 1, got {n}")
        self.n = n
        self.spec = spec or f"ngram:{n}"
        self.model_name = ""

    def prefill(self, prompt_ids: list[int]) -> None:
        return None

    def propose(self, context: list[int], k: int, ctx: DraftContext | None = None) -> Draft:
        start = time.perf_counter()
        tokens = lookup(context, k, self.n) if k > 0 else []
        ms = (time.perf_counter() - start) * 1e3
        return Draft(
            tokens=tokens,
            logprobs=[None] * len(tokens),
            entropies=[None] * len(tokens),
            tops=[[] for _ in tokens],
            ms=[ms / len(tokens)] * len(tokens) if tokens else [],
        )


def lookup(context: list[int], k: int, max_n: int) -> list[int]:
    """The up-to-k tokens that followed the most recent earlier occurrence of the longest
    suffix (length max_n..1) of ``context``; [] when none recurs."""
    arr = np.asarray(context, dtype=np.int64)
    length = arr.size
    for n in range(min(max_n, length - 1), 0, -1):
        tail = arr[length - n :]
        windows = np.lib.stride_tricks.sliding_window_view(arr[: length - 1], n)
        hits = np.flatnonzero((windows == tail).all(axis=1))
        if hits.size:
            begin = int(hits[-1]) + n
            return arr[begin : begin + k].tolist()
    return []


class ModelDrafter:
    """An MLX-LM model (or a target's early exit) drafting autoregressively with a KV cache."""

    def __init__(self, model: Any, *, spec: str, model_name: str = "") -> None:
        self.spec = spec
        self.model_name = model_name
        self.state = CachedModel(model)

    def prefill(self, prompt_ids: list[int]) -> None:
        self.state.prefill(prompt_ids)

    def propose(self, context: list[int], k: int, ctx: DraftContext) -> Draft:
        draft = Draft()
        if k <= 0:
            return draft
        rows = []
        seq = list(context)
        greedy = ctx.params.greedy
        for _ in range(k):
            start = time.perf_counter()
            logits = as_numpy(_fit_width(self.state.forward(seq, 1, evaluate=False), ctx.vocab_size))
            x, log_z, entropy, tops = trace_stats(logits, ctx.params, ctx.n_top)
            if greedy:
                token = int(x[0].argmax())
            else:
                q = ctx.transform(logits)[0]
                token = sample_from(q, ctx.rng)
                rows.append(q)
            draft.logprobs.append(float(x[0, token] - log_z[0]))
            draft.entropies.append(float(entropy[0]))
            draft.tops.append(tops[0])
            draft.ms.append((time.perf_counter() - start) * 1e3)
            draft.tokens.append(token)
            seq.append(token)
        draft.q = None if greedy else np.stack(rows)
        return draft


def _fit_width(logits: mx.array, width: int) -> mx.array:
    """Draft logits over exactly the target's ids (vocab padding differs between models)."""
    have = logits.shape[-1]
    if have == width:
        return logits
    if have > width:
        return logits[..., :width]
    pad = mx.full((*logits.shape[:-1], width - have), -1e9, dtype=logits.dtype)  # finite: 0 * x stays 0
    return mx.concatenate([logits, pad], axis=-1)


def check_vocab(draft_tokenizer: Any, target_tokenizer: Any, draft_name: str) -> None:
    """Draft and target must share a vocabulary: same token -> id map."""
    dv = _vocab(draft_tokenizer)
    tv = _vocab(target_tokenizer)
    if dv == tv:
        return
    mismatched = sum(1 for tok, i in tv.items() if dv.get(tok) != i)
    raise EngineError(
        f"drafter {draft_name} does not share the target's vocabulary "
        f"({len(dv)} vs {len(tv)} tokens, {mismatched} target tokens differ); "
        "pick a draft model from the same family"
    )


def _vocab(tokenizer: Any) -> dict[str, int]:
    return dict(hf_tokenizer(tokenizer).get_vocab())


__all__ = ["Draft", "DraftContext", "Drafter", "NgramDrafter", "ModelDrafter", "lookup", "check_vocab"]
