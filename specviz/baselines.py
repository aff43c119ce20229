"""Which autoregressive run a speedup is divided by.

A *measured* baseline is a completed autoregressive run recorded through the same engine
path and matched on everything that moves its tokens/s: target and model, prompt token
ids, sampling parameters (temperature, top-p, top-k, and whether it was seeded), max
tokens, recorded alternatives per position (``n_top``) and host. ``BaselineIndex`` finds
the newest such run; the CLI builds one from the trace store and hands it to the engine
(``Engine.record(..., baselines=index)``), adding each run it records so a sweep's own
autoregressive runs serve the speculative runs after them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from specviz.events import RunFinished, RunStarted

KINDS = ("measured", "estimated", "none")
# "auto": measured when the index has a match, else estimated (the default of `record`)
CHOICES = ("auto", *KINDS)


@dataclass(frozen=True)
class Baseline:
    """A baseline rate and where it came from (``run_id`` empty unless measured)."""

    tokens_per_s: float | None
    kind: str  # measured | estimated | none
    run_id: str = ""


def baseline_key(started: RunStarted) -> tuple:
    """What two runs must share for one to be the other's measured baseline."""
    greedy = started.temperature <= 0
    return (
        started.target,
        started.target_model,
        tuple(started.prompt_token_ids),
        float(started.temperature),
        float(started.top_p),
        int(started.top_k),
        None if greedy else started.seed is None,  # seed policy; a greedy run draws nothing
        int(started.max_tokens),
        started.tags.get("n_top", ""),
        started.host,
    )


@dataclass
class BaselineIndex:
    """Newest completed autoregressive run per ``baseline_key``."""

    runs: dict[tuple, tuple[int, Baseline]] = field(default_factory=dict)

    def add(self, run_id: str, started: RunStarted, finished: RunFinished | None) -> None:
        if (finished is None or finished.status != "completed" or started.method != "autoregressive"
                or not finished.tokens_per_s):
            return
        key = baseline_key(started)
        when = started.t_wall_ns
        if key not in self.runs or self.runs[key][0] <= when:
            self.runs[key] = (when, Baseline(float(finished.tokens_per_s), "measured", run_id))

    def find(self, started: RunStarted) -> Baseline | None:
        hit = self.runs.get(baseline_key(started))
        return hit[1] if hit else None

    @classmethod
    def from_store(cls, traces: str | os.PathLike) -> "BaselineIndex":
        """Every run in ``traces`` (a missing directory is an empty store; files the
        listing cannot read are its problems, reported by ``specviz runs``, not here)."""
        from specviz.store import scan

        index = cls()
        if os.path.isdir(traces):
            for run in scan(traces).runs:
                index.add(run.run_id, run.started, run.finished)
        return index


__all__ = ["KINDS", "CHOICES", "Baseline", "BaselineIndex", "baseline_key"]
