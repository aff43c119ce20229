"""``bundled`` / ``mlx:<repo or path>``: an MLX-LM model in this process, full distributions.

Registered in ``specviz.targets.registry``; the engine uses the exact Leviathan rule with it.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from specviz.models.kv_cache import CachedModel
from specviz.models.loading import load_mlx, model_vocab_size, tokenizer_eos_ids
from specviz.targets.base import BaseTarget, Scores, ScoreRequest


class LocalTarget(BaseTarget):
    """Logits for every position from one forward pass over the new suffix (KV cache kept)."""

    capability = "full"

    def __init__(self, model: Any, tokenizer: Any, *, spec: str, model_name: str, path: str = "") -> None:
        self.spec = spec
        self.model_name = model_name
        self.path = path
        self.tokenizer = tokenizer
        self.model = model
        self.state = CachedModel(model)
        self.vocab_size = int(model_vocab_size(model))
        self.eos_token_ids = set(tokenizer_eos_ids(tokenizer))

    def prefill(self, prompt_ids: list[int]) -> None:
        self.state.prefill(prompt_ids)

    def score(self, context: list[int], draft: list[int], request: ScoreRequest) -> Scores:
        return Scores(logits=self.state.forward(context + draft, len(draft) + 1))

    def launch(self, context: list[int], draft: list[int], *, greedy_next: bool = False) -> "Launched":
        """``score`` without waiting: the forward runs while the caller does other work
        (``Launched.result`` waits). ``greedy_next``: also queue the next single-token step
        on this step's argmax (autoregressive greedy decoding, as mlx_lm.generate does)."""
        logits = self.state.launch(context + draft, len(draft) + 1)
        if greedy_next:
            self.state.prefetch_greedy(logits)
        return Launched(logits)


class Launched:
    """A forward started by ``LocalTarget.launch``."""

    def __init__(self, logits: mx.array) -> None:
        self.logits = logits

    def result(self) -> Scores:
        mx.eval(self.logits)
        return Scores(logits=self.logits)


def build(spec: Any, context: Any) -> LocalTarget:
    """The registry's builder for ``bundled`` and ``mlx:``."""
    model, tokenizer, name = load_mlx("bundled" if spec.kind == "bundled" else spec.source)
    return LocalTarget(model, tokenizer, spec=spec.text, model_name=context.target_model or name)


__all__ = ["LocalTarget", "Launched", "build"]
