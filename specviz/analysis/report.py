"""``analyze``: every number of the report, computed once, for the CLI and the viewer.

Runs are pooled per configuration (target, model, drafter, method, sampling) for the
per-position, per-round and K statistics; audits, replays and metric conventions are per run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import duckdb
import numpy as np

from specviz.analysis import acceptance as acc
from specviz.analysis.audit import Audit, audit
from specviz.analysis.conventions import Conventions, conventions, conventions_per_run
from specviz.analysis.data import RunInfo, Selection, load_rounds, load_runs, select_run_ids
from specviz.analysis.kmodel import KCurve, k_curve
from specviz.analysis.replay import ReplayResult, replay_run, replayable
from specviz.sql_sandbox import stale_trace_error

REPLAY_AUTO_LIMIT = 50  # runs; above it `auto` skips replay (say --replay to force it)


@dataclass
class GroupReport:
    label: str
    run_ids: list[str]
    per_position: acc.Rates
    by_output_position: acc.Rates
    by_context_length: acc.Rates
    heatmap: acc.Heatmap
    k: KCurve | None
    recorded_by_k: dict[int, float]  # fixed K recorded -> tokens/s over those runs' rounds
    conventions: Conventions
    notes: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    run_id: str
    label: str
    prompt: str
    k: int
    k_policy: str
    status: str
    tokens_per_s: float | None
    speedup: float | None
    conventions: Conventions
    audit: Audit
    replay: ReplayResult | None = None
    replay_note: str = ""


@dataclass
class Report:
    runs: list[RunReport]
    groups: list[GroupReport]
    notes: list[str] = field(default_factory=list)


def analyze(con: duckdb.DuckDBPyConnection, run_ids: list[str] | None = None, *, where: str | None = None,
            replay: str = "auto") -> Report:
    """The report for runs given by id prefix and/or a WHERE clause over ``runs``;
    ``replay``: ``auto`` (n-gram runs, small selections), ``all`` (model drafters too), ``none``."""
    try:
        runs = load_runs(con, select_run_ids(con, list(run_ids or ()), where))
        # The audit scans the decided positions while the rounds are read and reported on: on
        # its own cursor (DuckDB releases the GIL), so one's Python work overlaps the other's scan.
        with _in_background(con, audit, runs) as audits:
            selection = Selection(runs, load_rounds(con, [r.run_id for r in runs]))
            return build_report(con, selection, replay=replay, audits=audits)
    except duckdb.PermissionException as exc:
        # A recording packed files of the connection's list meanwhile: say so, as `sql` does.
        raise stale_trace_error(con, exc) or exc from None


@contextmanager
def _in_background(con: duckdb.DuckDBPyConnection, fn: Callable, *args) -> Iterator[Callable[[], dict]]:
    """``fn(cursor, *args)`` started on a thread with its own cursor; yields the call that
    waits for its result. Leaving early (an error, Ctrl-C) interrupts its query."""
    cursor = con.cursor()
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn, cursor, *args)
    try:
        yield future.result
    except BaseException:
        cursor.interrupt()
        raise
    finally:
        pool.shutdown(wait=True)
        cursor.close()


def build_report(con: duckdb.DuckDBPyConnection, selection: Selection, *, replay: str = "auto",
                 audits: Callable[[], dict] | None = None) -> Report:
    """``audits``: a call returning the runs' audits (started elsewhere); None audits here."""
    runs, rounds = selection.runs, selection.rounds
    notes = list(selection.notes)
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(run.config, []).append(i)
    starts = acc.output_start(rounds)
    prompt_len = np.array([len(r.prompt_token_ids) for r in runs], dtype=np.int64)
    run_k = np.array([r.k for r in runs], dtype=np.int64)
    round_k = np.where(rounds.k >= 0, rounds.k, run_k[rounds.run]) if len(rounds) else rounds.k
    group_reports = []
    costs = {}
    for key, members in groups.items():
        mask = np.isin(rounds.run, members)
        g = _group(runs, members, rounds.take(mask), starts[mask], prompt_len, round_k[mask])
        group_reports.append(g)
        costs[key] = g.k.costs if g.k else None
    audits = audit(con, runs) if audits is None else audits()
    run_reports = []
    for run, conv in zip(runs, conventions_per_run(rounds, len(runs))):
        rep = RunReport(run.run_id, run.config_label, run.prompt, run.k, run.k_policy or "fixed", run.status,
                        run.tokens_per_s, run.speedup, conv, audits[run.run_id])
        _attach_replay(rep, run, costs.get(run.config), replay, len(runs))
        run_reports.append(rep)
    return Report(run_reports, group_reports, notes)


def _group(runs: list[RunInfo], members: list[int], r, starts, prompt_len, round_k) -> GroupReport:
    first = runs[members[0]]
    n = len(runs)
    produced = np.bincount(r.run, weights=r.produced, minlength=n)
    spent = np.bincount(r.run, weights=r.round_ms, minlength=n)
    by_k: dict[int, list[float]] = {}
    for i in members:
        run = runs[i]
        if run.k_policy != "auto" and run.method != "autoregressive":
            acc_k = by_k.setdefault(run.k, [0.0, 0.0])
            acc_k[0] += float(produced[i])
            acc_k[1] += float(spent[i])
    recorded = {k: v[0] / v[1] * 1e3 for k, v in sorted(by_k.items()) if v[1] > 0}
    notes = []
    curve = k_curve(r, round_k) if first.method != "autoregressive" else None
    if curve is None:
        notes.append("no drafted rounds: τ(K) and speedup(K) not measured")
    else:
        notes.extend(curve.notes)
    return GroupReport(
        label=first.config_label, run_ids=[runs[i].run_id for i in members],
        per_position=acc.per_position(r), by_output_position=acc.binned(starts.astype(np.float64), r),
        by_context_length=acc.binned((starts + prompt_len[r.run]).astype(np.float64), r),
        heatmap=acc.heatmap(r), k=curve, recorded_by_k=recorded, conventions=conventions(r), notes=notes,
    )


def _attach_replay(rep: RunReport, run: RunInfo, costs, mode: str, n_runs: int) -> None:
    why = replayable(run)
    if why is None and mode == "none":
        why = "replay not asked for"
    if why is None and mode == "auto":
        if not run.drafter.startswith("ngram"):
            why = "model drafter: re-running it is slow, ask with --replay"
        elif n_runs > REPLAY_AUTO_LIMIT:
            why = f"more than {REPLAY_AUTO_LIMIT} runs selected: ask with --replay"
    if why is not None:
        rep.replay_note = f"not replayed: {why}"
        return
    try:
        rep.replay = replay_run(run, costs)
    except Exception as exc:  # a drafter that cannot be rebuilt here (missing model, remote target)
        rep.replay_note = f"not replayed: {type(exc).__name__}: {exc}".splitlines()[0]


__all__ = ["Report", "GroupReport", "RunReport", "analyze", "build_report"]
