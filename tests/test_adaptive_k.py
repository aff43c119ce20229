"""`-k auto` on the bundled model: the policy and every round's chosen K are recorded, K
grows while an n-gram copy keeps being accepted, and analyze reads the run."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.engine import Engine, RunOptions
from specviz.engine.adaptive import START_K, AdaptiveK
from specviz.events import DraftToken, RoundMetrics, RunStarted
from specviz.store import list_runs, read_events

PROMPT = ("Copy this list exactly, twice: red apple, green pear, yellow banana, purple plum, "
          "orange peach, red apple, green pear, yellow banana, purple plum, orange peach.")


def test_k_auto_records_policy_and_each_rounds_k(tmp_path):
    out = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", PROMPT, "-k", "auto", "--max-tokens", "80"])
    assert out.exit_code == 0, out.output
    [run] = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    started = events[0]
    assert isinstance(started, RunStarted) and started.k_policy == "auto" and started.k == 16
    rounds = [e for e in events if isinstance(e, RoundMetrics)]
    # K shrinks to 0 in a last round at the token limit, as a fixed K does
    assert rounds and all(r.k is not None and 0 <= r.k <= 16 for r in rounds)
    assert all(r.drafted <= r.k for r in rounds)
    drafts = {}
    for e in events:
        if isinstance(e, DraftToken):
            drafts[e.round] = drafts.get(e.round, 0) + 1
    assert all(drafts.get(r.round, 0) == r.drafted for r in rounds)
    assert rounds[0].k == START_K  # later choices depend on measured times: see the policy test below
    report = json.loads(CliRunner().invoke(cli, ["--traces", str(tmp_path), "analyze", "--format", "json"]).output)
    [r] = report["runs"]
    assert r["k_policy"] == "auto" and r["replay_note"].startswith("not replayed: adaptive K")


def test_policy_lengthens_k_while_drafts_pass_and_shortens_it_when_they_fail():
    """The real policy fed rounds with fixed costs (a 20 ms target step, +0.5 ms per scored
    token, n-gram drafts costing nothing), so its choices do not depend on machine load."""
    copying = AdaptiveK()
    for _ in range(30):
        k = copying.choose()
        copying.observe(k, k, k, k, 0.01, 20 + 0.5 * (k + 1), 20.5 + 0.5 * (k + 1))
    assert copying.choose() == 16
    failing = AdaptiveK()
    for _ in range(30):
        k = failing.choose()
        failing.observe(k, k, 1, 0, 0.01, 20 + 0.5 * (k + 1), 20.5 + 0.5 * (k + 1))
    assert failing.choose() == 1
    # steep verify costs make a long draft not worth it even when half the drafts pass
    costly = AdaptiveK()
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = costly.choose()
        passes = rng.random(k) < 0.5
        accepted = int(np.argmin(passes)) if not passes.all() else k
        costly.observe(k, k, min(k, accepted + 1), accepted, 0.01, 20 + 15 * (k + 1), 20.5 + 15 * (k + 1))
    assert costly.choose() <= 2


def test_k_must_be_a_positive_integer_or_auto(tmp_path):
    out = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", "hi", "-k", "fast"])
    assert out.exit_code == 2 and "neither a positive integer nor auto" in out.output


# -- the confidence rule (model drafters) -----------------------------------------------

REPEAT = ("Repeat the following passage word for word: The committee met on Tuesday to review the budget. "
          "It approved funding for the new library and postponed the decision on the bridge repairs.")


@pytest.fixture(scope="module")
def layerskip_engine():
    # N = 26: the early exit's q tracks acceptance closely on this model (BENCHMARKS.md)
    return Engine.from_specs("bundled", "layerskip:26")


def _rounds_of(events):
    rounds = [e for e in events if isinstance(e, RoundMetrics)]
    drafts: dict[int, list[float]] = {}
    for e in events:
        if isinstance(e, DraftToken):
            drafts.setdefault(e.round, []).append(e.logprob)
    return rounds, drafts


def test_confidence_rule_decisions_are_rederived_from_the_recorded_events(layerskip_engine, tmp_path):
    """A real -k auto run with a model drafter: replaying its recorded rounds (draft q's,
    counts, timings) through a fresh policy gives every recorded rule, bar and stop."""
    max_tokens = 40
    res = layerskip_engine.record(REPEAT, RunOptions(k_policy="auto", max_tokens=max_tokens, baseline="none"),
                                  traces=tmp_path)
    events = read_events(tmp_path, res.run_id)
    rounds, drafts = _rounds_of(events)
    policy, produced, stops = AdaptiveK(), 0, 0
    for r in rounds:
        qs = drafts.get(r.round, [])
        assert r.k_rule == policy.rule and r.drafted == len(qs)
        if r.k_rule == "confidence":
            assert r.k_threshold == pytest.approx(policy.threshold(), rel=1e-12)
        else:
            assert r.k_threshold is None
        cap = max(0, min(policy.choose(), max_tokens - produced - 1))
        # the drafter went on after every token but the last, and stopped at the last unless K ran out
        assert all(policy.keep_drafting(qs[:i]) for i in range(1, len(qs)))
        if len(qs) < cap:
            assert not policy.keep_drafting(qs) and r.k == len(qs)
            stops += 1
        else:
            policy.keep_drafting(qs)
        assert r.k == policy.k_used(cap, len(qs))
        policy.observe(r.k, r.drafted, r.tested, r.accepted, r.draft_ms, r.verify_ms, r.round_ms, qs)
        produced += r.produced
    assert {r.k_rule for r in rounds} == {"warm-up", "confidence"}
    assert stops >= len(rounds) // 2  # the rule, not K's cap, ended most drafts


def test_k_auto_with_a_model_drafter_gives_the_fixed_k_tokens_at_t0(layerskip_engine):
    outputs = {}
    for name, opts in {"auto": RunOptions(k_policy="auto"), "k=2": RunOptions(k=2), "k=5": RunOptions(k=5)}.items():
        res = layerskip_engine.record(REPEAT, replace(opts, max_tokens=32, baseline="none"), recording="null")
        outputs[name] = res.finished.output_token_ids
    assert len(outputs["auto"]) > 16  # the passage (it ends at EOS before 32)
    assert outputs["auto"] == outputs["k=2"] == outputs["k=5"]


def test_k_auto_keeps_the_survival_rule_for_ngram_drafts(tmp_path):
    """n-gram drafts report no q: every round is warm-up or survival, and each recorded K is
    what today's survival rule chooses from the rounds before it."""
    engine = Engine.from_specs("bundled", "ngram:3")
    res = engine.record(PROMPT, RunOptions(k_policy="auto", max_tokens=48, baseline="none"), traces=tmp_path)
    rounds, drafts = _rounds_of(read_events(tmp_path, res.run_id))
    assert all(lp is None for qs in drafts.values() for lp in qs)
    policy, produced = AdaptiveK(), 0
    for r in rounds:
        assert r.k_rule == policy.rule and r.k_rule in ("warm-up", "survival") and r.k_threshold is None
        k = max(0, min(policy.choose(), 48 - produced - 1))
        assert r.k == k
        policy.observe(k, r.drafted, r.tested, r.accepted, r.draft_ms, r.verify_ms, r.round_ms, drafts.get(r.round, []))
        produced += r.produced
    assert any(r.k_rule == "survival" for r in rounds)


def test_confidence_rule_drafts_on_after_sure_tokens_and_stops_after_unsure_ones():
    """The real policy fed rounds with fixed costs (draft 10 ms a token, verify 20 ms + 1 ms a
    scored token) from a drafter whose sure tokens (q = 0.99) always pass and whose unsure
    ones (q = 0.3) always fail; sure and unsure streaks alternate."""
    policy = AdaptiveK()
    sure, unsure = np.log(0.99), np.log(0.3)
    pattern = [sure] * 6 + [unsure] * 3
    at = 0
    for _ in range(200):
        k, qs = policy.choose(), []
        while len(qs) < k:
            qs.append(pattern[(at + len(qs)) % len(pattern)])
            if not policy.keep_drafting(qs):
                break
        accepted = next((i for i, q in enumerate(qs) if q == unsure), len(qs))
        tested = min(len(qs), accepted + 1)
        draft_ms, verify_ms = 10.0 * len(qs), 20.0 + 1.0 * (len(qs) + 1)
        policy.observe(policy.k_used(k, len(qs)), len(qs), tested, accepted, draft_ms, verify_ms,
                       draft_ms + verify_ms + 1.0, qs)
        at += accepted + 1
    assert policy.rule == "confidence"
    assert policy.keep_drafting([sure] * 3)
    assert not policy.keep_drafting([unsure])
    assert not policy.keep_drafting([sure, unsure])
