"""The OpenAI-compatible target against llama-cpp-python's server, running the bundled GGUF.

Opt-in: llama-cpp-python is not a project dependency (it builds from source). Point
SPECVIZ_TEST_LLAMA_CPP_PYTHON at a Python that has ``llama-cpp-python[server]`` installed.
"""

from __future__ import annotations

import os

import pytest

from servers.fixtures import bundled_path, tokenizer  # noqa: F401  (fixtures)
from servers.real_servers import llama_cpp_server
from servers.reference import check_recorded_run, greedy_with_logprobs
from specviz.engine.remote_rows import CONVERT_TOL
from specviz.targets import OpenAITarget, TargetError, TargetOptions

LLAMA_PYTHON = os.environ.get("SPECVIZ_TEST_LLAMA_CPP_PYTHON", "")
pytestmark = pytest.mark.skipif(not LLAMA_PYTHON, reason="set SPECVIZ_TEST_LLAMA_CPP_PYTHON to run")
PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory):
    from specviz.models.bundled import bundled_gguf_path

    log = tmp_path_factory.mktemp("llama-cpp") / "server.log"
    with llama_cpp_server(LLAMA_PYTHON, bundled_gguf_path(), log=log) as url:
        yield url


@pytest.fixture(scope="module")
def model(bundled_path):
    from specviz.models.loading import load_mlx

    return load_mlx("bundled")[0]


def test_echo_is_refused_and_generation_matches_the_in_process_model(llama_url, tokenizer, model):
    # Measured with llama-cpp-python 0.3.36: with echo, each prompt position carries the next
    # position's alternatives and the generated token is missing from the logprobs; token-id
    # prompts are a 500. So: exact-match with integer logprobs.
    with pytest.raises(TargetError, match="echoed tokens spell"):
        OpenAITarget(llama_url, tokenizer, options=TargetOptions(mode="score")).connect()
    target = OpenAITarget(llama_url, tokenizer)
    caps = target.connect()
    assert (target.acceptance_rule, caps.style, target.model.endswith(".gguf")) == ("exact-match", "legacy", True)
    context = tokenizer.encode(PROMPT, add_special_tokens=False)
    result = target.verify(context, [0] * 4, temperature=0.0)
    expected = greedy_with_logprobs(model, context, 5)
    assert [p.token_id for p in result.target_tokens] == [t for t, _ in expected]
    for position, (token, logprob) in zip(result.target_tokens, expected):
        # Q4_1 kernels (activations quantized to 8 bits) vs the dequantized fp32 weights
        assert position.logprob == pytest.approx(logprob, abs=0.05)
        assert position.top[0].id == token
    target.close()


# -- issue 11: each defect measured on this server, as a case ------------------------------

REPEAT = "one two three one two three one two three one two three"


@pytest.fixture(scope="module")
def local(model, tokenizer):
    from specviz.targets.local import LocalTarget

    return LocalTarget(model, tokenizer, spec="bundled", model_name="bundled")


def record_on(llama_url, tokenizer, tmp_path, prompt, **run):
    from specviz.engine import Engine, RunOptions
    from specviz.engine.drafters import NgramDrafter
    from specviz.store import read_events

    engine = Engine(OpenAITarget(llama_url, tokenizer), NgramDrafter(3))
    result = engine.record(prompt, RunOptions(k=4, max_tokens=24, baseline=False, **run), traces=tmp_path)
    engine.target.close()
    return result, read_events(result.path)


def test_its_sampling_defaults_are_turned_off(llama_url, tokenizer, model, local, tmp_path):
    # Defect 1: repeat_penalty 1.1 made greedy " four" here, where the model says " one".
    result, events = record_on(llama_url, tokenizer, tmp_path, REPEAT, temperature=0.0, chat_template=False)
    assert result.finished.status == "completed", result.error
    assert events[0].target_params["repeat_penalty"] == "1.0" and events[0].target_ignored == []
    assert tokenizer.decode(result.token_ids[:1]) == " one"
    verifies = [e for e in events if e.__struct_config__.tag == "verify" and e.status != "rejected"]
    assert all(v.top[0].id == v.token_id for v in verifies if v.top)  # the server's own argmax, every time
    check_recorded_run(local, events, tol=0.1, convert_tol=CONVERT_TOL)


def test_end_of_text_at_a_round_start_completes(llama_url, tokenizer, tmp_path):
    # Defect 2: the EOS left out of the logprobs gave "0 logprob positions" and a failed run.
    result, _ = record_on(llama_url, tokenizer, tmp_path, "What is 2+2?", temperature=0.0, max_tokens=64)
    assert (result.finished.status, result.finished.finish_reason) == ("completed", "eos"), result.error


def test_a_re_tokenised_context_is_marked(llama_url, tokenizer):
    # Defect 3: '\n', '\n' is read as '\n\n'; the numbers are for another context.
    target = OpenAITarget(llama_url, tokenizer)
    target.connect()
    newline = tokenizer.encode("\n", add_special_tokens=False)
    result = target.verify(tokenizer.encode("Line one.", add_special_tokens=False) + newline * 2, [], temperature=0.0)
    assert "re-tokenises the context" in result.context_reason
    target.close()


def test_logprobs_are_on_the_run_temperature_or_raw(llama_url, tokenizer, local, tmp_path):
    # Defect 4: target logprobs were the server's T = 1 numbers next to draft logprobs at T.
    result, events = record_on(llama_url, tokenizer, tmp_path, "Explain speculative decoding in two sentences.",
                               temperature=0.7, seed=1)
    assert result.finished.status == "completed", result.error
    assert check_recorded_run(local, events, tol=0.1, convert_tol=CONVERT_TOL) > 0
