"""Exact what-if replay: a greedy run's output is fixed (each token is the target's
argmax), so the run at any other K can be re-enacted from the recorded ids without the
target: each round asks the run's own drafter (the real class, built from the recorded
spec) for K tokens after the output so far, accepts the prefix that equals the recorded
output, and appends one more recorded token (the correction or bonus).

Deterministic drafters only: n-gram lookup, and a model drafter at T = 0 (re-run over the
recorded ids, which needs its model and, for ``layerskip``, the local target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from specviz.analysis.data import RunInfo
from specviz.analysis.kmodel import K_MAX, CostModel

Propose = Callable[[list[int], int], list[int]]


@dataclass
class ReplayResult:
    run_id: str
    ks: list[int]
    rounds: list[int]
    tau: list[float]
    drafted: list[int]
    tokens_per_s: list[float | None]  # with the cost model of the run's configuration
    reproduces: bool  # replay at the run's own K gives its recorded number of rounds
    best_k: int  # most tokens/s (fewest rounds when there is no cost model)


def replayable(run: RunInfo) -> str | None:
    """None when the run can be replayed exactly, else why not."""
    if run.method != "speculative":
        return f"method {run.method}"
    if not run.greedy:
        return "sampled (T > 0): the output depends on the draws"
    if run.k_policy == "auto":
        return "adaptive K: replay needs a fixed K per run"
    if not run.output_token_ids:
        return "no output"
    from specviz.engine.drafters import parse_drafter
    from specviz.engine.errors import EngineError

    try:
        kind = parse_drafter(run.drafter).kind
    except EngineError:
        return f"drafter {run.drafter!r} is not one specviz can rebuild"
    if kind not in ("ngram", "layerskip", "mlx"):
        return f"drafter {run.drafter!r}"
    return None


def drafter_proposer(run: RunInfo) -> Propose:
    """The run's drafter, rebuilt from its spec; model drafters are run greedily."""
    from specviz.engine.drafters import DraftContext, build_drafter, parse_drafter
    from specviz.engine.sampling import make_rng, make_transform
    from specviz.sampling_params import SamplingParams
    from specviz.engine.specs import build_target

    kind = parse_drafter(run.drafter).kind
    target = None if kind == "ngram" else build_target(run.target)
    drafter = build_drafter(run.drafter, target)
    params = SamplingParams()  # greedy: the drafter's proposal is its argmax chain
    ctx = DraftContext(params, make_transform(params), make_rng(0), getattr(target, "vocab_size", 0), 0)
    drafter.prefill(list(run.prompt_token_ids))
    return lambda context, k: drafter.propose(context, k, ctx).ids


class _Proposals:
    """Proposals per output position, longest asked so far: a deterministic drafter's K
    tokens are a prefix of its K+1 (lookup copies a span; greedy decoding extends)."""

    def __init__(self, prompt: list[int], out: list[int], propose: Propose) -> None:
        self.prompt, self.out, self.propose = prompt, out, propose
        self.cache: dict[int, tuple[list[int], bool]] = {}  # pos -> (tokens, complete)

    def __call__(self, pos: int, k: int) -> list[int]:
        have, complete = self.cache.get(pos, ([], False))
        if len(have) < k and not complete:
            have = self.propose(self.prompt + self.out[:pos], k)
            self.cache[pos] = (have, len(have) < k)
        return have[:k]


def simulate(out: list[int], k: int, max_tokens: int, proposals: Callable[[int, int], list[int]]) -> tuple[int, int, list[int]]:
    """(rounds, drafted tokens, drafted per round) of a greedy run with output ``out`` at K = k,
    mirroring the engine's loop (K shrinks near max_tokens; the output's end stops it)."""
    pos = rounds = 0
    per_round: list[int] = []
    n = len(out)
    while pos < n:
        kk = max(0, min(k, max_tokens - pos - 1)) if max_tokens else k
        draft = proposals(pos, kk) if kk > 0 else []
        a = 0
        while a < len(draft) and pos + a < n and draft[a] == out[pos + a]:
            a += 1
        pos += min(a + 1, n - pos)
        rounds += 1
        per_round.append(len(draft))
    return rounds, sum(per_round), per_round


def replay_run(run: RunInfo, costs: CostModel | None = None, propose: Propose | None = None,
               ks: range = range(1, K_MAX + 1)) -> ReplayResult:
    out = list(run.output_token_ids)
    proposals = _Proposals(list(run.prompt_token_ids), out, propose or drafter_proposer(run))
    rounds, taus, drafted, tps = [], [], [], []
    for k in ks:
        n_rounds, n_drafted, per_round = simulate(out, k, run.max_tokens, proposals)
        rounds.append(n_rounds)
        taus.append(len(out) / n_rounds if n_rounds else 0.0)
        drafted.append(n_drafted)
        ms = float(costs.round_ms(np.asarray(per_round)).sum()) if costs is not None else 0.0
        tps.append(len(out) / ms * 1e3 if ms > 0 else None)
    own = simulate(out, run.k, run.max_tokens, proposals)[0] if run.k > 0 else None
    ks = list(ks)
    if any(t is not None for t in tps):
        best = ks[int(np.nanargmax([t if t is not None else np.nan for t in tps]))]
    else:
        best = ks[int(np.argmin(rounds))]
    return ReplayResult(run.run_id, ks, rounds, taus, drafted, tps, own == run.rounds, best)


__all__ = ["ReplayResult", "replayable", "drafter_proposer", "simulate", "replay_run"]
