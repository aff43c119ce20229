"""``ngram[:N]``: prompt lookup (PLD). Find the most recent earlier occurrence of the
context's last n tokens (n = N..1) in prompt + output and propose what followed it.

Deterministic: q is one-hot on the proposal, so Leviathan's rule accepts with p(x) and
resamples from p with x removed. Each drafted token records the order n that matched and
the context index it was copied from (``DraftToken.ngram_n`` / ``source_pos``).
"""

from __future__ import annotations

import time

import numpy as np

from specviz.engine.drafters.base import Draft, DraftContext, DraftedToken, DrafterKind, int_arg
from specviz.engine.errors import EngineError

DEFAULT_N = 3


class NgramDrafter:
    """Prompt lookup over prompt + output; no model, no distribution."""

    def __init__(self, n: int = DEFAULT_N, spec: str | None = None) -> None:
        if n < 1:
            raise EngineError(f"ngram:N needs N >= 1, got {n}")
        self.n = n
        self.spec = spec or f"ngram:{n}"
        self.model_name = ""

    def prefill(self, prompt_ids: list[int]) -> None:
        return None

    def propose(self, context: list[int], k: int, ctx: DraftContext | None = None) -> Draft:
        start = time.perf_counter()
        match = lookup_match(context, self.n) if k > 0 else None
        ms = (time.perf_counter() - start) * 1e3
        if match is None:
            return Draft()
        n, begin = match
        ids = context[begin : begin + k]
        each = ms / len(ids)
        return Draft([DraftedToken(int(t), ms=each, ngram_n=n, source_pos=begin + i, source="ngram")
                      for i, t in enumerate(ids)])


def lookup_match(context: list[int], max_n: int) -> tuple[int, int] | None:
    """(n, begin): the longest suffix of ``context`` (length max_n..1) that occurred earlier,
    at its most recent earlier occurrence, and the index just after it; None when none recurs."""
    arr = np.asarray(context, dtype=np.int64)
    length = arr.size
    for n in range(min(max_n, length - 1), 0, -1):
        tail = arr[length - n :]
        windows = np.lib.stride_tricks.sliding_window_view(arr[: length - 1], n)
        hits = np.flatnonzero((windows == tail).all(axis=1))
        if hits.size:
            return n, int(hits[-1]) + n
    return None


def lookup(context: list[int], k: int, max_n: int) -> list[int]:
    """The up-to-k tokens ``lookup_match`` points at; [] when no suffix recurs."""
    match = lookup_match(context, max_n)
    return [] if match is None else list(context[match[1] : match[1] + k])


KIND = DrafterKind(
    prefix="ngram",
    syntax="ngram[:N]",
    help=f"prompt lookup: copy what followed the last N..1 tokens' latest earlier occurrence (N={DEFAULT_N})",
    parse_arg=int_arg("ngram:N", default=DEFAULT_N),
    build=lambda spec, target: NgramDrafter(spec.n, spec=spec.text),
)
