"""Property: every number recorded for a remote target (a real mlx_lm.server serving the
bundled model) equals the in-process target's at the recorded context within a tolerance, or
its row is marked inexact with a reason. Contexts are random: word salads (canonical token
sequences) and random id sequences with newlines (mostly not what the text re-tokenises to)."""

from __future__ import annotations

import numpy as np
import pytest

from servers.fixtures import bundled_path, mlx_server_url, tokenizer  # noqa: F401  (fixtures)
from servers.reference import check_round
from specviz.engine.drafters import NgramDrafter
from specviz.engine.loop import EngineConfig, generate_rounds
from specviz.engine.remote_rows import CONVERT_TOL
from specviz.sampling_params import SamplingParams
from specviz.targets import OpenAITarget
from specviz.targets.local import LocalTarget

WORDS = ["the", "cat", "\n", "one", "two", "three", "Paris", ",", ".", "\n\n", "is", "a", "dog"]
# Server kernels and float32 on the wire vs in-process fp32: measured 2e-4 nats (issue 11).
TOL = 2e-3


@pytest.fixture(scope="module")
def local(bundled_path):
    from specviz.models.loading import load_mlx

    model, tok, _ = load_mlx("bundled")
    return LocalTarget(model, tok, spec="bundled", model_name="bundled")


@pytest.fixture(scope="module")
def remote(mlx_server_url, tokenizer):
    target = OpenAITarget(mlx_server_url, tokenizer)
    target.connect()
    yield target
    target.close()


def random_context(tokenizer, rng, canonical: bool) -> list[int]:
    if canonical:
        return tokenizer.encode(" ".join(rng.choice(WORDS, 12)), add_special_tokens=False)
    pool = [i for w in WORDS for i in tokenizer.encode(w, add_special_tokens=False)]
    return [int(i) for i in rng.choice(pool, 12)]


@pytest.mark.parametrize("seed", range(8))
def test_recorded_numbers_are_the_models_or_marked_inexact(remote, local, tokenizer, seed):
    rng = np.random.default_rng(seed)
    canonical = seed % 4 < 2
    context = random_context(tokenizer, rng, canonical)
    temperature = 0.0 if seed % 2 == 0 else 0.7
    config = EngineConfig(k=3, max_tokens=8, sampling=SamplingParams(temperature, seed=seed), n_top=5)
    drafter = NgramDrafter(1)
    rows = 0
    for rnd in generate_rounds(remote, drafter, context, config):
        draft = [e.token_id for e in rnd.events if e.__struct_config__.tag == "draft_token"]
        verifies = [e for e in rnd.events if e.__struct_config__.tag == "verify"]
        rows += check_round(local, context, draft, verifies, temperature, TOL, CONVERT_TOL)
        context = context + rnd.tokens
    if canonical:  # at least round 0 was scored at the recorded context: there are numbers to compare
        assert rows > 0
