"""The same counts in the conventions of the serving engines, so numbers can be compared
with theirs (definitions in README.md, "Metric conventions"):

  specviz   acceptance_rate = accepted / tested; tau = produced / rounds
  vLLM      draft_acceptance_rate = accepted / drafted; mean_acceptance_length =
            1 + accepted / num_drafts; acceptance per position i = rounds accepting
            position i / num_drafts (num_drafts = rounds that proposed at least one token)
  SGLang    spec_accept_length = tokens produced / verify forward passes (= tau)
  llama.cpp draft_n, draft_n_accepted and their ratio
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from specviz.analysis.data import Rounds


@dataclass
class Conventions:
    rounds: int
    drafted: int
    tested: int
    accepted: int
    produced: int
    acceptance_rate: float | None  # specviz: accepted / tested
    tau: float | None  # specviz: produced / rounds
    vllm_num_drafts: int
    vllm_draft_acceptance_rate: float | None
    vllm_mean_acceptance_length: float | None
    vllm_acceptance_per_position: list[float]
    sglang_spec_accept_length: float | None
    llamacpp_draft_n: int
    llamacpp_draft_n_accepted: int
    llamacpp_acceptance: float | None


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


def conventions(r: Rounds) -> Conventions:
    drafted, tested = int(r.drafted.sum()), int(r.tested.sum())
    accepted, produced, rounds = int(r.accepted.sum()), int(r.produced.sum()), len(r)
    num_drafts = int(np.count_nonzero(r.drafted > 0))
    n_pos = int(r.drafted.max()) if rounds else 0
    per_pos = [float(np.count_nonzero(r.accepted > i)) / num_drafts for i in range(n_pos)] if num_drafts else []
    return Conventions(
        rounds=rounds, drafted=drafted, tested=tested, accepted=accepted, produced=produced,
        acceptance_rate=_ratio(accepted, tested), tau=_ratio(produced, rounds),
        vllm_num_drafts=num_drafts, vllm_draft_acceptance_rate=_ratio(accepted, drafted),
        vllm_mean_acceptance_length=1 + accepted / num_drafts if num_drafts else None,
        vllm_acceptance_per_position=per_pos,
        sglang_spec_accept_length=_ratio(produced, rounds),
        llamacpp_draft_n=drafted, llamacpp_draft_n_accepted=accepted, llamacpp_acceptance=_ratio(accepted, drafted),
    )


__all__ = ["Conventions", "conventions"]
