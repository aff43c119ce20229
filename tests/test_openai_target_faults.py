"""Every fault path of the OpenAI-compatible target, against a local misbehaving server."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import pytest

from servers.fixtures import bundled_path, fake_server, tokenizer  # noqa: F401  (fixtures)
from specviz.events import Error
from specviz.targets import (
    InconsistentLogprobs,
    MalformedResponse,
    OpenAITarget,
    RetryPolicy,
    TargetOptions,
    TargetUnavailable,
)

SECRET = "sk-test-0123456789abcdef-do-not-leak"
FAST = RetryPolicy(attempts=3, timeout_s=0.5, backoff_s=0.01, max_backoff_s=0.02)
LEGACY_NO_ECHO = {"style": "legacy", "echo": False}
BOOL = {"style": "bool", "echo": False}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch):
    monkeypatch.setenv("SPECVIZ_API_KEY", SECRET)


def make_target(server, tokenizer, **kwargs) -> OpenAITarget:
    options = kwargs.pop("options", TargetOptions())
    return OpenAITarget(server.url, tokenizer, model="fake", options=replace(options, retry=FAST), **kwargs)


def context_and_draft(tokenizer):
    context = tokenizer.encode("Question: where is the Eiffel tower? Answer:", add_special_tokens=False)
    return context, tokenizer.encode(" Paris is the capital", add_special_tokens=False)


def assert_no_leak(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text)


def test_echo_server_scores_every_draft_token(fake_server, tokenizer):
    target = make_target(fake_server, tokenizer)
    assert target.connect().prompt_as_ids
    assert target.acceptance_rule == "rejection-sampling-topk"
    context, draft = context_and_draft(tokenizer)
    result = target.verify(context, draft, temperature=0.7, seed=3, round=2)
    assert [p.token_id for p in result.draft_scores] == draft
    assert all(p.logprob == -0.25 and p.top[0].id == p.token_id for p in result.draft_scores)
    assert len(result.target_tokens) == 1 and result.tested(draft) == len(draft)
    sent = fake_server.requests[-1]
    assert sent["body"]["prompt"] == context + draft and sent["body"]["echo"] is True
    assert sent["body"]["seed"] == 5 and sent["auth"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("fake_server", [LEGACY_NO_ECHO, BOOL], indirect=True)
def test_server_without_echo_falls_back_to_exact_match(fake_server, tokenizer):
    target = make_target(fake_server, tokenizer)
    target.connect()
    assert target.acceptance_rule == "exact-match"
    context, draft = context_and_draft(tokenizer)
    result = target.verify(context, draft)
    assert result.draft_scores == ()
    assert len(result.target_tokens) == len(draft) + 1
    # The fake always continues " Paris is the capital of ...": the whole draft matches.
    assert result.matched_prefix(draft) == len(draft) == result.tested(draft)
    wrong = draft[:2] + [tokenizer.encode(" moon", add_special_tokens=False)[0]] + draft[3:]
    assert result.matched_prefix(wrong) == 2 and result.tested(wrong) == 3


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
def test_transient_faults_are_retried_and_recorded(fake_server, tokenizer, fault):
    target = make_target(fake_server, tokenizer)
    target.connect()
    events: list[Error] = []
    fake_server.faults = [fault]
    result = target.verify(*context_and_draft(tokenizer), round=4, emit=events.append)
    assert len(result.draft_scores) == 4
    [event] = events
    assert event.retryable and event.attempt == 1 and event.round == 4 and event.where == "target"
    expected = {"429": "HTTP 429", "500": "HTTP 500", "timeout": "timed out"}[fault]
    assert expected in event.message


def test_retries_run_out_with_a_clear_message(fake_server, tokenizer):
    target = make_target(fake_server, tokenizer)
    target.connect()
    events: list[Error] = []
    fake_server.faults = ["500"] * FAST.attempts
    with pytest.raises(TargetUnavailable, match=r"^round 1: http://127.0.0.1:\d+/v1: HTTP 500.*gave up after 3 attempts"):
        target.verify(*context_and_draft(tokenizer), round=1, emit=events.append)
    assert [e.attempt for e in events] == [1, 2]  # the last failure ends the run instead


def test_backoff_grows_and_respects_its_bound():
    policy = RetryPolicy(backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.delay(a) for a in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert policy.delay(1, retry_after=2.0) == 2.0 and policy.delay(1, retry_after=60) == 3.0


@pytest.mark.parametrize(("fault", "message"), [("malformed", "not JSON"), ("error-body", "model overloaded")])
def test_malformed_replies_fail_without_retrying(fake_server, tokenizer, fault, message):
    target = make_target(fake_server, tokenizer)
    target.connect()
    events: list[Error] = []
    fake_server.faults = [fault]
    with pytest.raises(MalformedResponse, match=message):
        target.verify(*context_and_draft(tokenizer), emit=events.append)
    assert events == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("wrong-length", "differ in length"),
        ("absent", r"position 4 \(token ' Paris'\): the sampled token .* is absent from its own top-k"),
        ("mismatch", r"position 4 .* disagrees with its own top-k entry"),
        ("shift", r"context token 0 of 11 .* absent from its own top-k"),
        ("no-logprobs", "returned no logprobs"),
        ("no-top", "position 0: the server sent no top-k alternatives"),
        ("positive", r"position 4 .* logprob 0.5 is not a finite number <= 0"),
    ],
)
def test_inconsistent_logprobs_fail_the_round(fake_server, tokenizer, fault, message):
    target = make_target(fake_server, tokenizer)
    target.connect()
    fake_server.faults = [fault]
    with pytest.raises(InconsistentLogprobs, match=f"^round 6: .*{message}"):
        target.verify(*context_and_draft(tokenizer), round=6)


@pytest.mark.parametrize("fault", ["shift", "no-top", "next-position"])
def test_a_server_whose_echo_cannot_score_falls_back_to_exact_match(fake_server, tokenizer, fault):
    fake_server.faults = ["ok", "ok", fault, "ok", fault]  # parameters, then (generate, echo) per scoring probe: ids, then text
    target = make_target(fake_server, tokenizer)
    target.connect()
    assert target.acceptance_rule == "exact-match"


@pytest.mark.parametrize("fake_server", [BOOL], indirect=True)
def test_mlx_first_alternative_quirk_is_read_off_the_text(fake_server, tokenizer):
    # auto asks mlx-style servers for top_logprobs 0, where ids and logprobs are right
    assert make_target(fake_server, tokenizer).connect().top_logprobs == 0
    forced = make_target(fake_server, tokenizer, options=TargetOptions(top_logprobs=3))
    forced.connect()
    context, draft = context_and_draft(tokenizer)
    fake_server.faults = ["first-alternative"]
    result = forced.verify(context, draft)
    assert [p.token_id for p in result.target_tokens] == fake_server.continuation[: len(draft) + 1]
    assert all(p.logprob == -0.25 and p.top[0].id == p.token_id for p in result.target_tokens)
    fake_server.faults = ["first-alternative-outside"]
    with pytest.raises(InconsistentLogprobs, match="other tokens than it sampled"):
        forced.verify(context, draft)


def test_api_key_never_reaches_an_error_or_event(fake_server, tokenizer):
    target = make_target(fake_server, tokenizer)
    target.connect()
    events: list[Error] = []
    fake_server.faults = ["leak-key"] * FAST.attempts
    with pytest.raises(TargetUnavailable) as failure:
        target.verify(*context_and_draft(tokenizer), emit=events.append)
    assert "***" in str(failure.value) and len(events) == 2
    assert_no_leak(failure.value, *(msgspec.json.encode(e) for e in events), target.spec)


def test_refused_request_is_not_retried(tokenizer):
    from servers.fake_openai import FakeCompletionsServer

    with FakeCompletionsServer(tokenizer, style="legacy", echo=False) as server:
        target = make_target(server, tokenizer, options=TargetOptions(mode="score"))
        with pytest.raises(Exception, match="echo is not supported"):
            target.connect()
        assert len(server.requests) == 5  # parameters, then (generate, echo) per scoring candidate, no retries


def test_engine_protocol_on_an_echo_server(fake_server, tokenizer):
    from specviz.targets.base import SamplingParams, ScoreRequest, Target

    target = make_target(fake_server, tokenizer)
    target.connect()
    assert isinstance(target, Target) and target.capability == "topk"
    context, draft = context_and_draft(tokenizer)
    target.prefill(context)
    scores = target.score(context, draft, ScoreRequest(round=0, sampling=SamplingParams(temperature=1.0)))
    assert scores.draft_logprobs == [-0.25] * len(draft)
    assert len(scores.top) == len(draft) + 1 and all(top[0][1] == -0.25 for top in scores.top)
    assert scores.generated == [fake_server.continuation[0]]
    target.close()


def test_cli_options_have_help_and_environment_defaults(monkeypatch):
    import click
    from click.testing import CliRunner

    from specviz.targets.cli_options import remote_target_options, target_options

    @click.command()
    @remote_target_options
    def show(**kwargs):
        click.echo(repr(target_options(**kwargs)))

    monkeypatch.setenv("SPECVIZ_TARGET_MODE", "generate")
    result = CliRunner().invoke(show, ["--target-top-logprobs", "3", "--target-retries", "2"])
    assert result.exit_code == 0, result.output
    assert "mode='generate'" in result.output and "top_logprobs=3" in result.output and "attempts=2" in result.output
    assert all(p.help for p in show.params)


def test_engine_records_retries_then_fails_the_run_keeping_its_events(fake_server, tokenizer, tmp_path):
    from specviz.engine import Engine, RunOptions
    from specviz.engine.drafters import NgramDrafter
    from specviz.store import read_events

    target = make_target(fake_server, tokenizer)
    engine = Engine(target, NgramDrafter(2))
    prompt = "Paris is the capital of France, and Rome is the capital of Italy. Say it again."
    started = engine.started_event(prompt, RunOptions(k=3, max_tokens=64, baseline=False))  # probes
    fake_server.faults = ["ok", "429", "ok", "mismatch"]  # round 0 fine, round 1 retried once, round 2 broken
    result = engine.record(prompt, RunOptions(k=3, max_tokens=64, baseline=False), traces=tmp_path)
    assert started.acceptance_rule == "rejection-sampling-topk"
    events = read_events(result.path)
    kinds = [e.__struct_config__.tag for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    retry, failure = [e for e in events if isinstance(e, Error)]
    assert (retry.retryable, retry.attempt, retry.round) == (True, 1, 1) and "HTTP 429" in retry.message
    assert not failure.retryable and failure.message.startswith("round 2: ") and "disagrees" in failure.message
    assert result.finished.status == "failed" and result.finished.finish_reason == "error"
    assert sum(1 for e in events if e.__struct_config__.tag == "round_metrics") == 2  # rounds 0 and 1 kept
    assert events[0].target == target.spec == fake_server.url.replace("http", "openai:http", 1)
    assert_no_leak(*(msgspec.json.encode(e) for e in events))
    assert SECRET.encode() not in result.path.read_bytes()


def connected(target: OpenAITarget) -> OpenAITarget:
    target.connect()
    return target


def test_model_name_comes_from_a_one_model_list_else_mlx_default(fake_server, tokenizer):
    assert connected(OpenAITarget(fake_server.url, tokenizer)).model == "default_model"  # the fake has no list
    fake_server.models = ["org/served-model"]
    assert connected(OpenAITarget(fake_server.url, tokenizer)).model == "org/served-model"
    fake_server.models = ["a", "b"]
    assert connected(OpenAITarget(fake_server.url, tokenizer)).model_name == "default_model"


def test_reading_attributes_touches_no_network(fake_server, tokenizer):
    target = OpenAITarget(fake_server.url, tokenizer)
    assert (target.spec, target.model_name, target.vocab_size > 0) == (f"openai:{fake_server.url}", "", True)
    with pytest.raises(RuntimeError, match="connect"):
        target.capability
    assert fake_server.requests == [] and fake_server.gets == 0


def test_text_prompts_leave_the_bos_to_a_server_that_adds_its_own(fake_server, tokenizer):
    target = make_target(fake_server, tokenizer)
    ids = tokenizer.encode("Hello there", add_special_tokens=False)
    bos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    target.bos_id, target._adds_bos = bos, True  # as for a Llama-style tokenizer
    assert target._as_text([bos] + ids) == "Hello there"
    target._adds_bos = False
    assert target._as_text([bos] + ids) == "<|endoftext|>Hello there"


def test_echoed_prompt_with_split_characters_is_checked_against_the_ids_sent(fake_server, tokenizer):
    # Byte tokens of "🙂" decode alone to U+FFFD, a piece many ids share: the prompt
    # positions are compared with the ids sent, so that is no ambiguity.
    target = make_target(fake_server, tokenizer)
    context = tokenizer.encode("Smile: 🙂 日本語", add_special_tokens=False)
    assert any(target.mapper.piece(t) == "\ufffd" for t in context)
    draft = tokenizer.encode(" ok", add_special_tokens=False)
    result = target.verify(context, draft)
    assert [p.token_id for p in result.draft_scores] == draft
