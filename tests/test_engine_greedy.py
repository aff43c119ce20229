"""Greedy speculative decoding produces exactly the tokens of greedy target-only decoding,
for several prompts and every drafter; KV caches are trimmed on rejection, never rebuilt."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from specviz.engine.drafters import NgramDrafter, lookup
from specviz.engine.drafters.model import ModelDrafter
from specviz.engine.local import EarlyExit
from specviz.targets.local import LocalTarget
from specviz.engine.loop import EngineConfig, generate_rounds
from specviz.sampling_params import SamplingParams
from tiny_models import TinyTokenizer, tiny_model

V = 12
PROMPTS = [[0, 1, 2, 3, 0, 1, 2], [5, 5, 5, 5], [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], [7]]


def run(target, drafter, prompt, k=3, max_tokens=20, eos=frozenset()):
    cfg = EngineConfig(k=k, max_tokens=max_tokens, sampling=SamplingParams(), eos_token_ids=eos, n_top=2)
    target.prefill(prompt)
    if drafter is not None:
        drafter.prefill(prompt)
    rounds = list(generate_rounds(target, drafter, prompt, cfg))
    return [t for r in rounds for t in r.tokens], rounds


@pytest.fixture(scope="module")
def tiny():
    tok = TinyTokenizer(V)
    model = tiny_model(V, seed=3, layers=4, scale=0.5)
    return model, tok


def drafters(model, tok):
    return {
        "ngram": NgramDrafter(3),
        "ngram:1": NgramDrafter(1),
        "layerskip:2": ModelDrafter(EarlyExit(model, 2), spec="layerskip:2"),
        "mlx-same": ModelDrafter(model, spec="mlx:same"),
        "mlx-other": ModelDrafter(tiny_model(V, seed=9, layers=2, scale=0.5), spec="mlx:other"),
    }


@pytest.mark.parametrize("prompt", PROMPTS)
def test_tiny_greedy_speculative_equals_target_only(tiny, prompt):
    model, tok = tiny
    target = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    expected, _ = run(target, None, prompt)
    assert len(expected) == 20
    for name, drafter in drafters(model, tok).items():
        for k in (1, 4):
            got, _ = run(target, drafter, prompt, k=k)
            assert got == expected, (name, k)


def test_same_model_drafter_is_always_accepted(tiny):
    model, tok = tiny
    target = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    _, rounds = run(target, ModelDrafter(model, spec="mlx:same"), PROMPTS[0], k=4, max_tokens=15)
    assert all(r.counts.accepted == r.counts.drafted for r in rounds)
    # K shrinks near max_tokens: 5 + 5 + 5 tokens, the last round drafting exactly 4.
    assert [r.counts.produced for r in rounds] == [5, 5, 5]


def test_kv_cache_trimmed_never_recomputed(tiny):
    model, tok = tiny
    target = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    drafter = ModelDrafter(tiny_model(V, seed=9, layers=2, scale=0.5), spec="mlx:other")
    prompt = PROMPTS[2]
    tokens, rounds = run(target, drafter, prompt, k=4, max_tokens=30)
    rejected = sum(1 for r in rounds if r.counts.accepted < r.counts.drafted)
    assert rejected > 0 and target.state.trimmed > 0
    # Every token fed once, plus drafted tokens that were rejected: nothing recomputed.
    drafted = sum(r.counts.drafted for r in rounds)
    assert target.state.fed <= len(prompt) + len(tokens) + drafted
    # The trimmed cache gives the same next-token logits as a fresh full forward.
    context = prompt + tokens
    cached = target.state.forward(context, 1)
    fresh = model(mx.array(context)[None])[0, -1:]
    assert np.allclose(np.asarray(cached), np.asarray(fresh), atol=1e-4)
    # The drafter's cache too.
    cached_d = drafter.state.forward(context, 1)
    fresh_d = drafter.state.model(mx.array(context)[None])[0, -1:]
    assert np.allclose(np.asarray(cached_d), np.asarray(fresh_d), atol=1e-4)


def test_pipelined_autoregressive_uses_each_prefetched_step_once(tiny):
    """Greedy autoregressive rounds queue the next step on the lazy argmax (as mlx_lm does):
    the tokens are those of full, uncached forwards, every id is fed once, and a cache left
    holding a prefetched step (after EOS) still gives the right tokens for another prompt."""
    model, tok = tiny
    target = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    prompt = PROMPTS[2]
    tokens, rounds = run(target, None, prompt, max_tokens=12)
    seq = list(prompt)
    for _ in range(12):
        seq.append(int(np.argmax(np.asarray(model(mx.array(seq)[None])[0, -1]))))
    assert tokens == seq[len(prompt):]
    assert target.state.fed == len(prompt) + len(tokens) - 1 and target.state.trimmed == 0
    eos = tokens[3]
    cut, _ = run(target, None, prompt, max_tokens=12, eos=frozenset({eos}))
    assert cut == tokens[: tokens.index(eos) + 1]
    assert target.state.ids[-1] == -1  # the step queued after EOS: its id not yet known
    other, _ = run(target, None, PROMPTS[0], max_tokens=6)
    fresh = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    assert other == run(fresh, None, PROMPTS[0], max_tokens=6)[0]


def test_eos_inside_accepted_prefix_stops_with_exact_counts(tiny):
    model, tok = tiny
    target = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    expected, _ = run(target, None, PROMPTS[0], max_tokens=20)
    eos = expected[6]  # the 7th greedy token ends the run
    first = expected.index(eos)
    tokens, rounds = run(target, ModelDrafter(model, spec="mlx:same"), PROMPTS[0], k=4, max_tokens=20, eos=frozenset({eos}))
    assert tokens == expected[: first + 1]
    assert rounds[-1].finish_reason == "eos"
    last = rounds[-1]
    # The same-model drafter drafted 4 and everything up to EOS was accepted; nothing after.
    verifies = [e for e in last.events if type(e).__name__ == "Verify"]
    assert [v.status for v in verifies] == ["accepted"] * last.counts.produced
    assert last.counts.accepted == last.counts.tested == last.counts.produced
    assert sum(r.counts.produced for r in rounds) == first + 1


def test_seeded_sampling_reproduces(tiny):
    model, tok = tiny
    target = LocalTarget(model, tok, spec="tiny", model_name="tiny")
    drafter = ModelDrafter(tiny_model(V, seed=9, layers=2, scale=0.5), spec="mlx:other")
    cfg = EngineConfig(k=3, max_tokens=25, sampling=SamplingParams(0.9, 0.95, 0, seed=7), n_top=0)

    def once():
        target.prefill(PROMPTS[2])
        drafter.prefill(PROMPTS[2])
        return [t for r in generate_rounds(target, drafter, PROMPTS[2], cfg) for t in r.tokens]

    assert once() == once()


def test_ngram_lookup():
    assert lookup([1, 2, 3, 9, 1, 2], k=3, max_n=3) == [3, 9, 1]
    assert lookup([1, 2, 3, 4], k=3, max_n=3) == []
    assert lookup([5, 6, 7, 5, 6, 8, 5, 6], k=2, max_n=2) == [8, 5]  # most recent occurrence
    assert lookup([4, 4, 4], k=5, max_n=1) == [4]


BUNDLED_PROMPTS = [
    "Rewrite in the passive voice: The committee approved the new budget on Monday.",
    "What is the capital of France?",
]


@pytest.fixture(scope="module")
def bundled():
    from specviz.models.loading import load_mlx

    model, tok, _ = load_mlx("bundled")
    return model, tok


@pytest.mark.timeout(900)
def test_bundled_greedy_speculative_equals_target_only(bundled):
    """The real bundled model, every drafter kind (mlx: the bundled model drafting for itself)."""
    model, tok = bundled
    target = LocalTarget(model, tok, spec="bundled", model_name="bundled")
    eos = frozenset(target.eos_token_ids)
    kinds = {
        "ngram": NgramDrafter(3),
        "layerskip:4": ModelDrafter(EarlyExit(model, 4), spec="layerskip:4"),
        "mlx:bundled": ModelDrafter(model, spec="mlx:bundled"),
    }
    for text in BUNDLED_PROMPTS:
        prompt = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
        expected, _ = run(target, None, prompt, max_tokens=12, eos=eos)
        for name, drafter in kinds.items():
            got, _ = run(target, drafter, prompt, k=3, max_tokens=12, eos=eos)
            assert got == expected, (name, text)
