"""In-process pieces the engine adds on top of a loaded model: the early-exit drafter model.

(The KV-cache bookkeeping, ``CachedModel``, lives in ``specviz.models.kv_cache``; the local
target in ``specviz.targets.local``.)
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
from mlx_lm.models.base import create_attention_mask

from specviz.engine.errors import EngineError


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

    def __call__(self, inputs: mx.array, cache: list[Any] | None = None, layers: list[Any] | None = None) -> mx.array:
        """``layers``: run these instead of the shared ones (an adapted drafter's copies)."""
        layers = self.layers if layers is None else layers
        h = self.inner.embed_tokens(inputs)
        cache = cache or [None] * len(layers)
        mask = create_attention_mask(h, cache[0])
        for layer, c in zip(layers, cache):
            h = layer(h, mask, cache=c)
        h = self.inner.norm(h)
        if hasattr(self.full, "lm_head"):
            return self.full.lm_head(h)
        return self.inner.embed_tokens.as_linear(h)


__all__ = ["EarlyExit"]
