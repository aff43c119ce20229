"""The run metrics the engine keeps, re-exported from ``specviz.totals`` (their one home,
shared with recovery, the Recording API and SQL, so every producer computes the same totals)."""

from specviz.totals import WINDOW, RoundCounts, RunMetrics, expected_tokens, leviathan_bound, leviathan_speedup

__all__ = ["WINDOW", "RoundCounts", "RunMetrics", "expected_tokens", "leviathan_bound", "leviathan_speedup"]
