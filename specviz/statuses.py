"""Token verdicts, run statuses and methods: their names, which count as output, and colours.

One home so the CLI, the viewer, the store's totals and the SQL views agree.
"""

from __future__ import annotations

from typing import get_args

from specviz.events import Method, RunStatus, TokenStatus

TOKEN_STATUSES: tuple[str, ...] = get_args(TokenStatus)
# A `rejected` verify row names the draft that lost; its `resampled` twin is the output.
COMMITTED: tuple[str, ...] = ("accepted", "resampled", "bonus")
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
LISTED_RUN_STATUSES: tuple[str, ...] = RUN_STATUSES + ("recording",)  # "recording": a live log
METHODS: tuple[str, ...] = get_args(Method)

# Terminal colours (click.style names) for committed tokens.
TERMINAL_COLOURS = {"accepted": "green", "resampled": "yellow", "bonus": "blue"}
# The seed viewer's palette for verdicts.
HEX_COLOURS = {"accepted": "#22c55e", "rejected": "#ef4444", "resampled": "#f97316", "bonus": "#3b82f6"}


def committed_sql(column: str = "status") -> str:
    """A SQL predicate selecting committed verify rows."""
    return f"{column} IN ({', '.join(repr(s) for s in COMMITTED)})"


__all__ = ["TOKEN_STATUSES", "COMMITTED", "RUN_STATUSES", "LISTED_RUN_STATUSES", "METHODS",
           "TERMINAL_COLOURS", "HEX_COLOURS", "committed_sql"]
