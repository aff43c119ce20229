"""The sampled-run audit on real runs of the bundled model: the engine's rule passes, a
deliberately broken rule (accepting with min(1, q/p)) is flagged."""

from __future__ import annotations

import pytest

from specviz.analysis import analyze
from specviz.engine.loop import EngineConfig, generate_rounds
from specviz.totals import RunMetrics
from specviz.engine.rejection import Decision, Step
from specviz.engine.sampling import sample_from
from specviz.events import RunFinished
from specviz.recording import open_run
from specviz.sql import connect

PROMPT = ("Repeat this sentence three times: the small grey cat sat on the warm red mat by the door.")


def accept_inverted(draft, q, p, rng):
    """Broken on purpose: accepts with min(1, q/p) (q one-hot for n-gram drafts, so every
    draft passes), recording the true p and q."""
    decision = Decision()
    for i, x in enumerate(draft):
        px, u = float(p[i][x]), float(rng.random())
        a = min(1.0, 1.0 / px) if px > 0 else 1.0
        decision.steps.append(Step(i, x, u < a, x, px, 1.0, a, u, px))
    bonus = sample_from(p[len(draft)], rng)
    decision.steps.append(Step(len(draft), None, True, bonus, float(p[len(draft)][bonus])))
    return decision


def record_with_rule(engine, decide, options, traces) -> str:
    """One run through the engine's real loop with another acceptance rule, recorded
    through the Recording API."""
    started = engine.started_event(PROMPT, options)
    ids = list(started.prompt_token_ids)
    engine.target.prefill(ids)
    engine.drafter.prefill(ids)
    config = EngineConfig(k=options.k, max_tokens=options.max_tokens, sampling=options.sampling(),
                          eos_token_ids=frozenset(started.eos_token_ids))
    metrics = RunMetrics()
    out: list[int] = []
    rec = open_run(traces, started)
    for rnd in generate_rounds(engine.target, engine.drafter, ids, config, metrics=metrics, decide=decide):
        for event in rnd.events:
            rec.log(event)
        out.extend(rnd.tokens)
    rec.finish(RunFinished(status="completed", finish_reason="max_tokens", output_token_ids=out, **metrics.run_fields()))
    return rec.run_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from specviz.engine import Engine, RunOptions

    traces = tmp_path_factory.mktemp("audit")
    engine = Engine.from_specs("bundled", "ngram:3")
    def options(seed):
        return RunOptions(k=4, max_tokens=120, temperature=0.7, seed=seed, baseline=False)

    good = [engine.record(PROMPT, options(seed), traces=traces).run_id for seed in (7, 8, 9)]
    broken = record_with_rule(engine, accept_inverted, options(7), traces)
    return traces, good, broken


def test_engine_rule_passes_and_inverted_rule_is_flagged(runs):
    traces, good, broken = runs
    report = analyze(connect(traces), [*good, broken], replay="none")
    audits = {r.run_id: r.audit for r in report.runs}
    for run_id in good:
        ok = audits[run_id]
        assert ok.kind == "sampled" and ok.verdict == "lossless", ok
        assert ok.wrong_decisions == 0 and ok.ks_p is not None and ok.ks_p > 1e-3
    # enough decisions to mean something
    assert sum(p.tested for run_id in good for p in audits[run_id].positions) >= 30
    bad = audits[broken]
    assert bad.verdict.startswith("suspect:"), bad
    assert bad.wrong_decisions and "disagree with u < min(1, p/q)" in bad.verdict
    # every draft accepted, more than p/q promises (too few rounds here for the count test alone)
    assert all(p.accepted == p.tested for p in bad.positions)
    assert sum(p.expected for p in bad.positions) < 0.9 * sum(p.tested for p in bad.positions)
