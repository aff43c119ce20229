"""The KV-cache bookkeeping every in-process model shares (the local target and model drafters).

A ``CachedModel`` remembers which token ids its KV cache holds. Given a new context it keeps
the longest common prefix, trims the rest with ``mlx_lm.models.cache.trim_prompt_cache`` and
feeds only the new suffix: after a rejection the cache is rewound, never rebuilt.

``launch`` starts a forward without waiting for it (``mx.async_eval``), so the caller can do
its bookkeeping while the model computes; ``prefetch_greedy`` goes one step further, as
``mlx_lm.generate_step`` does: it queues the next single-token step on this step's argmax
before that argmax is known. The fed id is recorded as unknown (-1) until the next call
resolves it, so a context that went elsewhere trims it like any other mismatch.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache

from specviz.models.loading import ModelError

PREFILL_STEP = 512


class CachedModel:
    """A model plus a trimmable KV cache and the ids the cache holds."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache = make_prompt_cache(model)
        if not can_trim_prompt_cache(self.cache):
            kinds = sorted({type(c).__name__ for c in self.cache if not c.is_trimmable()})
            raise ModelError(f"speculative decoding needs a trimmable KV cache; this model uses {kinds}")
        self.ids: list[int] = []  # token ids whose keys/values are in the cache
        self.trimmed = 0  # total tokens trimmed (for tests and diagnostics)
        self.fed = 0  # total tokens fed through the model
        self._ahead: tuple[int, mx.array, mx.array] | None = None  # (index in ids, lazy id, its logits)

    def reset(self) -> None:
        self.cache = make_prompt_cache(self.model)
        self.ids = []
        self._ahead = None

    def _resolve(self) -> tuple[int, mx.array] | None:
        """Write the prefetched id into ``ids`` (waiting for it); return (index, its logits)."""
        if self._ahead is None:
            return None
        index, token, logits = self._ahead
        self._ahead = None
        if index >= len(self.ids):
            return None
        self.ids[index] = int(token.item())
        return index, logits

    def _sync(self, context: list[int], n_feed: int = 1) -> list[int]:
        """Trim the cache to the common prefix with ``context``; return the ids still to feed.

        At least ``n_feed`` ids are always left to feed (logits come from the fed ids).
        """
        self._resolve()
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

    def launch(self, context: list[int], n_logits: int) -> mx.array:
        """``forward`` with its evaluation started but not waited for; the prefetched
        logits when a ``prefetch_greedy`` step already computes exactly these."""
        ahead = self._resolve()
        if ahead is not None and n_logits == 1 and ahead[0] == len(context) - 1 == len(self.ids) - 1 \
                and context == self.ids:
            return ahead[1]
        logits = self.forward(context, n_logits, evaluate=False)
        mx.async_eval(logits)
        return logits

    def prefetch_greedy(self, logits: mx.array) -> None:
        """Feed the argmax of the last row of ``logits`` (not yet computed) and start the
        step after it; ``launch`` of the context that ends in that id returns its logits."""
        self._resolve()
        token = mx.argmax(logits[-1], axis=-1).astype(mx.uint32).reshape(1, 1)
        out = self.model(token, cache=self.cache)[0, -1:, :]
        mx.async_eval(token, out)
        self.ids.append(-1)  # unknown until resolved; never equal to a real id
        self.fed += 1
        self._ahead = (len(self.ids) - 1, token, out)


__all__ = ["CachedModel", "PREFILL_STEP"]
