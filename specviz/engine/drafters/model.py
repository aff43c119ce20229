"""``ModelDrafter``: an MLX-LM model (or a target's early exit) drafting autoregressively
with its own trimmable KV cache. Shared by the ``layerskip`` and ``mlx`` kinds.

Model drafters sample from the same sampling transform as the target (greedy when
temperature is 0) and return q for each proposal.
"""

from __future__ import annotations

import time
from typing import Any

import mlx.core as mx
import numpy as np

from specviz.engine.drafters.adapters import adapter_hash
from specviz.engine.drafters.base import Draft, DraftContext, DraftedToken
from specviz.engine.errors import EngineError
from specviz.models.kv_cache import CachedModel
from specviz.engine.sampling import as_numpy, sample_from, trace_stats
from specviz.models.tokenizer import hf_tokenizer


class ModelDrafter:
    """``mlx_model`` is what ``--method mlx-lm`` hands to mlx_lm as its draft model."""

    def __init__(self, model: Any, *, spec: str, model_name: str = "", adapter: str = "") -> None:
        self.spec = spec
        self.model_name = model_name
        self.mlx_model = model
        self.state = CachedModel(model)
        self.adapter = adapter  # LoRA adapter directory applied to the model, if any
        self.adapter_hash = adapter_hash(adapter) if adapter else ""

    def prefill(self, prompt_ids: list[int]) -> None:
        self.state.prefill(prompt_ids)

    def propose(self, context: list[int], k: int, ctx: DraftContext) -> Draft:
        draft = Draft()
        rows = []
        seq = list(context)
        greedy = ctx.params.greedy
        for _ in range(max(0, k)):
            start = time.perf_counter()
            logits = as_numpy(fit_width(self.state.forward(seq, 1, evaluate=False), ctx.vocab_size))
            x, log_z, entropy, tops = trace_stats(logits, ctx.params, ctx.n_top)
            if greedy:
                token = int(x[0].argmax())
            else:
                q = ctx.transform(logits)[0]
                token = sample_from(q, ctx.rng)
                rows.append(q)
            draft.tokens.append(DraftedToken(token, logprob=float(x[0, token] - log_z[0]), entropy=float(entropy[0]),
                                             top=tops[0], ms=(time.perf_counter() - start) * 1e3, source="model"))
            seq.append(token)
            if ctx.keep_drafting is not None and not ctx.keep_drafting(draft.logprobs):
                break
        draft.q = np.stack(rows) if rows else None
        return draft


def fit_width(logits: mx.array, width: int) -> mx.array:
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


__all__ = ["ModelDrafter", "fit_width", "check_vocab"]
