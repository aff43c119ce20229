"""The trace views' SQL, written once for the two engines that serve it: DuckDB
(specviz.sql) and Spark SQL (specviz.spark). Only the identifier quote differs between
the dialects, so each view is rendered with the caller's quote.

What is here: the per-kind views (`drafts`, `verifications`, `rounds`, `errors`), the
`tokens` view, and which run_started / run_finished fields are columns of `runs` (each
engine builds `runs` its own way: DuckDB from the footers, Spark by a join).
"""

from __future__ import annotations

from specviz.statuses import committed_sql
from specviz.store.columns import FIELDS_BY_KIND

BASE = ("run_id", "seq")  # first columns of every per-kind view
CLOCKS = ("t_mono_ns", "t_wall_ns")  # last columns of every per-kind view

KIND_VIEWS = {"drafts": "draft_token", "verifications": "verify", "rounds": "round_metrics", "errors": "error"}

# Columns of `runs` after its own (run_id, status, started_at, finished_at, date, n_events),
# in order: the run_started fields, then the run_finished ones (status is already there).
RUN_STARTED_COLUMNS = [f for f in FIELDS_BY_KIND["run_started"] if f not in BASE + CLOCKS]
RUN_FINISHED_COLUMNS = [f for f in FIELDS_BY_KIND["run_finished"] if f not in BASE + CLOCKS + ("status",)]

# Committed tokens in output order: a rejection's `rejected` row is not output (its
# `resampled` row at the same position is); positions after it were never decided.
TOKENS = (
    "SELECT run_id, (row_number() OVER (PARTITION BY run_id ORDER BY seq) - 1)::BIGINT AS token_index, "
    "round, position, token_id, token_text, status, final_logprob AS logprob, "
    "draft_token_id, acceptance_prob, seq "
    "FROM events WHERE kind = 'verify' AND " + committed_sql()
)


def kind_view(kind: str, quote: str = '"') -> str:
    """One event kind's columns from `events`; ``quote``: the dialect's identifier quote
    (DuckDB '"', Spark SQL '`')."""
    fields = [f for f in FIELDS_BY_KIND[kind] if f not in BASE + CLOCKS]
    cols = ", ".join(f"{quote}{c}{quote}" for c in (*BASE, *fields, *CLOCKS))
    return f"SELECT {cols} FROM events WHERE kind = '{kind}'"


def shared_views(quote: str = '"') -> dict[str, str]:
    """Every view both engines define the same way, by name, in the dialect of ``quote``."""
    return {**{name: kind_view(kind, quote) for name, kind in KIND_VIEWS.items()}, "tokens": TOKENS}


__all__ = ["BASE", "CLOCKS", "KIND_VIEWS", "RUN_STARTED_COLUMNS", "RUN_FINISHED_COLUMNS", "TOKENS", "kind_view",
           "shared_views"]
