"""Remote targets never record a wrong number as real (issue 11), against the scripted fake
server reproducing each quirk of real servers: sampling defaults that leak in unless turned
off (llama.cpp), strict servers refusing unknown parameters (OpenAI), end of text with zero
logprob positions (llama.cpp), contexts re-tokenised from text ('\\n','\\n' read as '\\n\\n'),
T = 1 logprobs at any temperature, and a 500 for a token-id prompt (llama-cpp-python)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from servers.fake_openai import FakeCompletionsServer
from servers.fixtures import bundled_path, tokenizer  # noqa: F401  (fixtures)
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import NgramDrafter
from specviz.engine.remote_rows import CONVERT_TOL, RAW_SCALE, _log_normaliser
from specviz.store import read_events
from specviz.targets import OpenAITarget, RetryPolicy, TargetError, TargetOptions
from specviz.targets.neutral_sampling import NEUTRAL

FAST = RetryPolicy(attempts=3, timeout_s=5.0, backoff_s=0.05, max_backoff_s=0.1)
PROMPT = "Repeat: Paris is the capital of France, and Rome is the capital of Italy."


def target_on(server, tokenizer, retry: RetryPolicy = FAST) -> OpenAITarget:
    return OpenAITarget(server.url, tokenizer, model="fake", options=TargetOptions(retry=retry))


def record(target, tmp_path, **run):
    engine = Engine(target, NgramDrafter(3))
    run.setdefault("max_tokens", 16)
    result = engine.record(PROMPT, RunOptions(k=3, baseline=False, **run), traces=tmp_path)
    events = read_events(result.path)
    return result, events, [e for e in events if e.__struct_config__.tag == "verify"]


def test_every_request_states_every_neutral_sampling_parameter(tokenizer, tmp_path):
    with FakeCompletionsServer(tokenizer, defaults="llama.cpp") as server:
        result, events, verifies = record(target_on(server, tokenizer), tmp_path, temperature=0.0)
    for request in server.requests:
        assert {name: request["body"].get(name) for name in NEUTRAL} == NEUTRAL
    started = events[0]
    assert started.target_ignored == [] and started.target_params["repeat_penalty"] == "1.0"
    assert started.target_params["top_k"] == "0" and started.target_params["min_p"] == "0.0"
    assert result.finished.status == "completed" and verifies and all(v.exact for v in verifies)
    for v in verifies:
        if v.status == "bonus":  # the server's own greedy token is its argmax
            assert v.top[0].id == v.token_id


@pytest.mark.parametrize("echo", [True, False])
def test_a_server_that_keeps_its_repetition_penalty_is_refused(tokenizer, echo):
    with FakeCompletionsServer(tokenizer, defaults="stubborn", echo=echo) as server:
        with pytest.raises(TargetError, match="does not decode greedily.*over its own top choice"):
            target_on(server, tokenizer).connect()


def test_rounds_where_greedy_is_not_the_argmax_are_marked_inexact(tokenizer, tmp_path):
    with FakeCompletionsServer(tokenizer, echo=False) as server:
        target = target_on(server, tokenizer)
        target.connect()
        server.defaults = "stubborn"  # passed the probe, then started penalising repeats
        result, events, verifies = record(target, tmp_path, temperature=0.0, max_tokens=24)
    assert result.finished.status == "completed"
    inexact = [v for v in verifies if not v.exact]
    assert inexact and all("greedy, yet the server chose" in v.inexact_reason for v in inexact)
    assert result.finished.inexact_rounds == len({v.round for v in inexact}) > 0


def test_a_strict_server_gets_what_it_accepts_and_sampled_rows_say_what_it_refused(tokenizer, tmp_path):
    with FakeCompletionsServer(tokenizer, echo=False, strict=True) as server:
        target = target_on(server, tokenizer)
        target.connect()
        expected = [name for name in NEUTRAL if name not in ("presence_penalty", "frequency_penalty")]
        assert sorted(target.dialect.ignored) == sorted(expected)
        _, events, greedy = record(target, tmp_path / "greedy", temperature=0.0)
        result, _, sampled = record(target, tmp_path / "sampled", temperature=0.8, seed=1)
    assert sorted(events[0].target_ignored) == sorted(expected) and "top_k" not in events[0].target_params
    assert greedy and all(v.exact for v in greedy)  # the greedy check still vouches for these
    assert sampled and all(not v.exact and "server refused" in v.inexact_reason and "top_k" in v.inexact_reason for v in sampled)
    assert result.finished.inexact_rounds == result.finished.rounds


@pytest.mark.parametrize("dialect", [{"style": "legacy"}, {"style": "legacy", "echo": False},
                                     {"style": "bool", "echo": False}], ids=["echo", "legacy", "bool"])
def test_end_of_text_with_zero_positions_completes_the_run(tokenizer, tmp_path, dialect):
    with FakeCompletionsServer(tokenizer, **dialect) as server:
        target = target_on(server, tokenizer)
        target.connect()
        server.faults = ["ok", "eos-zero"]
        result, events, verifies = record(target, tmp_path, temperature=0.0, max_tokens=40)
    finished = events[-1]
    assert (finished.status, finished.finish_reason) == ("completed", "eos"), result.error
    assert finished.output_token_ids[-1] in target.eos_ids and verifies[-1].token_id in target.eos_ids
    assert finished.rounds == 2


def test_a_context_the_server_re_tokenises_is_never_exact(tokenizer, tmp_path):
    newline = tokenizer.encode("\n", add_special_tokens=False)
    assert len(newline) == 1 and tokenizer.encode("\n\n", add_special_tokens=False) != newline * 2
    with FakeCompletionsServer(tokenizer, echo=False) as server:
        server.continuation = newline * 2 + server.continuation  # the target writes '\n', '\n'
        result, events, verifies = record(target_on(server, tokenizer), tmp_path, temperature=0.0)
    later = [v for v in verifies if v.round > 0]
    assert all(v.exact for v in verifies if v.round == 0)  # the prompt reads back as itself
    assert later and all(not v.exact and "re-tokenises the context" in v.inexact_reason for v in later)
    assert result.finished.inexact_rounds == len({v.round for v in later})
    assert server.prompts[-1] != result.started.prompt_token_ids + result.token_ids[: len(server.prompts[-1])]
    shown = CliRunner().invoke(__import__("recorder.cli").cli.cli, ["--traces", str(tmp_path), "show", result.run_id])
    assert shown.exit_code == 0 and "inexact" in shown.output and "re-tokenises the context" in shown.output


def test_t1_logprobs_are_converted_where_bounded_else_kept_raw(tokenizer, tmp_path):
    # The fake's top-3 hold 96% of the mass (-0.25, -2, -3): at T = 0.5 the unlisted tail moves
    # the normaliser by at most 0.002 nats, at T = 0.7 by 0.011, more than CONVERT_TOL.
    with FakeCompletionsServer(tokenizer) as server:
        target = target_on(server, tokenizer)
        _, cold_events, cold = record(target, tmp_path / "cold", temperature=0.5, seed=2)
        _, warm_events, warm = record(target, tmp_path / "warm", temperature=0.7, seed=2)
    known, a = [-0.25, -2.0, -3.0], 2.0
    mass = 1 - sum(math.exp(lp) for lp in known)
    log_z = math.log(sum(math.exp(a * lp) for lp in known) + mass * min(mass, math.exp(-3.0)) / 2)
    decided = [v for v in cold if v.status != "bonus"]
    assert decided and cold_events[0].target_logprob_scale == RAW_SCALE
    for v in decided:
        assert v.target_logprob == pytest.approx(a * -0.25 - log_z, abs=1e-9) and v.target_logprob_raw is None
        assert [t.logprob for t in v.top] == pytest.approx([a * lp - log_z for lp in known])
    for v in (v for v in warm if v.status != "bonus"):
        assert (v.target_logprob, v.final_logprob, v.top) == (None, None, [])
        assert v.target_logprob_raw == -0.25 and [t.logprob for t in v.top_raw] == known


@pytest.mark.parametrize("temperature", [0.3, 0.7, 1.5])
def test_the_conversion_bound_holds_on_real_distributions(temperature):
    rng = np.random.default_rng(0)
    converted = 0
    for _ in range(200):
        logits = rng.normal(0, rng.uniform(1, 6), 4000)
        raw = logits - np.logaddexp.reduce(logits)
        true = logits / temperature - np.logaddexp.reduce(logits / temperature)
        top = np.argsort(-raw)[:20]
        log_z = _log_normaliser({int(i): float(raw[i]) for i in top}, [float(raw[i]) for i in top], temperature, 4000)
        if log_z is not None:
            converted += 1
            assert abs((raw[top[0]] / temperature - log_z) - true[top[0]]) <= CONVERT_TOL
    # Above T = 1 the unlisted tail can hold most of the tempered mass: seldom convertible.
    assert converted > 0 or temperature > 1


def test_the_probe_takes_an_answered_500_as_not_this_way_at_once(tokenizer):
    # llama-cpp-python answers a token-id prompt with a 500; retrying it slept ~3.5 s per start.
    slept: list[float] = []
    with FakeCompletionsServer(tokenizer, ids=False) as server:
        target = OpenAITarget(server.url, tokenizer, model="fake", sleep=slept.append)
        caps = target.connect()
    id_prompts = [r for r in server.requests if isinstance(r["body"]["prompt"], list)]
    assert len(id_prompts) == 1 and caps.scores_prompt and not caps.prompt_as_ids
    assert slept == []
