"""The engine over an OpenAI-compatible target (the scripted fake server): the top-k
rejection rule end to end, and a bad reply mid-run ending the run `failed` with its events."""

from __future__ import annotations

import pytest

from servers.fixtures import bundled_path, fake_server, tokenizer  # noqa: F401  (fixtures)
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import NgramDrafter
from specviz.store import read_events
from specviz.targets import OpenAITarget

PROMPT = "Repeat: Paris is the capital of France, and Rome is the capital of Italy."


def engine_for(server, tokenizer):
    target = OpenAITarget(server.url, tokenizer, model="fake")
    return Engine(target, NgramDrafter(3), target_spec=target.spec, drafter_spec="ngram:3")


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_topk_rule_recorded(fake_server, tokenizer, tmp_path, temperature):
    engine = engine_for(fake_server, tokenizer)
    result = engine.record(PROMPT, RunOptions(k=4, max_tokens=20, temperature=temperature, seed=3), traces=tmp_path)
    events = read_events(result.path)
    started, finished = events[0], events[-1]
    assert finished.status == "completed", result.error
    assert started.acceptance_rule == "rejection-sampling-topk" and started.target == fake_server.url.join(["openai:", ""])
    assert finished.produced == 20 and finished.drafted > 0
    assert result.finished.alpha is None and finished.alpha is None  # no full distributions, no alpha
    verifies = [e for e in events if type(e).__name__ == "Verify"]
    decided = [v for v in verifies if v.status in ("accepted", "rejected")]
    assert decided and all(v.target_logprob is not None for v in decided)
    if temperature == 0.0:
        assert all(v.exact for v in verifies)  # greedy over a known top-1 is exact
    else:
        assert all(not v.exact for v in decided)


def test_inconsistent_reply_fails_the_run_keeping_events(fake_server, tokenizer, tmp_path):
    engine = engine_for(fake_server, tokenizer)
    engine.target.connect()  # the probe takes its requests first
    fake_server.faults[:] = ["ok", "ok", "wrong-length"]
    result = engine.record(PROMPT, RunOptions(k=4, max_tokens=40), traces=tmp_path)
    events = read_events(result.path)
    assert events[-1].status == "failed" and result.error
    errors = [e for e in events if type(e).__name__ == "Error"]
    assert errors[-1].where == "target" and errors[-1].retryable is False
    assert sum(type(e).__name__ == "RoundMetrics" for e in events) == 2  # rounds before the bad reply kept
