"""Compare on real recorded runs (the committed examples, recorded with the bundled model):
the token-aligned diff, the set-up warnings, totals side by side, "not measured" for the
mlx-lm method's fused draft/verify, and Replay links at the divergence."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from specviz.replay import build_index
from specviz.store import read_events
from viewer import comparison

EXAMPLES = Path(__file__).resolve().parent.parent / "traces" / "examples"
APP = str(Path(__file__).resolve().parent.parent / "viewer" / "app.py")
SPECULATIVE_T07 = "c05a8f06dbbd3068"  # speculative, layerskip drafter, T=0.7
MLX_LM = "b73abf001610d62b"  # mlx-lm method, same prompt, greedy
AUTOREGRESSIVE = "300a432033b8b82c"  # another prompt
NGRAM_K4 = "eb9899de2aab2326"  # same prompt as the autoregressive run, greedy


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("traces")
    shutil.copytree(EXAMPLES, d, dirs_exist_ok=True)
    return d


def index(traces, run_id):
    return build_index(read_events(traces, run_id))


def output_ids(traces, run_id) -> list[int]:
    return read_events(traces, run_id)[-1].output_token_ids


def test_alignment_reproduces_both_outputs_and_finds_the_first_difference(traces):
    a, b = index(traces, SPECULATIVE_T07), index(traces, MLX_LM)
    ops = comparison.align(a.commits, b.commits)
    ids_a, ids_b = output_ids(traces, SPECULATIVE_T07), output_ids(traces, MLX_LM)
    # Every token of each output is in exactly one stretch, in order.
    assert [a.commits[i].verify.token_id for op in ops for i in op.a] == ids_a
    assert [b.commits[j].verify.token_id for op in ops for j in op.b] == ids_b
    for op in ops:
        same = [ids_a[i] for i in op.a] == [ids_b[j] for j in op.b]
        assert same == (op.kind == "equal")
    expected = next(i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y)
    assert comparison.first_difference(ops)[0] == expected
    n = comparison.counts(ops)
    assert n["equal"] == sum(len(op.a) for op in ops if op.kind == "equal") > 0
    assert n["replace"] + n["delete"] + n["insert"] > 0
    page = comparison.diff_html(a.commits, b.commits, ops)
    assert page.count('class="a"') == sum(1 for op in ops if op.kind in ("replace", "delete"))
    assert page.count('class="b"') == sum(1 for op in ops if op.kind in ("replace", "insert"))


def test_identical_outputs_have_no_difference_and_fold(traces):
    a = index(traces, NGRAM_K4)
    ops = comparison.align(a.commits, a.commits)
    assert [op.kind for op in ops] == ["equal"] and comparison.first_difference(ops) is None
    page = comparison.diff_html(a.commits, a.commits, ops)
    assert "identical tokens" in page  # a 36-token shared stretch folds to its ends


def test_setup_mismatches_and_not_measured(traces):
    spec, mlx, auto = index(traces, SPECULATIVE_T07), index(traces, MLX_LM), index(traces, AUTOREGRESSIVE)
    assert comparison.mismatches(spec, mlx) == []
    (problem,) = comparison.mismatches(spec, auto)
    assert problem.startswith("the prompts differ")
    s = comparison.summary(mlx)
    assert s["draft per round"] == s["verify per round"] == comparison.NOT_MEASURED
    assert s["tokens"] == "32" and s["method"] == "mlx-lm" and s["wall time"].endswith(" s")
    assert comparison.summary(spec)["draft per round"].endswith(" ms")
    assert comparison.summary(auto)["draft per round"] == "no drafts"


def open_compare(traces, runs: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["traces_dir"] = str(traces)
    at.run()
    at.query_params["runs"] = runs
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    return at


def chart(at, key: str) -> dict:
    (el,) = [e for e in at.get("plotly_chart") if key in e.proto.id]
    return json.loads(el.proto.spec)


def test_compare_page_on_recorded_runs(traces):
    at = open_compare(traces, f"{SPECULATIVE_T07},{MLX_LM}")
    assert any("first differ at token" in w.value for w in at.warning)
    assert not any("like-for-like" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert list(table.columns) == [f"A {SPECULATIVE_T07[:8]}", f"B {MLX_LM[:8]}"]
    assert table.loc["verify per round"].iloc[1] == "not measured"
    assert table.loc["tokens/s"].iloc[0] != "—" and table.loc["τ (tokens per verify)"].iloc[1] != "—"
    # Links open Replay of each run at the event that commits its first differing token.
    ops = comparison.align(index(traces, SPECULATIVE_T07).commits, index(traces, MLX_LM).commits)
    first = comparison.first_difference(ops)
    links = [e.proto for e in at.get("page_link")]
    for proto, run_id, at_token in zip(links, (SPECULATIVE_T07, MLX_LM), first):
        seq = index(traces, run_id).commits[at_token].seq
        assert proto.query_string == f"run={run_id}&seq={seq}" and proto.page == "replay"
    # Two colours, one per run, in every chart; the unmeasured phases are named, not drawn.
    acceptance = chart(at, "cmp_acceptance")
    assert [t["line"]["color"] for t in acceptance["data"]] == ["#2563eb", "#ea580c"]
    latency = chart(at, "cmp_latency")
    assert {t["name"] for t in latency["data"]} == {f"A {SPECULATIVE_T07[:8]} · draft", f"A {SPECULATIVE_T07[:8]} · verify"}
    assert "not measured" in latency["layout"]["annotations"][0]["text"]


def values(array) -> list[float]:
    """A Plotly JSON array: a list, or numpy's bytes as {"dtype", "bdata"}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_compare_warns_when_prompts_differ_and_skips_rounds_without_drafts(traces):
    at = open_compare(traces, f"{NGRAM_K4},{MLX_LM}")
    assert any("prompts differ" in w.value for w in at.warning)
    rounds = [e for e in read_events(traces, NGRAM_K4) if type(e).__name__ == "RoundMetrics"]
    undrafted = {m.round for m in rounds if m.drafted == 0}
    assert undrafted  # the n-gram drafter found no match in some round
    plotted = values(chart(at, "cmp_acceptance")["data"][0]["x"])
    assert sorted(plotted) == sorted(m.round for m in rounds if m.round not in undrafted)
