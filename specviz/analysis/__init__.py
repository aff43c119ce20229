"""Answers from recorded runs: acceptance with intervals, τ(K) and speedup(K), best and
oracle K, exact what-if replay, a losslessness audit, and metric conventions of other
engines. Pure functions over the store's DuckDB views; ``specviz analyze`` prints them
and the viewer's Analysis page draws them.

    from specviz.sql import connect
    from specviz.analysis import analyze, render_text
    report = analyze(connect("traces"), ["3fa2"])
"""

from specviz.analysis.report import GroupReport, Report, RunReport, analyze, build_report
from specviz.analysis.render import render_text, to_json

__all__ = ["Report", "GroupReport", "RunReport", "analyze", "build_report", "render_text", "to_json"]
