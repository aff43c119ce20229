"""``nasd[:N]``: n-gram assisted speculative decoding (NASD, romsto/Speculative-Decoding).

A statistical store of k-grams, k = 2..N, built from the prompt and updated with every
token the run appends: for each context of the last k-1 tokens, how often each next token
followed it. A draft is the *most probable* continuation of the last N-1 tokens, backing off
to shorter contexts (N-2 .. 1) when that one was never seen; ties go to the continuation
seen most recently. Prompt lookup (``ngram``) instead copies what followed the most recent
occurrence, whatever came after it before.

Options:

* ``+top_k_filler:K`` after each round, the target's K most likely tokens at every decided
  position are counted in a second store keyed the same way; a context the text never
  continued falls back to it (``draft_source = 'filler'``). 0 (default) = off.
* ``+stop_if_unknown`` (the default) stops the draft at the first context the store does not
  know; ``+stop_if_unknown:0`` continues it with the most frequent token so far (order 1,
  ``draft_source = 'unigram'``). On by default because the guesses are rarely accepted and
  their verification cost made NASD slower than autoregressive on open-ended prompts
  (bench/bench_nasd.py, BENCHMARKS.md).

Each drafted token records the order used (``ngram_n``: k of the k-gram; 1 for the unigram
guess), its source, and for text k-grams the context index of the latest occurrence of the
proposed continuation (``source_pos``). Deterministic: q is one-hot on the proposal.
"""

from __future__ import annotations

import time

from specviz.engine.drafters.base import Draft, DraftContext, DraftedToken, DrafterKind, DrafterSpec, int_arg

DEFAULT_N = 4


class NgramStore:
    """Counts of next tokens per context of 1..N-1 tokens: ``counts[k][ctx][token]`` is
    [count, text count, stamp, latest text position]. Stamps are ``position * 1024 + priority``, so ties go to the
    continuation seen most recently, and at one position to the token the run produced."""

    TEXT = 1023  # priority of the produced token; filler ids get 1022 - rank

    def __init__(self, n: int) -> None:
        self.n = n
        self.counts: dict[int, dict[tuple[int, ...], dict[int, list[int]]]] = {k: {} for k in range(2, n + 1)}

    def add(self, context: list[int], token: int, stamp: int, text: bool) -> None:
        """Count ``token`` after every suffix of ``context`` of 1..N-1 tokens."""
        for k in range(2, min(self.n, len(context) + 1) + 1):
            seen = self.counts[k].setdefault(tuple(context[len(context) - (k - 1):]), {})
            entry = seen.setdefault(token, [0, 0, 0, -1])
            entry[0] += 1
            entry[2] = max(entry[2], stamp)
            if text:
                entry[1] += 1
                entry[3] = stamp // 1024

    def predict(self, context: list[int]) -> tuple[int, int, list[int]] | None:
        """(token, k, its [count, text count, stamp, text position]) for the longest known suffix of
        ``context``; None when no suffix is known."""
        for k in range(min(self.n, len(context) + 1), 1, -1):
            seen = self.counts[k].get(tuple(context[len(context) - (k - 1):]))
            if seen:
                token, entry = max(seen.items(), key=lambda item: (item[1][0], item[1][2]))
                return token, k, entry
        return None


class NasdDrafter:
    def __init__(self, n: int = DEFAULT_N, *, top_k_filler: int = 0, stop_if_unknown: bool = True,
                 spec: str | None = None) -> None:
        self.n, self.top_k_filler, self.stop_if_unknown = n, top_k_filler, stop_if_unknown
        self.spec = spec or f"nasd:{n}"
        self.observe_top = top_k_filler  # the loop hands observe() this many target ids per position
        self.model_name = ""
        self.reset([])

    def reset(self, prompt_ids: list[int]) -> None:
        self.store = NgramStore(self.n)
        self.unigram: dict[int, list[int]] = {}
        self.indexed: list[int] = []
        self._index(list(prompt_ids))

    def prefill(self, prompt_ids: list[int]) -> None:
        self.reset(prompt_ids)

    def _index(self, context: list[int]) -> None:
        """Count the tokens of ``context`` not counted yet (a run appends, never rewrites)."""
        if context[: len(self.indexed)] != self.indexed:
            self.reset([])  # a context from another run: start over
        for pos in range(len(self.indexed), len(context)):
            token = context[pos]
            self.store.add(context[max(0, pos - self.n + 1) : pos], token, pos * 1024 + NgramStore.TEXT, True)
            entry = self.unigram.setdefault(token, [0, 0])
            entry[0], entry[1] = entry[0] + 1, pos
        self.indexed = list(context)

    def observe(self, context: list[int], tokens: list[int], top_ids: list[list[int]]) -> None:
        """After a round: the target's most likely ids at each decided position (position j
        continues ``context + tokens[:j]``) are counted after that position's contexts."""
        tail = list(context[max(0, len(context) - self.n + 1) :])
        for j, ids in enumerate(top_ids[: len(tokens)]):
            pos = len(context) + j
            for rank, token in enumerate(ids[: self.top_k_filler]):
                self.store.add(tail + tokens[:j], int(token), pos * 1024 + NgramStore.TEXT - 1 - rank, False)

    def propose(self, context: list[int], k: int, ctx: DraftContext | None = None) -> Draft:
        start = time.perf_counter()
        self._index(context)
        seq = list(context)
        tokens: list[DraftedToken] = []
        for _ in range(max(0, k)):
            guess = self._guess(seq)
            if guess is None:
                break
            tokens.append(guess)
            seq.append(guess.id)
        each = (time.perf_counter() - start) * 1e3 / len(tokens) if tokens else 0.0
        for t in tokens:
            t.ms = each
        return Draft(tokens)

    def _guess(self, seq: list[int]) -> DraftedToken | None:
        hit = self.store.predict(seq)
        if hit is not None:
            token, k, (_, text_count, _, pos) = hit
            if text_count:
                return DraftedToken(token, ngram_n=k, source_pos=pos, source="ngram")
            return DraftedToken(token, ngram_n=k, source="filler")
        if self.stop_if_unknown or not self.unigram:
            return None
        token, (_, pos) = max(self.unigram.items(), key=lambda item: item[1])
        return DraftedToken(token, ngram_n=1, source_pos=pos, source="unigram")


def _parse_option(name: str, value: str) -> str:
    if name == "top_k_filler":
        return int_arg("+top_k_filler:K", minimum=0)(value)
    if value.lower() in ("", "1", "true", "yes", "on"):
        return ""
    if value.lower() in ("0", "false", "no", "off"):
        return "0"
    raise ValueError(f"+{name} is a switch: +{name} or +{name}:0 (got {value!r})")


def _build(spec: DrafterSpec, target) -> NasdDrafter:
    return NasdDrafter(spec.n, top_k_filler=int(spec.option("top_k_filler") or 0),
                       stop_if_unknown=spec.option("stop_if_unknown", "") != "0", spec=spec.text)


KIND = DrafterKind(
    prefix="nasd",
    syntax="nasd[:N]",
    help=f"n-gram store (k = 2..N, N={DEFAULT_N}): the most frequent continuation of the last N-1 tokens, backing off",
    parse_arg=int_arg("nasd:N", default=DEFAULT_N, minimum=2),
    options={
        "top_k_filler": "+top_k_filler:K  count the target's top-K ids per position; fallback for unknown contexts",
        "stop_if_unknown": "(default on) end the draft at the first unknown context; :0 guesses the most frequent token",
    },
    parse_option=_parse_option,
    build=_build,
)
