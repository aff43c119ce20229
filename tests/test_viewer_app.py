"""The viewer's pages under AppTest: one page per test, arriving as if from another page
(session state or a deep link seeded), widgets driving the state, figures checked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz.events import Verify
from specviz.replay import build_index
from specviz.store import read_events
from synthetic_runs import record_synthetic, synthetic_events
from viewer.player.payload import apply_delta

APP = str(Path(__file__).resolve().parent.parent / "viewer" / "app.py")


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("traces")
    a = record_synthetic(d, rounds=30, k=4, seed=1, prompt="alpha prompt")
    b = record_synthetic(d, rounds=20, k=4, seed=2, errors_every=7, prompt="beta prompt")
    live = record_synthetic(d, rounds=30, k=4, seed=3, finish=False, upto=60, flush="event", prompt="gamma live")
    yield {"dir": str(d), "a": a, "b": b, "live": live}
    live.finish(synthetic_events(rounds=1)[-1])


def open_page(traces, page: str, query: dict | None = None, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["traces_dir"] = traces["dir"]
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def figure(at: AppTest, key: str) -> dict:
    (el,) = [e for e in at.get("plotly_chart") if e.proto.id.endswith(key) or key in e.proto.id]
    return json.loads(el.proto.spec)


def test_runs_page_lists_filters_and_opens_replay(traces):
    at = open_page(traces, "views/runs.py")
    table = at.dataframe[0].value
    assert {traces["a"], traces["b"], traces["live"].run_id} <= set(table["run_id"])
    assert table.loc[table["run_id"] == traces["live"].run_id, "live"].item()
    assert list(table.columns[:5]) == ["run_id", "status", "acceptance_rate", "speedup", "produced"]
    # No baseline was measured for these runs: said in words, not None or 0 (a live run has none yet).
    assert table.loc[table["run_id"] == traces["a"], "speedup"].item() == "not measured"
    assert table.loc[table["run_id"] == traces["live"].run_id, "speedup"].item() == "—"
    assert [o for o in at.multiselect(key="f_k").options] == ["4"]  # an integer, not 4.0
    at.text_input(key="f_prompt").input("beta").run()
    assert list(at.dataframe[0].value["run_id"]) == [traces["b"]]
    click_row(at, 0)
    assert not at.exception
    assert at.session_state["run"] == traces["b"]
    assert [h.value for h in at.header] == ["Replay"]


def click_row(at: AppTest, row: int) -> None:
    """What a click on a table row sends (AppTest has no pointer; the browser test clicks)."""
    at.session_state["runs_df"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()


def test_runs_page_compares_two_runs(traces):
    at = open_page(traces, "views/runs.py")
    at.multiselect(key="chosen").select(traces["a"]).select(traces["b"]).run()
    at.button(key="go_compare").click().run()
    assert not at.exception and [h.value for h in at.header] == ["Compare"]
    assert at.session_state["compare"] == [traces["a"], traces["b"]]


def test_runs_page_reports_corrupt_file_and_keeps_listing(traces, tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    at = open_page(traces, "views/runs.py")
    at.text_input(key="open_path").input(str(bad)).run()
    at.button(key="open_btn").click().run()
    assert not at.exception
    assert any("Cannot open this trace" in e.value for e in at.error)
    assert len(at.dataframe[0].value) == 3


def test_runs_page_opens_a_file_of_several_runs(traces, tmp_path):
    """`specviz export A B -o two.parquet` (or a pack) holds several runs: opened on the Runs
    page, each joins the table with its settings and totals (it said "holds 2 runs; give
    a run id" and listed neither)."""
    from specviz.store import export_runs

    other = tmp_path / "other"
    ids = [record_synthetic(other, rounds=r, k=2, seed=r, prompt=f"opened {r}") for r in (3, 5)]
    two = tmp_path / "two.parquet"
    export_runs(other, ids, two)
    at = open_page(traces, "views/runs.py")
    at.text_input(key="open_path").input(str(two)).run()
    at.button(key="open_btn").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value.set_index("run_id")
    assert set(ids) <= set(table.index)
    for run_id in ids:
        finished = read_events(two, run_id)[-1]
        assert table.loc[run_id, "rounds"] == finished.rounds and table.loc[run_id, "status"] == "completed"
        assert table.loc[run_id, "prompt"] == read_events(two, run_id)[0].prompt


def test_runs_page_names_what_it_was_launched_on(traces, tmp_path):
    """`specviz view a.parquet dir` passes its sources joined by os.pathsep: the caption names
    each, and calls a file a file (it said "Trace directory: `a.parquet:dir`")."""
    import os

    from specviz.store import export_runs

    one = tmp_path / "one.parquet"
    export_runs(traces["dir"], [traces["a"]], one)
    assert "Trace directory: `" + traces["dir"] + "`" in [c.value for c in open_page(traces, "views/runs.py").caption]
    at = open_page({"dir": str(one)}, "views/runs.py")
    assert f"Trace file: `{one}`" in [c.value for c in at.caption]
    at = open_page({"dir": f"{one}{os.pathsep}{traces['dir']}"}, "views/runs.py")
    assert f"Traces: `{one}` · `{traces['dir']}`" in [c.value for c in at.caption]


def player_args(at: AppTest) -> dict:
    """What the Replay page hands the client-side player (its component's arguments)."""
    (el,) = [e for e in at.get("component_instance") if e.proto.component_name.endswith("specviz_player")]
    args = json.loads(el.proto.json_args)
    data = args.pop("data")
    args["payload"] = json.loads(data) if data else None  # "": the player has this version
    return args


def test_replay_sends_the_run_and_follows_the_players_position(traces):
    at = open_page(traces, "views/replay.py", run=traces["a"])
    index = build_index(read_events(traces["dir"], traces["a"]))
    args = player_args(at)
    payload = args["payload"]
    assert len(payload["events"]["round"]) == index.n_events
    assert len(payload["commits"]["seq"]) == len(index.commits) > 0
    assert payload["live"] is False and payload["run"]["run_id"] == traces["a"]
    # The player posts its position (throttled); the page keeps it and puts it in the URL.
    at.session_state[f"player_{traces['a']}"] = {"pos": 57, "follow": False, "playing": False, "run": traces["a"],
                                                 "have": args["version"], "ask": False, "n": 7}
    at.run()
    assert at.session_state["pos"] == 57 and at.query_params["seq"] == "57"
    again = player_args(at)
    # A rerun neither re-encodes the run nor asks the player to move (same nonce).
    assert again["version"] == args["version"] and again["nonce"] == args["nonce"]
    assert again["pos"] == 57 and again["payload"] is None  # nor re-sends it: the player has it


def test_replay_deep_link_opens_the_same_moment(traces):
    at = open_page(traces, "views/replay.py", query={"run": traces["b"][:6], "seq": "40"})
    assert at.session_state["pos"] == 40 and player_args(at)["pos"] == 40
    at = open_page(traces, "views/replay.py", query={"run": traces["a"], "round": "3"})
    index = build_index(read_events(traces["dir"], traces["a"]))
    assert player_args(at)["pos"] == index.round_end(3)


def test_replay_rereads_a_live_run(traces):
    rec = traces["live"]
    at = open_page(traces, "views/replay.py", run=rec.run_id)
    first = player_args(at)
    assert first["payload"]["live"] is True
    n = len(first["payload"]["events"]["round"])
    for ev in synthetic_events(rounds=30, k=4, seed=3)[60:80]:
        rec.log(ev)
    rec.flush()
    at.run()  # what the fragment's timer does
    now = player_args(at)
    # The player has the first version (no post since): it gets only what is new.
    assert now["payload"]["base"] == first["version"] and now["version"] != first["version"]
    grown = apply_delta(first["payload"], now["payload"]["delta"])
    assert len(grown["events"]["round"]) == n + 20


def test_replay_picker_lists_a_run_that_starts_after_the_page(traces, tmp_path):
    d = tmp_path / "traces"
    record_synthetic(d, rounds=3, k=2, seed=4)
    at = open_page({"dir": str(d)}, "views/replay.py")
    assert len(at.selectbox(key="replay_pick_None").options) == 1
    newer = record_synthetic(d, rounds=3, k=2, seed=5)
    time.sleep(2.1)  # the run list is cached for 2 s
    at.run()
    assert any(o.startswith(newer[:8]) for o in at.selectbox(key="replay_pick_None").options)


def test_replay_unknown_run_is_an_error_not_a_crash(traces):
    at = open_page(traces, "views/replay.py", run="ffffffff")
    assert any("Cannot replay" in e.value for e in at.error)


def test_compare_marks_divergence(traces):
    at = open_page(traces, "views/compare.py", compare=[traces["a"], traces["b"]])
    assert any("first differ" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 3
    assert at.query_params["runs"] == f"{traces['a']},{traces['b']}"
    # A pasted link may name unique prefixes: the picker shows the runs, not the prefixes.
    at = open_page(traces, "views/compare.py", query={"runs": f"{traces['a'][:6]},{traces['b'][:6]}"})
    assert at.session_state["compare"] == [traces["a"], traces["b"]]
    assert len(at.multiselect(key="compare_pick").options) == 3


def test_sql_presets_chart_and_refusal(traces):
    at = open_page(traces, "views/sql.py")
    at.selectbox(key="sql_preset").select("Per-position survival").run()
    df = sql_result(at)
    assert list(df["position"]) == ["0", "1", "2", "3"]
    assert figure(at, "sql_chart")["data"][0]["type"] == "bar"
    assert at.get("download_button")
    # An edit is not run until Run is pressed, and the preset box stops naming the preset.
    at.text_area(key="sql_text").input("DROP VIEW runs").run()
    assert at.selectbox(key="sql_preset").value == "(custom)"
    assert not at.error and any("press Run" in c.value for c in at.caption)
    at.button(key="sql_run").click().run()
    assert not at.exception and any("refused" in e.value for e in at.error)


def sql_result(at: AppTest):
    return at.dataframe[0].value  # the editor column comes before the schema browser


def sql_run(at: AppTest, query: str) -> AppTest:
    at.text_area(key="sql_text").input(query).run()
    at.button(key="sql_run").click().run()
    assert not at.exception
    return at


def test_sql_errors_verbatim_cap_note_chart_value_and_schema(traces):
    at = open_page(traces, "views/sql.py")
    # DuckDB's message quotes the query; Markdown would have made *b* italic.
    sql_run(at, 'SELECT "a*b*c" FROM runs')
    (code,) = at.code
    assert '"a*b*c"' in code.value and "not found" in code.value
    sql_run(at, "SELECT range AS i FROM range(100001)")
    assert any("Only the first 100,000 rows" in w.value for w in at.warning)
    assert len(sql_result(at)) == 100_000
    sql_run(at, "SELECT run_id, k, acceptance_rate FROM runs")
    chart = figure(at, "sql_chart")
    assert chart["layout"]["yaxis"]["title"]["text"] == "acceptance_rate"
    # The schema browser lists every view with the columns DuckDB describes.
    from specviz.sql import connect

    con = connect(traces["dir"])
    for view in ("runs", "events", "drafts", "verifications", "rounds", "tokens", "errors"):
        n = len(con.execute(f"DESCRIBE {view}").fetchall())
        assert any(e.label == f"{view} · {n} columns" for e in at.expander)
    (rounds,) = [e for e in at.expander if e.label.startswith("rounds ·")]
    table = rounds.dataframe[0].value
    assert {"acceptance_rolling", "tokens_per_s", "k"} <= set(table["column"])


def test_uploads_truncated_then_valid_trace(traces, tmp_path):
    other = tmp_path / "other"
    run_id = record_synthetic(other, rounds=5, k=3, seed=9)
    (path,) = list(other.glob("date=*/run-*.parquet"))
    data = path.read_bytes()
    at = open_page(traces, "views/runs.py")
    at.file_uploader(key="upload").upload("cut.parquet", data[: len(data) // 2]).run()
    assert not at.exception and any("Cannot open this trace" in e.value for e in at.error)
    assert len(at.dataframe[0].value) == 3  # the directory's runs are still listed
    at.file_uploader(key="upload").upload("run.parquet", data).run()
    assert not at.exception and not at.error
    assert run_id in at.session_state["opened"]
    table = at.dataframe[0].value
    row = table.index[table["run_id"] == run_id].item()
    # Its real settings and totals, read from the file (not blanks).
    assert table.loc[row, "k"] == 3 and table.loc[row, "produced"] > 0 and table.loc[row, "status"] == "completed"
    assert table.loc[row, "acceptance_rate"] == pytest.approx(read_events(path, run_id)[-1].acceptance_rate)
    # ...and it replays from the uploaded file.
    click_row(at, row)
    assert not at.exception and not at.error
    assert player_args(at)["payload"]["run"]["run_id"] == run_id
    # The file goes bad after it was opened: an error on Runs, the directory still listed.
    Path(at.session_state["opened"][run_id]).write_bytes(data[: len(data) // 3])
    at.switch_page("views/runs.py").run()
    assert not at.exception and any("any more" in e.value for e in at.error)
    assert len(at.dataframe[0].value) == 3


def test_compare_with_a_missing_run_says_so(traces):
    at = open_page(traces, "views/compare.py", query={"runs": f"{traces['a']},eeeeeeee"})
    assert [e.value for e in at.error] and "eeeeeeee" in at.error[0].value


def test_compare_says_how_many_runs_it_still_needs(traces):
    """A link with one run (or none chosen yet) left the page blank under the picker."""
    assert [i.value for i in open_page(traces, "views/compare.py").info] == ["Choose two runs to compare."]
    at = open_page(traces, "views/compare.py", query={"runs": traces["a"]})
    assert [i.value for i in at.info] == ["Choose one more run."] and not at.error


def test_every_declared_page_opens_under_its_title(traces):
    """Pages are declared once (viewer/pages.py): each one listed there opens on its own."""
    from viewer.pages import PAGES

    assert [p.url_path for p in PAGES][:4] == ["runs", "replay", "compare", "sql"]
    for spec in PAGES:
        at = open_page(traces, spec.file)
        assert [h.value for h in at.header] == [spec.title]


def test_compare_picker_lists_a_run_recorded_after_the_page_opened(traces, tmp_path):
    """The picker is a fragment on a timer: a new run shows up on its next tick, no reload."""
    own = {"dir": str(tmp_path), "a": record_synthetic(tmp_path, rounds=3, k=2, seed=10)}
    at = open_page(own, "views/compare.py")
    (pick,) = [m for m in at.multiselect if m.key == "compare_pick"]
    assert len(pick.options) == 1 and own["a"][:8] in pick.options[0]
    new = record_synthetic(tmp_path, rounds=3, k=2, seed=11, prompt="delta new")
    time.sleep(2.1)  # list_runs is cached for 2 s
    at.run()
    (pick,) = [m for m in at.multiselect if m.key == "compare_pick"]
    assert len(pick.options) == 2 and any(new[:8] in o for o in pick.options)
    pick.set_value([own["a"], new]).run()
    assert not at.exception and at.session_state["compare"] == [own["a"], new]
    assert at.query_params["runs"] == f"{own['a']},{new}"
