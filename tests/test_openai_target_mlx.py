"""The OpenAI-compatible target against a real mlx_lm.server running the bundled model.

The server's numbers are compared with the same model run in-process, and a greedy run
recorded through the engine against the server must reproduce greedy in-process decoding.
"""

from __future__ import annotations

import pytest

from servers.fixtures import bundled_path, mlx_server_url, tokenizer  # noqa: F401  (fixtures)
from servers.reference import greedy_with_logprobs
from specviz.targets import OpenAITarget, TargetOptions

# The chat template's default system prompt is long; a bare turn keeps every call cheap.
PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def model(bundled_path):
    from specviz.models.loading import load_mlx

    return load_mlx("bundled")[0]  # the engine's cached copy: one model in memory, not two


@pytest.fixture(scope="module")
def target(mlx_server_url, tokenizer):
    target = OpenAITarget(mlx_server_url, tokenizer)
    yield target
    target.close()


def test_probe_picks_exact_match_with_boolean_logprobs(target):
    caps = target.connect()
    assert (target.acceptance_rule, caps.style, caps.top_logprobs, target.capability) == ("exact-match", "bool", 0, "generate")


def verify_against_in_process(target, tokenizer, model, k: int):
    """A greedy verify call whose tokens and logprobs must equal the in-process model's."""
    context = tokenizer.encode(PROMPT, add_special_tokens=False)
    result = target.verify(context, [0] * k, temperature=0.0)
    expected = greedy_with_logprobs(model, context, k + 1)
    assert [p.token_id for p in result.target_tokens] == [t for t, _ in expected]
    for position, (_, logprob) in zip(result.target_tokens, expected):
        assert position.logprob == pytest.approx(logprob, abs=2e-3)
    return result


def test_server_logprobs_match_the_in_process_model(target, tokenizer, model):
    verify_against_in_process(target, tokenizer, model, k=5)


def test_mlx_top_logprobs_quirk_is_read_off_the_text(mlx_server_url, tokenizer, model):
    # Measured: with top_logprobs > 0 mlx_lm.server 0.32 reports the first entry of its
    # unsorted top-k instead of the sampled token ("L" for "The" at this prompt's start).
    forced = OpenAITarget(mlx_server_url, tokenizer, options=TargetOptions(top_logprobs=3))
    result = verify_against_in_process(forced, tokenizer, model, k=4)
    assert all(p.top[0].id == p.token_id and len(p.top) == 3 for p in result.target_tokens)
    forced.close()


def test_record_a_run_against_the_server(mlx_server_url, model, tmp_path):
    """specviz record's path end to end: probe, rounds, trace file; greedy output = greedy target."""
    from specviz.engine import Engine, RunOptions
    from specviz.store import read_events

    engine = Engine.from_specs(target=f"openai:{mlx_server_url}", drafter="ngram:2")
    prompt = "Repeat exactly: the cat sat on the mat, the cat sat on the mat."
    result = engine.record(prompt, RunOptions(k=3, max_tokens=10, baseline=False), traces=tmp_path)
    engine.target.close()
    events = read_events(result.path)
    started, finished = events[0], events[-1]
    assert finished.status == "completed", result.error
    assert (started.acceptance_rule, started.target) == ("exact-match", f"openai:{mlx_server_url}")
    expected = [t for t, _ in greedy_with_logprobs(model, started.prompt_token_ids, len(result.token_ids))]
    assert result.token_ids == expected
    verifies = [e for e in events if e.__struct_config__.tag == "verify"]
    assert verifies and all(v.target_logprob is None or v.target_logprob <= 0 for v in verifies)
    # exact-match: nothing after a rejection in a round was scored, so nothing is recorded there
    for round_index in {v.round for v in verifies}:
        statuses = [v.status for v in verifies if v.round == round_index]
        if "rejected" in statuses:
            assert statuses[statuses.index("rejected") + 1 :] == ["resampled"]
