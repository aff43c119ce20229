"""The verify rows of a round scored by a target without full distributions (a server): put on
the run's temperature scale where that can be done to within ``CONVERT_TOL``, and marked
inexact, with the reason, wherever they are not the model's numbers at the recorded context.

A server reports log softmax(logits) (temperature 1); the trace records log softmax(logits / T)
(T = 1 when greedy). From the top-k alone the temperature-T normaliser is known only up to the
unlisted tail: with a = 1 / T, the known tokens give S = sum exp(a * lp); the unknown mass is
m = 1 - sum exp(lp), and its contribution to the normaliser is at most m * c^(a - 1) for a > 1
(every unlisted token has p <= c, the least listed alternative, and <= m) and at most
n^(1 - a) * m^a for a < 1 (n unlisted tokens, by concavity). When that bound moves a logprob
by more than ``CONVERT_TOL`` the row keeps the server's own numbers in ``*_raw`` columns
(scale: T = 1) and leaves the converted ones null.
"""

from __future__ import annotations

import math
from typing import Any

from specviz.events import TopToken, Verify
from specviz.sampling_params import SamplingParams
from specviz.targets.base import Scores

CONVERT_TOL = 0.01  # nats: the most a converted logprob may be off by
TOPK_REASON = "the target is known only through its top-k: the residual was approximated over those tokens"
CONVERTED_SCALE = "softmax(logits/T)"
RAW_SCALE = ("softmax(logits/T) where a server's top-k bounds the conversion within 0.01 nats; "
             "else null, and the server's softmax(logits) (T=1) in *_raw")


def logprob_scale(capability: str, sampling: SamplingParams) -> str:
    """What ``RunStarted.target_logprob_scale`` says about this run's recorded logprobs."""
    if capability == "full" or sampling.greedy or sampling.temperature == 1.0:
        return CONVERTED_SCALE
    return RAW_SCALE


def _log_normaliser(known: dict[int, float], listed: list[float], temperature: float, vocab: int) -> float | None:
    """log of the temperature-T normaliser of raw logprobs, or None when the unlisted tail
    could move it by more than CONVERT_TOL."""
    a = 1.0 / temperature
    lps = list(known.values())
    top = max(a * lp for lp in lps)
    s = sum(math.exp(a * lp - top) for lp in lps)  # scaled by exp(-top)
    mass = max(0.0, 1.0 - sum(math.exp(lp) for lp in lps))
    unlisted = max(0, vocab - len(known))
    if mass <= 0.0 or unlisted == 0:
        tail = 0.0
    elif a > 1.0:
        cap = min(mass, math.exp(min(listed))) if listed else mass
        tail = mass * cap ** (a - 1.0)
    else:
        tail = unlisted ** (1.0 - a) * mass**a
    tail *= math.exp(-top)
    if math.log1p(tail / s) > CONVERT_TOL:
        return None
    return top + math.log(s + tail / 2.0)  # the middle of the bounds: off by at most half of them


def _rescale(v: Verify, raw_top: list[tuple[int, float]], sampling: SamplingParams, vocab: int) -> None:
    known = dict(raw_top)
    if v.draft_token_id is not None and v.target_logprob is not None:
        known[v.draft_token_id] = v.target_logprob
    if v.final_logprob is not None:
        known.setdefault(v.token_id, v.final_logprob)
    if not known:
        return
    a = 1.0 / sampling.temperature
    log_z = _log_normaliser(known, [lp for _, lp in raw_top], sampling.temperature, vocab)
    if log_z is None:
        v.target_logprob_raw, v.final_logprob_raw, v.top_raw = v.target_logprob, v.final_logprob, v.top
        v.target_logprob = v.final_logprob = None
        v.top = []
        return
    if v.target_logprob is not None:
        v.target_logprob = a * v.target_logprob - log_z
    if v.final_logprob is not None:
        v.final_logprob = a * v.final_logprob - log_z
    v.top = [TopToken(t.id, t.text, a * t.logprob - log_z) for t in v.top]


def finish_rows(events: list[Any], scores: Scores, sampling: SamplingParams, vocab: int) -> None:
    """Rescale and mark (in place) the verify events of one round of a non-full target."""
    convert = not sampling.greedy and sampling.temperature != 1.0
    for v in events:
        if not isinstance(v, Verify):
            continue
        reason = scores.inexact_reason or scores.inexact_positions.get(v.position, "")
        if reason:
            v.exact = False
            v.inexact_reason = "; ".join(r for r in (v.inexact_reason, reason) if r)
        elif not v.exact and not v.inexact_reason:
            v.inexact_reason = TOPK_REASON
        if convert:
            tops = scores.top or []
            _rescale(v, tops[v.position] if v.position < len(tops) else [], sampling, vocab)


__all__ = ["CONVERT_TOL", "finish_rows", "logprob_scale"]
