"""Baselines a speedup can be trusted with: matched measured runs, recorded provenance,
and estimates that run after the run (real models: a tiny MLX model, and the bundled one)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.baselines import BaselineIndex
from specviz.engine import Engine, RunOptions
from specviz.models.loading import register_model
from specviz.events import RunFinished, RunStarted
from specviz.sql import connect
from specviz.store import list_runs
from tiny_models import TinyTokenizer, tiny_model

V = 10


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    register_model("tiny-base", tiny_model(V, seed=4, layers=3, scale=0.5), TinyTokenizer(V, eos=False), "tiny-llama")


def invoke(tmp_path, *args):
    return CliRunner().invoke(cli, ["--traces", str(tmp_path), *args], catch_exceptions=False)


def _started(**kw) -> RunStarted:
    base = dict(prompt="p", prompt_token_ids=[1, 2, 3], target="bundled", target_model="m", temperature=0.0,
                max_tokens=16, host="h", tags={"n_top": "5"}, method="autoregressive", t_wall_ns=1)
    return RunStarted(**{**base, **kw})


def test_index_matches_every_parameter_that_moves_tokens_per_s():
    index = BaselineIndex()
    index.add("ar-t0", _started(), RunFinished(status="completed", tokens_per_s=10.0))
    index.add("ar-t08", _started(temperature=0.8, seed=1), RunFinished(status="completed", tokens_per_s=20.0))
    index.add("failed", _started(max_tokens=8), RunFinished(status="failed", tokens_per_s=30.0))
    index.add("spec", _started(max_tokens=4, method="speculative"), RunFinished(status="completed", tokens_per_s=40.0))
    spec = dict(method="speculative", k=4, drafter="ngram:3")
    assert index.find(_started(**spec)).run_id == "ar-t0"
    assert index.find(_started(seed=9, **spec)).run_id == "ar-t0"  # greedy draws nothing: seed is moot
    assert index.find(_started(temperature=0.8, seed=2, **spec)).run_id == "ar-t08"  # both seeded
    for other in (dict(temperature=0.8), dict(top_p=0.9), dict(top_k=5), dict(max_tokens=8), dict(host="h2"),
                  dict(prompt_token_ids=[1, 2]), dict(target_model="n"), dict(tags={"n_top": "0"}),
                  dict(max_tokens=4)):
        assert index.find(_started(**{**spec, **other})) is None, other
    index.add("ar-t0-newer", _started(t_wall_ns=2), RunFinished(status="completed", tokens_per_s=11.0))
    assert index.find(_started(**spec)).run_id == "ar-t0-newer"


def test_sweep_divides_each_run_by_its_own_matched_baseline(tmp_path):
    r = invoke(tmp_path, "sweep", "abcab", "--target", "mlx:tiny-base", "-k", "2", "--temperature", "0,0.8",
               "--max-tokens", "6", "--seed", "3", "--repeats", "2")
    assert r.exit_code == 0, r.output
    runs = {x.run_id: x for x in list_runs(tmp_path)}
    assert len(runs) == 2 * (2 + 2)  # per repeat: a baseline per temperature, then the grid
    spec = [x for x in runs.values() if x.started.method == "speculative"]
    assert len(spec) == 4
    for x in spec:
        f = x.finished
        base = runs[f.baseline_run_id]
        assert f.baseline_kind == "measured" and f.baseline_estimated is False
        assert base.started.method == "autoregressive"
        assert base.started.temperature == x.started.temperature  # T=0 never takes the T=0.8 run
        assert base.started.tags["repeat"] == x.started.tags["repeat"]
        assert f.speedup == pytest.approx(f.tokens_per_s / base.finished.tokens_per_s)
    rows = connect(tmp_path).execute(
        "SELECT r.temperature, b.temperature, r.baseline_kind FROM runs r JOIN runs b ON b.run_id = r.baseline_run_id"
    ).fetchall()
    assert sorted(rows) == [(0.0, 0.0, "measured")] * 2 + [(0.8, 0.8, "measured")] * 2


def test_record_measured_records_a_baseline_when_none_matches(tmp_path):
    assert invoke(tmp_path, "record", "abab", "--target", "mlx:tiny-base", "--method", "autoregressive",
                  "--temperature", "0.8", "--max-tokens", "6").exit_code == 0
    r = invoke(tmp_path, "record", "abab", "--target", "mlx:tiny-base", "--max-tokens", "6")  # auto: no T=0 match
    assert r.exit_code == 0 and "baseline estimated" in r.output
    r = invoke(tmp_path, "record", "abab", "--target", "mlx:tiny-base", "--max-tokens", "6", "--baseline", "measured")
    assert r.exit_code == 0, r.output
    runs = list_runs(tmp_path)  # newest first
    assert [x.started.method for x in runs] == ["speculative", "autoregressive", "speculative", "autoregressive"]
    measured, recorded_for_it, estimated, t08 = runs
    assert (estimated.finished.baseline_kind, estimated.finished.baseline_run_id) == ("estimated", "")
    assert estimated.finished.baseline_tokens_per_s > 0
    assert recorded_for_it.started.temperature == 0.0
    assert (measured.finished.baseline_kind, measured.finished.baseline_run_id) == ("measured", recorded_for_it.run_id)
    assert f"(vs run {recorded_for_it.run_id[:12]})" in r.output
    r = invoke(tmp_path, "record", "abab", "--target", "mlx:tiny-base", "--max-tokens", "6", "--baseline", "none")
    assert r.exit_code == 0 and "speedup" not in r.output
    assert list_runs(tmp_path)[0].finished.baseline_kind == "none"


@pytest.fixture(scope="module")
def bundled():
    return Engine.from_specs("bundled", "ngram:3")


def test_estimate_runs_after_the_run_and_per_prompt(bundled, tmp_path):
    """The old estimate filled the KV cache before the run (prefill_ms 0.04 ms instead of
    hundreds) and was reused for every prompt of a batch."""
    prompt = "Summarise in one sentence: the engineers tested the new bridge on Monday with forty trucks."
    results = {}
    for kind in ("none", "estimated"):
        bundled.target.state.reset()  # cold cache for both, as for a first run
        results[kind] = bundled.record(prompt, RunOptions(k=4, max_tokens=8, baseline=kind), traces=tmp_path)
    plain, est = results["none"].finished, results["estimated"].finished
    assert (plain.baseline_kind, plain.speedup) == ("none", None)
    assert est.baseline_kind == "estimated" and est.baseline_tokens_per_s > 0
    assert est.speedup == pytest.approx(est.tokens_per_s / est.baseline_tokens_per_s)
    assert plain.prefill_ms > 0 and 0.2 < est.prefill_ms / plain.prefill_ms < 5
    other = bundled.record("Write a haiku about rain.", RunOptions(k=4, max_tokens=8, baseline="estimated"),
                           traces=tmp_path)
    assert other.finished.baseline_tokens_per_s != est.baseline_tokens_per_s  # measured again, not reused
