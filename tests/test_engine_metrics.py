"""Metric arithmetic and round decisions against hand-computed fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from specviz.engine.loop import EngineConfig, generate_rounds
from specviz.totals import RoundCounts, RunMetrics, leviathan_bound, leviathan_speedup
from specviz.engine.rejection import decide_exact_match, decide_full, decide_greedy, decide_topk
from specviz.engine.sampling import make_transform, top_n, trace_stats
from specviz.sampling_params import SamplingParams
from specviz.targets.base import Scores
from specviz.events import RoundMetrics, Verify
from tiny_models import TinyTokenizer


def test_run_metrics_hand_computed():
    m = RunMetrics(baseline_tokens_per_s=10.0, baseline_estimated=False)
    m.add(RoundCounts(drafted=4, tested=4, accepted=4, produced=5, round_ms=100, overlaps=[0.9, 0.8, 0.7, 0.6]))
    m.add(RoundCounts(drafted=4, tested=2, accepted=1, produced=2, round_ms=100, overlaps=[0.5, 0.1]))
    m.add(RoundCounts(drafted=0, tested=0, accepted=0, produced=1, round_ms=100))
    m.add(RoundCounts(drafted=3, tested=3, accepted=2, produced=3, round_ms=100, overlaps=[1.0, 1.0, 0.2]))
    assert m.acceptance == pytest.approx(7 / 9)
    assert m.tau == pytest.approx(11 / 4)
    assert m.alpha == pytest.approx((0.9 + 0.8 + 0.7 + 0.6 + 0.5 + 0.1 + 1.0 + 1.0 + 0.2) / 9)
    assert m.histogram == [0, 1, 1, 0, 1]  # rounds with a draft accepted 4, 1, 2
    assert m.survival == pytest.approx([1.0, 2 / 3, 1 / 3, 1 / 2])
    assert m.tokens_per_s == pytest.approx(11 / 0.4)
    assert m.speedup == pytest.approx(2.75)
    assert m.k_effective == pytest.approx(11 / 4)
    fields = m.run_fields()
    assert (fields["drafted"], fields["tested"], fields["accepted"], fields["produced"]) == (11, 9, 7, 11)


def test_rolling_window():
    m = RunMetrics(window=2)
    m.add(RoundCounts(drafted=4, tested=4, accepted=4, produced=5))
    m.add(RoundCounts(drafted=4, tested=1, accepted=0, produced=1))
    m.add(RoundCounts(drafted=4, tested=2, accepted=1, produced=2))
    assert m.acceptance_rolling == pytest.approx(1 / 3)
    assert m.acceptance == pytest.approx(5 / 7)


def test_leviathan_bound():
    assert leviathan_speedup(0.8, 4, 0.1) == pytest.approx((1 - 0.8**5) / (0.2 * 1.4))
    assert leviathan_speedup(1.0, 4, 0.0) == pytest.approx(5.0)
    # rounds that drafted fewer than K are charged for what they drafted
    assert leviathan_bound(0.8, [4, 4, 4], 0.1) == pytest.approx(leviathan_speedup(0.8, 4, 0.1))
    e4, e0 = (1 - 0.8**5) / 0.2, 1.0
    assert leviathan_bound(0.8, [4, 0], 0.1) == pytest.approx((e4 + e0) / (1.4 + 1.0))


class Rng:
    """Scripted uniforms."""

    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_decide_full_accept_reject_resample():
    p = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    q = np.array([[0.25, 0.75, 0.0], [0.0, 1.0, 0.0]])
    # position 0: draft 1, p/q = 0.5/0.75 = 2/3; u = 0.6 accepts.
    # position 1: draft 1, p/q = 0.2; u = 0.5 rejects; residual max(0, p - q) = [0.1, 0, 0.7] -> 0.95 * 0.8 = 0.76 -> id 2.
    d = decide_full([1, 1], q, p, Rng([0.6, 0.5, 0.95]))
    assert [(s.accepted, s.token) for s in d.steps] == [(True, 1), (False, 2)]
    assert d.steps[0].acceptance_prob == pytest.approx(2 / 3)
    assert d.steps[1].acceptance_prob == pytest.approx(0.2)
    assert d.steps[0].overlap == pytest.approx(0.75)  # min(p, q) summed
    assert (d.accepted, d.tested) == (1, 2)


def test_decide_full_deterministic_drafter_and_bonus():
    p = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    d = decide_full([1], None, p, Rng([0.99, 0.5]))
    assert [(s.draft_token, s.token) for s in d.steps] == [(1, 1), (None, 2)]
    assert d.steps[0].overlap == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(20))
def test_decide_greedy_is_decide_full_on_one_hot_rows(seed):
    """The engine's fast greedy path: the same steps and the same draws from the run's
    random stream as the full rule on dense one-hot rows (so recorded u values match)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((5, 7)).astype(np.float32)
    best = logits.argmax(axis=-1).tolist()
    draft = [best[i] if rng.random() < 0.7 else int(rng.integers(7)) for i in range(4)]
    full_rng, fast_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    full = decide_full(draft, None, make_transform(SamplingParams())(logits), full_rng)
    fast = decide_greedy(draft, best, fast_rng)
    assert fast.steps == full.steps
    assert full_rng.random() == fast_rng.random()


@pytest.mark.parametrize("width", [7, 64, 300, 1000, 4099])
def test_top_n_equals_a_full_sort(width):
    rng = np.random.default_rng(width)
    x = rng.standard_normal((4, width)).astype(np.float32)
    x[1, : width // 2] = x[1, width // 2 : 2 * (width // 2)]  # repeated values in one row
    for n in (1, 3, 5):
        ids, vals = top_n(x, n)
        ref = np.argsort(-x, axis=-1, kind="stable")[:, :n]  # equal values: lower id first
        assert ids.tolist() == ref.tolist()
        assert vals.tolist() == np.take_along_axis(x, ref, axis=-1).tolist()
    _, log_z, _, tops = trace_stats(x, SamplingParams(), 3)
    assert [t[0][0] for t in tops] == x.argmax(axis=-1).tolist()
    assert tops[0][0][1] == pytest.approx(float(x[0].max() - log_z[0]))


def test_decide_exact_match():
    d = decide_exact_match([1, 2, 3], [1, 5, 7, 8])
    assert [(s.draft_token, s.accepted, s.token) for s in d.steps] == [(1, True, 1), (2, False, 5)]
    assert (d.accepted, d.tested) == (1, 2)
    d = decide_exact_match([1, 2], [1, 2, 9])
    assert [(s.draft_token, s.token) for s in d.steps] == [(1, 1), (2, 2), (None, 9)]
    d = decide_exact_match([1, 2, 3], [1])  # the target stopped: position 1 was never scored
    assert (d.accepted, d.tested) == (1, 1)


def test_decide_topk_greedy_is_exact():
    tops = [[(4, -0.1), (2, -2.5)], [(3, -0.2), (1, -2.0)]]
    d = decide_topk([4], None, [-0.1], tops, None, SamplingParams(), Rng([0.5, 0.5]))
    assert [(s.accepted, s.token, s.exact) for s in d.steps] == [(True, 4, True), (True, 3, True)]
    d = decide_topk([2], None, [-2.5], tops, None, SamplingParams(), Rng([0.5, 0.5]))
    assert [(s.accepted, s.token) for s in d.steps] == [(False, 4)]


def test_decide_topk_t1_accepts_with_true_p_and_flags_residual():
    tops = [[(4, math.log(0.6)), (2, math.log(0.3))]]
    d = decide_topk([2], None, [math.log(0.3)], tops + [[(1, 0.0)]], None, SamplingParams(1.0), Rng([0.2, 0.1]))
    assert d.steps[0].acceptance_prob == pytest.approx(0.3) and d.steps[0].accepted
    d = decide_topk([2], None, [math.log(0.3)], tops + [[(1, 0.0)]], None, SamplingParams(1.0), Rng([0.5, 0.1]))
    assert not d.steps[0].accepted and d.steps[0].token == 4 and d.steps[0].exact is False


class ScriptedTarget:
    """A 'full' target whose greedy choice after any context is script[len(context)]."""

    capability = "full"
    spec = model_name = "scripted"

    def __init__(self, script, vocab=6):
        self.script = script
        self.tokenizer = TinyTokenizer(vocab)
        self.vocab_size = vocab
        self.eos_token_ids = {vocab - 1}

    def prefill(self, ids):
        pass

    def score(self, context, draft, request):
        import mlx.core as mx

        rows = []
        for i in range(len(draft) + 1):
            row = np.full(self.vocab_size, -10.0, dtype=np.float32)
            row[self.script[len(context) + i]] = 10.0
            rows.append(row)
        return Scores(logits=mx.array(np.stack(rows)))


class ScriptedDrafter:
    spec = "scripted"
    model_name = ""

    def __init__(self, proposals):
        self.proposals = list(proposals)

    def prefill(self, ids):
        pass

    def propose(self, context, k, ctx):
        from specviz.engine.drafters import Draft

        return Draft.of(self.proposals.pop(0)[:k])


def test_round_events_and_counts_scripted():
    # prompt of length 2; the target's greedy output is 1 2 3 4 5(EOS)
    script = {2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 0, 8: 0, 9: 0}
    target = ScriptedTarget(script)
    drafter = ScriptedDrafter([[1, 2, 0], [4, 5, 0]])
    cfg = EngineConfig(k=3, max_tokens=10, eos_token_ids=frozenset({5}), n_top=0)
    rounds = list(generate_rounds(target, drafter, [0, 0], cfg))
    # round 0: accept 1, 2; reject 0 -> 3.  round 1: accept 4, accept 5 (EOS) -> stop.
    assert [r.tokens for r in rounds] == [[1, 2, 3], [4, 5]]
    assert [(r.counts.drafted, r.counts.tested, r.counts.accepted, r.counts.produced) for r in rounds] == [(3, 3, 2, 3), (3, 2, 2, 2)]
    assert rounds[-1].finish_reason == "eos"
    statuses = [[e.status for e in r.events if isinstance(e, Verify)] for r in rounds]
    assert statuses == [["accepted", "accepted", "rejected", "resampled"], ["accepted", "accepted"]]
    rm = [e for e in rounds[-1].events if isinstance(e, RoundMetrics)][0]
    assert rm.total_tokens == 5 and rm.acceptance_cumulative == pytest.approx(4 / 5) and rm.tau_cumulative == pytest.approx(2.5)


def test_k_shrinks_near_max_tokens():
    script = {i: 1 for i in range(2, 20)}
    target = ScriptedTarget(script)
    drafter = ScriptedDrafter([[1, 1, 1, 1]] * 5)
    cfg = EngineConfig(k=4, max_tokens=7, n_top=0)
    rounds = list(generate_rounds(target, drafter, [0, 0], cfg))
    assert [r.counts.drafted for r in rounds] == [4, 1]
    assert sum(r.counts.produced for r in rounds) == 7 and rounds[-1].finish_reason == "max_tokens"
