"""Distribution preservation: speculative sampling follows the target's distribution.

Tiny random models over 6 tokens; the drafter is a different model, so p != q and every
branch of the rule (accept, reject + residual resample, bonus) is exercised. Speculative
and target-only samples must agree under a chi-square test; a deliberately broken rule
(resampling from p instead of norm(max(0, p - q))) must fail the same test.
"""

from __future__ import annotations

import functools
from collections import Counter

import pytest
from scipy.stats import chi2_contingency

from specviz.engine.drafters import NgramDrafter
from specviz.engine.drafters.model import ModelDrafter
from specviz.targets.local import LocalTarget
from specviz.engine.loop import EngineConfig, generate_rounds
from specviz.engine.rejection import decide_full
from specviz.sampling_params import SamplingParams
from tiny_models import TinyTokenizer, tiny_model

V = 6
N = 700
PROMPT = [0, 1, 2, 1]


@pytest.fixture(scope="module")
def pair():
    tok = TinyTokenizer(V)
    target = LocalTarget(tiny_model(V, seed=0, scale=0.3), tok, spec="tiny", model_name="tiny-target")
    # A drafter far from the target (peaked where the target is flat): rejections are common.
    drafter = ModelDrafter(tiny_model(V, seed=1, scale=1.0), spec="mlx:tiny-draft")
    return target, drafter


def sample_outputs(target, drafter, n, decide=decide_full, temperature=1.0, top_p=1.0):
    outs = Counter()
    for seed in range(n):
        cfg = EngineConfig(k=2, max_tokens=3, sampling=SamplingParams(temperature, top_p, 0, seed), n_top=0)
        target.prefill(PROMPT)
        if drafter is not None:
            drafter.prefill(PROMPT)
        tokens = []
        for rnd in generate_rounds(target, drafter, PROMPT, cfg, decide=decide):
            tokens += rnd.tokens
        outs[tuple(tokens)] += 1
    return outs


def p_values(a: Counter, b: Counter) -> list[float]:
    """Chi-square p-values for (t0, t1) pairs and for t2, both samples side by side."""
    out = []
    for key in (lambda s: s[:2], lambda s: s[2]):
        ca, cb = Counter(), Counter()
        for s, c in a.items():
            ca[key(s)] += c
        for s, c in b.items():
            cb[key(s)] += c
        cells = sorted(set(ca) | set(cb))
        # Pool rare cells so expected counts stay >= 5.
        table = [[ca[c] for c in cells], [cb[c] for c in cells]]
        keep = [i for i in range(len(cells)) if table[0][i] + table[1][i] >= 10]
        rare = [i for i in range(len(cells)) if i not in keep]
        rows = [[r[i] for i in keep] + ([sum(r[i] for i in rare)] if rare else []) for r in table]
        out.append(chi2_contingency(rows)[1])
    return out


@pytest.fixture(scope="module")
def reference(pair):
    target, _ = pair
    return sample_outputs(target, None, N)


def test_speculative_matches_target_only(pair, reference):
    target, drafter = pair
    spec = sample_outputs(target, drafter, N)
    assert min(p_values(spec, reference)) > 1e-3


def test_ngram_drafter_matches_target_only(pair, reference):
    target, _ = pair
    spec = sample_outputs(target, NgramDrafter(2), N)
    assert min(p_values(spec, reference)) > 1e-3


def test_broken_rule_fails_the_same_test(pair, reference):
    target, drafter = pair
    broken = functools.partial(decide_full, resample_from_residual=False)
    spec = sample_outputs(target, drafter, N, decide=broken)
    assert min(p_values(spec, reference)) < 1e-4
