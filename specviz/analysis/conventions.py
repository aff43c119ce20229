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
    """The pooled conventions of all of ``r``'s rounds."""
    return conventions_per_run(Rounds(**{**r.__dict__, "run": np.zeros(len(r), dtype=np.int64)}), 1)[0]


def conventions_per_run(r: Rounds, n_runs: int) -> list[Conventions]:
    """``conventions`` of each run index 0..n_runs-1 at once: bincounts over all rounds
    rather than a slice and a pass per run (1,000 runs cost ~0.2 s the other way)."""
    def per_run(weights=None) -> np.ndarray:
        return np.bincount(r.run, weights=weights, minlength=n_runs)

    drafted, tested, accepted, produced = (per_run(x).astype(np.int64)
                                           for x in (r.drafted, r.tested, r.accepted, r.produced))
    rounds, num_drafts = per_run(), per_run(r.drafted > 0).astype(np.int64)
    n_pos = np.zeros(n_runs, dtype=np.int64)
    np.maximum.at(n_pos, r.run, r.drafted)
    width = int(r.accepted.max()) + 1 if len(r) else 1
    # rounds accepting position i = rounds with accepted > i: a reversed cumulative histogram
    hist = np.bincount(r.run * width + r.accepted, minlength=n_runs * width).reshape(n_runs, width)
    beyond = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # beyond[j, a] = rounds of run j with accepted >= a
    out = []
    for j in range(n_runs):
        d, a, n = int(drafted[j]), int(accepted[j]), int(num_drafts[j])
        per_pos = [float(beyond[j, i + 1]) / n if i + 1 < width else 0.0 for i in range(int(n_pos[j]))] if n else []
        out.append(Conventions(
            rounds=int(rounds[j]), drafted=d, tested=int(tested[j]), accepted=a, produced=int(produced[j]),
            acceptance_rate=_ratio(a, tested[j]), tau=_ratio(produced[j], rounds[j]),
            vllm_num_drafts=n, vllm_draft_acceptance_rate=_ratio(a, d),
            vllm_mean_acceptance_length=1 + a / n if n else None, vllm_acceptance_per_position=per_pos,
            sglang_spec_accept_length=_ratio(produced[j], rounds[j]),
            llamacpp_draft_n=d, llamacpp_draft_n_accepted=a, llamacpp_acceptance=_ratio(a, d),
        ))
    return out


__all__ = ["Conventions", "conventions", "conventions_per_run"]
