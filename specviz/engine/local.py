"""In-process MLX-LM models: the local target and the KV-cache bookkeeping drafters share.

A ``CachedModel`` remembers which token ids its KV cache holds. Given a new context it keeps
the longest common prefix, trims the rest with ``mlx_lm.models.cache.trim_prompt_cache`` and
feeds only the new suffix: after a rejection the cache is rewound, never rebuilt.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
from mlx_lm.models.base import create_attention_mask
from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache

from specviz.engine.errors import EngineError
from specviz.engine.target import Scores, ScoreRequest

PREFILL_STEP = 512


class CachedModel:
    """A model plus a trimmable KV cache and the ids the cache holds."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache = make_prompt_cache(model)
        if not can_trim_prompt_cache(self.cache):
            kinds = sorted({type(c).__name__ for c in self.cache if not c.is_trimmable()})
            raise EngineError(f"speculative decoding needs a trimmable KV cache; this model uses {kinds}")
        self.ids: list[int] = []  # token ids whose keys/values are in the cache
        self.trimmed = 0  # total tokens trimmed (for tests and diagnostics)
        self.fed = 0  # total tokens fed through the model

    def reset(self) -> None:
        self.cache = make_prompt_cache(self.model)
        self.ids = []

    def _sync(self, context: list[int], n_feed: int = 1) -> list[int]:
        """Trim the cache to the common prefix with ``context``; return the ids still to feed.

        At least ``n_feed`` ids are always left to feed (logits come from the fed ids).
        """
        ids = self.ids
        limit = max(0, min(len(ids), len(context) - n_feed))
        common = 0
        while common < limit and ids[common] == context[common]:
            common += 1
        if len(ids) > common:
            trim_prompt_cache(self.cache, len(ids) - common)
            self.trimmed += len(ids) - common
            del ids[common:]
        return context[common:]

    def prefill(self, context: list[int]) -> None:
        """Cache everything but the last id of ``context``."""
        if self.cache and getattr(self.cache[0], "offset", len(self.ids)) != len(self.ids):
            self.reset()  # an interrupted forward left the cache ahead of self.ids
        todo = self._sync(context)[:-1]
        while todo:
            chunk, todo = todo[:PREFILL_STEP], todo[PREFILL_STEP:]
            self.model(mx.array(chunk, mx.uint32)[None], cache=self.cache)
            mx.eval([c.state for c in self.cache])
            self.ids.extend(chunk)
            self.fed += len(chunk)

    def forward(self, context: list[int], n_logits: int, evaluate: bool = True) -> mx.array:
        """Logits (n_logits, V) for the last ``n_logits`` positions of ``context`` (evaluated
        unless ``evaluate=False``: the caller then evaluates them with what it derives)."""
        todo = self._sync(context, n_logits)
        if len(todo) > PREFILL_STEP + n_logits:
            self.prefill(context[: len(context) - n_logits + 1])
            todo = self._sync(context, n_logits)
        logits = self.model(mx.array(todo, mx.uint32)[None], cache=self.cache)[0, -n_logits:, :]
        if evaluate:
            mx.eval(logits)
        self.ids.extend(todo)
        self.fed += len(todo)
        return logits


class LocalTarget:
    """``bundled`` / ``mlx:<repo or path>``: full distributions, exact rejection sampling."""

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

    def close(self) -> None:
        return None


class EarlyExit:
    """The first N layers of a local model, then its final norm and LM head (LayerSkip-style).

    Shares the target's weights (no copy); has its own N-layer KV cache. Works with the
    usual MLX-LM layout (``model.model.embed_tokens / layers / norm`` and ``lm_head`` or
    tied embeddings: Llama, Qwen2, Mistral, SmolLM...).
    """

    def __init__(self, model: Any, n_layers: int) -> None:
        inner = getattr(model, "model", None)
        if inner is None or not all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm")):
            raise EngineError(f"layerskip needs an MLX-LM model with model.embed_tokens/layers/norm; got {type(model).__name__}")
        total = len(inner.layers)
        if not 1 <= n_layers < total:
            raise EngineError(f"layerskip:N needs 1 <= N < {total} (the target's layer count), got {n_layers}")
        if any(getattr(layer, "use_sliding", False) for layer in inner.layers[:n_layers]):
            raise EngineError("layerskip does not support sliding-window layers")
        self.inner = inner
        self.full = model
        self.layers = inner.layers[:n_layers]
        self.n_layers = n_layers

    def make_cache(self) -> list[Any]:
        from mlx_lm.models.cache import KVCache

        return [KVCache() for _ in self.layers]

    def __call__(self, inputs: mx.array, cache: list[Any] | None = None) -> mx.array:
        h = self.inner.embed_tokens(inputs)
        cache = cache or [None] * len(self.layers)
        mask = create_attention_mask(h, cache[0])
        for layer, c in zip(self.layers, cache):
            h = layer(h, mask, cache=c)
        h = self.inner.norm(h)
        if hasattr(self.full, "lm_head"):
            return self.full.lm_head(h)
        return self.inner.embed_tokens.as_linear(h)


def model_vocab_size(model: Any) -> int:
    args = getattr(model, "args", None)
    if args is not None and getattr(args, "vocab_size", None):
        return int(args.vocab_size)
    inner = getattr(model, "model", model)
    return int(inner.embed_tokens.weight.shape[0])


def tokenizer_eos_ids(tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for attr in ("eos_token_ids",):
        value = getattr(tokenizer, attr, None)
        if value:
            ids.update(int(i) for i in value)
    single = getattr(tokenizer, "eos_token_id", None)
    if single is not None:
        ids.add(int(single))
    return ids


__all__ = ["EngineError", "CachedModel", "LocalTarget", "EarlyExit", "model_vocab_size", "tokenizer_eos_ids"]
