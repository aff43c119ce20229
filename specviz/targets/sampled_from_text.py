"""Recover the sampled tokens from the text when a server mislabels them (mlx_lm.server 0.32).

With ``top_logprobs`` > 0, mlx_lm.server reports at each position the first entry of its
unsorted top-k in place of the sampled token, while the text it returns is right. The
sampled token is then, at each position, one of the reported alternatives whose text
continues the returned text. Candidates are tried most likely first, so at temperature 0
(where the sampled token is the argmax) the first reading found is the sampled one. When no
alternative fits (at temperature > 0 the sampled token may lie outside the top-k) there is
no reading, and the caller fails the round rather than guess.
"""

from __future__ import annotations

from typing import Any, Sequence

from specviz.targets.token_map import TokenMapper


def _options(raw: Any) -> list[tuple[int, float]]:
    seen: set[int] = set()
    options = []
    candidates = [(raw.token_id, raw.logprob)] + [(alt_id, lp) for _, alt_id, lp in raw.top]
    for token_id, logprob in sorted(candidates, key=lambda c: -c[1] if isinstance(c[1], (int, float)) else 0.0):
        if isinstance(token_id, int) and token_id not in seen:
            seen.add(token_id)
            options.append((token_id, logprob))
    return options


def _read(raws: Sequence[Any], i: int, text: str, at: int, mapper: TokenMapper, eos: frozenset[int]) -> list[tuple[int, float]] | None:
    if i == len(raws):
        return [] if at == len(text) else None
    for token_id, logprob in _options(raws[i]):
        if at == len(text) and i == len(raws) - 1 and token_id in eos:
            return [(token_id, logprob)]  # the final EOS is not part of the text
        piece = mapper.piece(token_id)
        if piece and text.startswith(piece, at):
            rest = _read(raws, i + 1, text, at + len(piece), mapper, eos)
            if rest is not None:
                return [(token_id, logprob)] + rest
    return None


def sampled_from_text(raws: Sequence[Any], text: str, mapper: TokenMapper, eos: frozenset[int]) -> list[tuple[int, float]] | None:
    """(token id, logprob) per position spelling ``text``, chosen among the alternatives."""
    # mlx_lm's detokenizer drops one leading space of a completion: try the text with it too.
    return _read(raws, 0, text, 0, mapper, eos) or _read(raws, 0, " " + text, 0, mapper, eos)
