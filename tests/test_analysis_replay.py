"""Exact what-if replay and the greedy audit against real runs of the bundled model:
one grounded prompt recorded greedily with n-gram drafts at K = 2, 4 and 8 (and once
autoregressively, the audit's reference)."""

from __future__ import annotations

import json

import msgspec
import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.analysis import analyze
from specviz.analysis.data import load
from specviz.analysis.replay import replay_run
from specviz.events import RunFinished, Verify
from specviz.recording import open_run
from specviz.sql import connect
from specviz.store import read_events

PROMPT = ("Copy this list exactly, twice: red apple, green pear, yellow banana, purple plum, "
          "orange peach, red apple, green pear.")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from specviz.engine import Engine, RunOptions

    traces = tmp_path_factory.mktemp("replay")
    engine = Engine.from_specs("bundled", "ngram:3")
    runs = {}
    for k in (2, 4, 8):
        runs[k] = engine.record(PROMPT, RunOptions(k=k, max_tokens=60, baseline=False), traces=traces)
    runs[0] = engine.record(PROMPT, RunOptions(method="autoregressive", max_tokens=60, baseline=False), traces=traces)
    return traces, runs


def test_replaying_k8_predicts_k2_and_k4_exactly(recorded):
    traces, runs = recorded
    assert runs[8].token_ids == runs[2].token_ids == runs[4].token_ids  # greedy: one output
    assert runs[8].finished.drafted > 0 and runs[8].finished.rounds < len(runs[8].token_ids)
    con = connect(traces)
    [run8] = load(con, [runs[8].run_id]).runs
    result = replay_run(run8)
    for k in (2, 4, 8):
        actual = runs[k].finished
        i = result.ks.index(k)
        assert result.rounds[i] == actual.rounds, k
        assert result.tau[i] == pytest.approx(actual.tau, abs=1e-12), k
    assert result.reproduces


def test_cli_report_carries_the_replay_and_verdicts(recorded):
    traces, runs = recorded
    out = CliRunner().invoke(cli, ["--traces", str(traces), "analyze", runs[8].run_id, runs[4].run_id,
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    by_id = {r["run_id"]: r for r in report["runs"]}
    replay = by_id[runs[8].run_id]["replay"]
    assert replay["rounds"][replay["ks"].index(2)] == runs[2].finished.rounds
    for k in (4, 8):
        audit = by_id[runs[k].run_id]["audit"]
        assert audit["verdict"] == "lossless", audit
        assert audit["matched_run"] == runs[0].run_id
    text = CliRunner().invoke(cli, ["--traces", str(traces), "analyze", runs[4].run_id])
    assert text.exit_code == 0 and "Best fixed K in hindsight" in text.output and "lossless" in text.output


def _altered_copy(traces, run_id: str, index: int) -> str:
    """The run re-recorded through the Recording API with output token ``index`` changed."""
    events = read_events(traces, run_id)
    committed = [e for e in events if isinstance(e, Verify) and e.status != "rejected"]
    victim = committed[index]
    new_id = (victim.token_id + 7) % 1000 + 1
    rec = open_run(traces, events[0])
    for e in events[1:-1]:
        if e is victim or (isinstance(e, Verify) and e.round == victim.round and e.position == victim.position):
            e = msgspec.structs.replace(e, token_id=new_id)
        rec.log(msgspec.structs.replace(e, run_id="", seq=0))
    fin: RunFinished = events[-1]
    out = list(fin.output_token_ids)
    out[index] = new_id
    rec.finish(msgspec.structs.replace(fin, output_token_ids=out, run_id="", seq=0))
    return rec.run_id


def test_audit_flags_a_greedy_run_whose_output_was_altered(recorded):
    traces, runs = recorded
    altered = _altered_copy(traces, runs[4].run_id, 5)
    report = analyze(connect(traces), [altered, runs[4].run_id], replay="none")
    verdicts = {r.run_id: r.audit for r in report.runs}
    assert verdicts[runs[4].run_id].verdict == "lossless"
    bad = verdicts[altered]
    assert bad.verdict.startswith("suspect:"), bad
    assert bad.first_divergence == 5
    assert bad.top2_gap is not None and bad.top2_gap > 0.01  # not a near-tie
    assert "argmax" in bad.verdict
