"""Self-distillation data: the target's own greedy continuations of many prompts, generated
in batches (one forward per step for every prompt of the same length) instead of one run
per prompt, so a few hundred training prompts cost minutes rather than an hour on a CPU.

Prompts are grouped by their token length, so no row is padded and the model's own causal
mask is the right one (mlx_lm's models take no padding mask). Greedy decoding of a batch
is the target's greedy decoding of each row; a batched matrix product may round differently
from a single-row one, so on an exact tie of the two best logits a row may pick the other
token, as a different BLAS would. Training computes the target's distributions over the
finished sequences anyway (``train.teacher_*``), so the labels are always the target's.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np
from mlx_lm.models.cache import make_prompt_cache

GROUP = 32  # rows per forward: memory-bound on a CPU, so a batch costs about one row


def _greedy_group(model: Any, prompts: list[list[int]], max_tokens: int, eos: set[int]) -> list[list[int]]:
    """Greedy continuations of equal-length prompts, each cut after its first EOS."""
    cache = make_prompt_cache(model)
    logits = model(mx.array(prompts, mx.uint32), cache=cache)[:, -1, :]
    out = np.zeros((len(prompts), max_tokens), np.int64)
    for step in range(max_tokens):
        token = mx.argmax(logits, axis=-1)
        mx.eval(token)
        out[:, step] = np.asarray(token)
        if all(any(int(t) in eos for t in row[: step + 1]) for row in out) or step + 1 == max_tokens:
            break
        logits = model(token[:, None].astype(mx.uint32), cache=cache)[:, -1, :]
    rows = []
    for row in out.tolist():
        cut = next((i + 1 for i, t in enumerate(row) if t in eos), max_tokens)
        rows.append(row[:cut])
    return rows


def greedy_continuations(model: Any, prompts: list[list[int]], max_tokens: int, eos: set[int]) -> list[list[int]]:
    """The greedy continuation (≤ ``max_tokens``, through the first EOS) of every prompt, in order."""
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    result: list[list[int]] = [[] for _ in prompts]
    for idx in by_len.values():
        for start in range(0, len(idx), GROUP):
            chunk = idx[start : start + GROUP]
            for i, row in zip(chunk, _greedy_group(model, [prompts[i] for i in chunk], max_tokens, eos)):
                result[i] = row
    return result


__all__ = ["greedy_continuations", "GROUP"]
