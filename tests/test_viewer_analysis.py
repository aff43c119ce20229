"""The Analysis page under AppTest over the committed example traces: every chart titled
with axis titles, the numbers equal to `specviz analyze`'s, empty states saying so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz.analysis import analyze
from specviz.sql import connect

APP = str(Path(__file__).resolve().parent.parent / "viewer" / "app.py")
EXAMPLES = Path(__file__).resolve().parent.parent / "traces" / "examples"
CHARTS = ("an_position", "an_k", "an_output", "an_context", "an_heatmap", "an_replay")


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("examples")
    shutil.copytree(EXAMPLES, d, dirs_exist_ok=True)
    return str(d)


def open_analysis(traces: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["traces_dir"] = traces
    at.run()
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page("views/analysis.py").run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """The page's figures by key; the six panels of the one grid figure (``an_grid``) are
    split back into a figure each (its traces, axes, title and notes) under CHARTS."""
    out = {}
    for el in at.get("plotly_chart"):
        for key in ("an_grid", "an_audit_fig"):
            if el.proto.id.endswith(key) or key in el.proto.id:
                out[key] = json.loads(el.proto.spec)
    grid = out.pop("an_grid")
    layout = grid["layout"]
    for i, key in enumerate(CHARTS):
        n = "" if i == 0 else str(i + 1)
        x, y = layout[f"xaxis{n}"], layout[f"yaxis{n}"]
        title = [a["text"] for a in layout["annotations"] if a.get("xref") == "paper"
                 and abs(a["x"] - sum(x["domain"]) / 2) < 1e-9 and abs(a["y"] - y["domain"][1]) < 1e-9]
        notes = [a for a in layout["annotations"] if a.get("xref") == f"x{n} domain"]
        traces = [t for t in grid.get("data", []) if t.get("xaxis", "x") == f"x{n}"]
        out[key] = {"data": traces, "layout": {"title": {"text": title[0] if title else ""}, "xaxis": x, "yaxis": y,
                                               "annotations": notes}}
    return out


def _title(fig: dict, axis: str = "") -> str:
    layout = fig["layout"]
    node = layout[axis] if axis else layout
    return (node.get("title") or {}).get("text", "")


def test_one_figure_holds_the_six_panels_on_their_own_axes(traces):
    ids = [r[0] for r in connect(traces).execute("SELECT run_id FROM runs WHERE drafter LIKE 'ngram%'").fetchall()]
    at = open_analysis(traces, runs=",".join(ids))
    keys = [el.proto.id for el in at.get("plotly_chart")]
    assert len(keys) == 1 and "an_grid" in keys[0]  # greedy runs: no audit chart
    grid = json.loads(at.get("plotly_chart")[0].proto.spec)
    domains = [(grid["layout"][f"xaxis{n}"]["domain"], grid["layout"][f"yaxis{n}"]["domain"])
               for n in ("", "2", "3", "4", "5", "6")]
    for i, (xa, ya) in enumerate(domains):  # no two panels overlap
        for xb, yb in domains[i + 1:]:
            assert xa[1] <= xb[0] or xb[1] <= xa[0] or ya[1] <= yb[0] or yb[1] <= ya[0]
    tau = [t for t in grid["data"] if t.get("name", "").startswith("τ")][0]
    assert grid["layout"]["yaxis" + tau["yaxis"][1:]]["overlaying"] == "y2"  # τ on the K panel's right axis


def test_page_draws_the_cli_numbers_for_two_ngram_runs(traces):
    ids = [r[0] for r in connect(traces).execute("SELECT run_id FROM runs WHERE drafter LIKE 'ngram%'").fetchall()]
    at = open_analysis(traces, runs=",".join(ids))
    figs = charts(at)
    assert set(CHARTS) <= set(figs)
    for key in CHARTS:
        assert _title(figs[key]) and _title(figs[key], "xaxis") and _title(figs[key], "yaxis"), key
    expected = analyze(connect(traces), ids)
    group = expected.groups[0]
    bars = figs["an_position"]["data"][0]
    assert bars["y"] == pytest.approx(group.per_position.rate)
    speed = [t for t in figs["an_k"]["data"] if t.get("name") == "best fixed K"][0]
    assert speed["x"] == [group.k.best_k]
    replay = figs["an_replay"]["data"]
    assert len(replay) == 2 and replay[0]["y"] == expected.runs[0].replay.rounds
    assert any(m.label.startswith("Best fixed K") for m in at.metric)
    audit = at.table[0].value
    assert list(audit["verdict"]) == ["lossless", "lossless"]


def test_autoregressive_run_says_not_measured(traces):
    [auto] = [r[0] for r in connect(traces).execute("SELECT run_id FROM runs WHERE method = 'autoregressive'").fetchall()]
    at = open_analysis(traces, runs=auto)
    figs = charts(at)
    for key in CHARTS:
        notes = [a["text"] for a in figs[key]["layout"].get("annotations", [])]
        assert any(n.startswith("not measured") for n in notes), key
        assert _title(figs[key], "xaxis") and _title(figs[key], "yaxis")


def test_where_condition_and_sampled_audit_chart(traces):
    at = open_analysis(traces, where="temperature > 0")
    figs = charts(at)
    assert "an_audit_fig" in figs
    observed = figs["an_audit_fig"]["data"][0]
    assert observed["name"].startswith("observed") and len(observed["x"]) >= 1


def test_bad_condition_is_an_error_message_not_a_traceback(traces):
    at = open_analysis(traces, where="no_such_column = 1")
    assert at.error and "Cannot analyse" in at.error[0].value


def test_a_link_with_run_id_prefixes_analyses_those_runs(traces):
    """Like Replay's and Compare's links, /analysis?runs= takes any unique prefix (as every
    command does); a prefix that names no run, or several, is said, not silently dropped."""
    ids = [r[0] for r in connect(traces).execute("SELECT run_id FROM runs WHERE drafter LIKE 'ngram%'").fetchall()]
    at = open_analysis(traces, runs=",".join(r[:8] for r in ids))
    assert sorted(at.multiselect(key="analysis_pick").value) == sorted(ids)
    assert at.metric and at.metric[0].value == "2"
    at = open_analysis(traces, runs=f"{ids[0][:8]},ffffffffff")
    assert at.multiselect(key="analysis_pick").value == [ids[0]]
    assert any("ffffffffff" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_compaction_during_the_analysis_reruns_it_over_the_new_files(tmp_path):
    """A recording compacts as it goes, so the files an Analysis page's connection was opened
    over can be packed while it analyses: the page's report is computed once more over the
    files there are then, as the SQL page's query is. The compaction is real; the report
    function below runs it at the one moment a concurrent recorder could (mid-analysis),
    which no timing can make certain."""
    from specviz.store.compact import compact
    from viewer import data

    traces = tmp_path / "traces"
    shutil.copytree(EXAMPLES, traces)  # five runs recorded with the bundled model, as files
    calls = []

    def report(con):
        calls.append(con)
        if len(calls) == 1:
            compact(traces)
        return analyze(con)

    result = data.on_current_files(str(traces), report)
    assert len(calls) == 2 and len(result.runs) == 5
    assert list(traces.glob("date=*/pack-*.parquet")) and not list(traces.glob("date=*/run-*.parquet"))


def _sql_page_script(traces: str) -> None:
    """The SQL page's call, with its files packed between the session's connection and
    the query (the moment a concurrent recorder's compaction can land)."""
    import streamlit as st

    import specviz.sql
    from specviz.store.compact import compact
    from viewer import data

    real, calls = specviz.sql.query, []

    def packed_first(con, sql, **kw):
        calls.append(con)
        if len(calls) == 1:
            compact(traces)
        return real(con, sql, **kw)

    specviz.sql.query = packed_first
    try:
        df = data.run_sql(traces, "SELECT count(DISTINCT run_id) AS n FROM events")
    finally:
        specviz.sql.query = real
    st.write(f"attempts={len(calls)} runs={int(df['n'][0])}")


def test_a_compaction_during_an_sql_page_query_reruns_it_over_the_new_files(tmp_path):
    from streamlit.testing.v1 import AppTest

    traces = tmp_path / "traces"
    shutil.copytree(EXAMPLES, traces)
    at = AppTest.from_function(_sql_page_script, args=(str(traces),), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.markdown[0].value == "attempts=2 runs=5"
    assert list(traces.glob("date=*/pack-*.parquet")) and not list(traces.glob("date=*/run-*.parquet"))
