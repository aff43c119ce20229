"""The OpenAI-compatible target against llama-cpp-python's server, running the bundled GGUF.

Opt-in: llama-cpp-python is not a project dependency (it builds from source). Point
SPECVIZ_TEST_LLAMA_CPP_PYTHON at a Python that has ``llama-cpp-python[server]`` installed.
"""

from __future__ import annotations

import os

import pytest

from servers.fixtures import bundled_path, tokenizer  # noqa: F401  (fixtures)
from servers.real_servers import llama_cpp_server
from servers.reference import greedy_with_logprobs
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
    from specviz.engine.specs import load_mlx

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
