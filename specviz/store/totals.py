"""A run_finished event rebuilt from the events of a run that never logged one.

Used when a run ends without the engine's own summary: a crash found by recovery, an
exception or Ctrl-C inside ``with open_run(...)``. Counts come from the per-round
metrics the engine logged; the output is the committed tokens (verify events that are
not ``rejected``), so a recovered trace still shows everything that was produced.
"""

from __future__ import annotations

from specviz.events import RoundMetrics, RunFinished, Verify
from specviz.statuses import COMMITTED



def finished_from_events(events: list, *, status: str, finish_reason: str) -> RunFinished:
    rounds = [e for e in events if isinstance(e, RoundMetrics)]
    committed = [e for e in events if isinstance(e, Verify) and e.status in COMMITTED]
    drafted = sum(r.drafted for r in rounds)
    tested = sum(r.tested for r in rounds)
    accepted = sum(r.accepted for r in rounds)
    produced = sum(r.produced for r in rounds) if rounds else len(committed)
    monos = [e.t_mono_ns for e in events if e.t_mono_ns]
    wall_ms = (max(monos) - min(monos)) / 1e6 if monos else 0.0
    last = rounds[-1] if rounds else None
    return RunFinished(
        status=status,
        finish_reason=finish_reason,
        rounds=len(rounds),
        drafted=drafted,
        tested=tested,
        accepted=accepted,
        produced=produced,
        wall_ms=wall_ms,
        acceptance_rate=accepted / tested if tested else None,
        tau=last.tau_cumulative if last else None,
        alpha=last.alpha if last else None,
        tokens_per_s=produced / (wall_ms / 1e3) if wall_ms > 0 else None,
        baseline_tokens_per_s=last.baseline_tokens_per_s if last else None,
        baseline_estimated=last.baseline_estimated if last else True,
        speedup=last.speedup if last else None,
        output_text="".join(e.token_text for e in committed),
        output_token_ids=[e.token_id for e in committed],
    )
