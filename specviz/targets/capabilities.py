"""What a completions server can do, found by probing it once, and the request shapes that follow.

Servers differ in two ways that decide the acceptance rule:

* ``echo`` with prompt logprobs (vLLM, SGLang, OpenAI's legacy models): the draft tokens go
  in as part of the prompt with ``max_tokens=1``, so one call scores every draft token:
  p(draft token) plus the top-k at each position, and the server samples the bonus token.
  Rule ``rejection-sampling-topk``.
* no ``echo`` (mlx_lm.server, Cerebras): the server generates its own K+1 tokens and the
  engine accepts draft tokens while they equal them. Rule ``exact-match``.

And in how logprobs are asked for: an integer ``logprobs=N`` (legacy) or a boolean
``logprobs`` plus ``top_logprobs=N`` (mlx_lm.server, at most 11).

``auto`` tries scoring first (token-id prompt, then text), then legacy generation, then
boolean generation, and keeps the first whose reply passes every consistency check. A
reply that fails a check counts as "not supported", so a server that shifts its echoed
logprobs (llama.cpp's Python server) is used in exact-match mode rather than trusted.

Every probe request states the neutral sampling parameters (``neutral_sampling``), after one
plain request has learnt which of them the server refuses; the chosen way must then decode
greedily (each token its own argmax) on a prompt where a repetition penalty would show.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from specviz.sampling_params import SamplingParams
from specviz.targets.base import Capability
from specviz.targets.errors import InconsistentLogprobs, MalformedResponse, TargetError, TargetUnavailable
from specviz.targets.logprob_checks import check_echoed, check_generated
from specviz.targets.neutral_sampling import SamplingDialect
from specviz.targets.token_map import TokenMapper
from specviz.targets.transport import CompletionsClient, RetryHook, RetryPolicy

Mode = Literal["auto", "score", "generate"]
Style = Literal["auto", "legacy", "bool"]

# mlx_lm.server rejects top_logprobs above 11; OpenAI's legacy models allow 5, vLLM 20.
BOOL_MAX_TOP = 11
LEGACY_DEFAULT_TOP = 5
# A reply status that means "this server will not do this", not "this server is broken".
_UNSUPPORTED = {400, 404, 405, 415, 422, 501}
# Prompt-processing and generation kernels differ a little in rounding (batched vs one row);
# an echo off by a position differs by nats, not hundredths.
ECHO_TOL = 0.1
# A plain sentence tokenizes the same way everywhere, and a few tokens keep the probe cheap.
PROBE_TEXT = "The capital of France is Paris. The capital of Italy is"
# Greedy continues the pattern; any repetition penalty breaks it (see _check_greedy_is_argmax).
REPEAT_TEXT = "one two three one two three one two three one two three"
GREEDY_CHECK_TOKENS = 10  # enough for a repeat even where the prompt has none (the test fake)
GREEDY = SamplingParams()
# Logprobs are float32 on the wire and rounded; a tie within this is still an argmax.
ARGMAX_TOL = 1e-4


@dataclass(frozen=True)
class TargetOptions:
    """How to talk to the server; ``auto`` everywhere means: probe and pick."""

    mode: Mode = "auto"
    style: Style = "auto"
    top_logprobs: int | None = None  # None: 5 (legacy) / 0 (bool, see mlx_lm.server quirk)
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class Capabilities:
    scores_prompt: bool  # echo + prompt logprobs usable: rule rejection-sampling-topk
    style: Literal["legacy", "bool"]
    top_logprobs: int
    prompt_as_ids: bool = False  # the server takes the prompt as token ids (no re-tokenizing)
    # Extra tokens asked for beyond K+1 and dropped unread. mlx_lm.server 0.32 caches each
    # reply under prompt + generated ids and its generation thread dies ("empty prompt")
    # when a later prompt equals a cached key exactly, which is what the next round sends
    # after a fully accepted one; one more generated token keeps every key longer.
    overshoot: int = 0

    @property
    def capability(self) -> Capability:
        """What the engine gets (its acceptance rule: ``base.RULE_FOR_CAPABILITY``)."""
        return "topk" if self.scores_prompt else "generate"

    def _logprob_params(self) -> dict[str, Any]:
        if self.style == "legacy":
            return {"logprobs": self.top_logprobs}
        return {"logprobs": True, "extra_body": {"top_logprobs": self.top_logprobs}}

    def score_params(self, prompt: list[int] | str) -> dict[str, Any]:
        return {"prompt": prompt, "echo": True, "max_tokens": 1, **self._logprob_params()}

    def generate_params(self, prompt: list[int] | str, max_tokens: int) -> dict[str, Any]:
        return {"prompt": prompt, "max_tokens": max_tokens + self.overshoot, **self._logprob_params()}


def _candidates(options: TargetOptions) -> list[Capabilities]:
    legacy_top = LEGACY_DEFAULT_TOP if options.top_logprobs is None else options.top_logprobs
    bool_top = 0 if options.top_logprobs is None else min(options.top_logprobs, BOOL_MAX_TOP)
    found: list[Capabilities] = []
    if options.mode in ("auto", "score") and options.style in ("auto", "legacy"):
        scoring = Capabilities(scores_prompt=True, style="legacy", top_logprobs=max(legacy_top, 1))
        found += [replace(scoring, prompt_as_ids=True), scoring]
    if options.mode in ("auto", "generate"):
        if options.style in ("auto", "legacy"):
            found.append(Capabilities(scores_prompt=False, style="legacy", top_logprobs=legacy_top))
        if options.style in ("auto", "bool"):
            found.append(Capabilities(scores_prompt=False, style="bool", top_logprobs=bool_top, overshoot=1))
    return found


def _create(client: CompletionsClient, on_retry: RetryHook | None, dialect: SamplingDialect,
            **params: Any) -> dict[str, Any]:
    """A greedy probe request stating every neutral sampling parameter."""
    extra = {**dialect.request(GREEDY), **params.pop("extra_body", {})}
    return client.create(on_retry, probing=True, temperature=0.0, extra_body=extra, **params)


def negotiate(client: CompletionsClient, model: str, dialect: SamplingDialect, on_retry: RetryHook | None) -> None:
    """Drop the neutral parameters a strict server refuses (see ``neutral_sampling``)."""
    for _ in range(len(dialect.neutral) + 2):
        try:
            _create(client, on_retry, dialect, model=model, prompt=PROBE_TEXT, max_tokens=1)
            return
        except TargetUnavailable as exc:
            if not dialect.refused(exc.status, str(exc)):
                return  # not about parameters: the ways tried next say what is wrong


def probe(
    client: CompletionsClient,
    model: str,
    mapper: TokenMapper,
    options: TargetOptions = TargetOptions(),
    *,
    bos_id: int | None = None,
    eos_ids: frozenset[int] = frozenset(),
    on_retry: RetryHook | None = None,
    dialect: SamplingDialect | None = None,
) -> Capabilities:
    """The first candidate whose reply to a small greedy request passes every check, on a
    server that decodes greedily once told every neutral parameter (else ``TargetError``).
    ``dialect`` (changed in place) learns which neutral parameters the server refuses."""
    dialect = dialect if dialect is not None else SamplingDialect()
    negotiate(client, model, dialect, on_retry)
    ids = mapper.encode(PROBE_TEXT)
    tried: list[str] = []
    for caps in _candidates(options):
        prompt: list[int] | str = ids if caps.prompt_as_ids else PROBE_TEXT
        try:
            if caps.scores_prompt:
                _check_echo_against_generation(client, model, mapper, caps, ids, bos_id, eos_ids, on_retry, dialect)
            else:
                body = _create(client, on_retry, dialect, model=model, **caps.generate_params(prompt, 4))
                check_generated(first_choice(body), mapper, max_tokens=4 + caps.overshoot, eos_ids=eos_ids)
        except TargetUnavailable as exc:
            # A server that answers (even 500: llama-cpp-python for a token-id prompt) just
            # does not do this; no answer, 401/403 or 429 would not change for another way.
            if exc.status not in _UNSUPPORTED and not (exc.status or 0) >= 500:
                raise
            tried.append(f"{describe(caps)}: {exc}")
            continue
        except TargetError as exc:
            tried.append(f"{describe(caps)}: {exc}")
            continue
        _check_greedy_is_argmax(client, model, mapper, caps, eos_ids, on_retry, dialect)
        return caps
    raise TargetError(
        f"{client.base_url} supports none of the ways specviz verifies with (mode={options.mode}, "
        f"style={options.style}):\n  " + "\n  ".join(tried)
    )


def _check_greedy_is_argmax(
    client: CompletionsClient, model: str, mapper: TokenMapper, caps: Capabilities, eos_ids: frozenset[int],
    on_retry: RetryHook | None, dialect: SamplingDialect,
) -> None:
    """A greedy reply must pick, at every position, the server's own most likely token.

    A repetitive prompt is where a repetition penalty shows: llama.cpp's default 1.1 turns
    greedy " one" into " four" here while its logprobs still rank " one" first."""
    asking = replace(caps, scores_prompt=False, top_logprobs=max(caps.top_logprobs, 2), overshoot=0)
    prompt = mapper.encode(REPEAT_TEXT) if caps.prompt_as_ids else REPEAT_TEXT
    body = _create(client, on_retry, dialect, model=model, **asking.generate_params(prompt, GREEDY_CHECK_TOKENS))
    positions = check_generated(first_choice(body), mapper, max_tokens=GREEDY_CHECK_TOKENS, eos_ids=eos_ids)
    for i, position in enumerate(positions):
        if position.top and position.logprob is not None and position.logprob < position.top[0].logprob - ARGMAX_TOL:
            ignored = f" (it refused {', '.join(dialect.ignored)})" if dialect.ignored else ""
            raise TargetError(
                f"{client.base_url} does not decode greedily with every sampling parameter set to off{ignored}: "
                f"at position {i} after {REPEAT_TEXT!r} it chose {mapper.piece(position.token_id)!r} "
                f"(logprob {position.logprob:.3f}) over its own top choice {position.top[0].text!r} "
                f"({position.top[0].logprob:.3f}); it applies a repetition penalty or other sampling of its own, "
                "so its tokens are not its model's"
            )


def _check_echo_against_generation(
    client: CompletionsClient, model: str, mapper: TokenMapper, caps: Capabilities, ids: list[int],
    bos_id: int | None, eos_ids: frozenset[int], on_retry: RetryHook | None, dialect: SamplingDialect,
) -> None:
    """Echoed prompt logprobs must be the ones the server reports when it generates.

    llama-cpp-python's server echoes at each prompt position the distribution of the *next*
    position, with the token's logprob looked up in it: self-consistent, plausible-looking and
    wrong. So the probe generates one greedy token, echoes the prompt with that token
    appended, and requires both to give it the same logprob.
    """
    generating = replace(caps, scores_prompt=False)
    body = _create(client, on_retry, dialect, model=model, **generating.generate_params(
        ids if caps.prompt_as_ids else PROBE_TEXT, 1))
    [token] = check_generated(first_choice(body), mapper, max_tokens=1, eos_ids=eos_ids)
    scored = ids + [token.token_id]
    body = _create(client, on_retry, dialect, model=model, **caps.score_params(
        scored if caps.prompt_as_ids else mapper.decode(scored)))
    prompt, generated = check_echoed(first_choice(body), mapper, prompt_ids=scored, bos_id=bos_id,
                                     draft_start=len(ids), eos_ids=eos_ids)
    if not generated:
        raise TargetError("the echo reply has no generated token")
    echoed = prompt[-1].logprob
    if echoed is None or token.logprob is None or abs(echoed - token.logprob) > ECHO_TOL:
        raise InconsistentLogprobs(
            f"echoed prompt logprobs disagree with generated ones: {mapper.piece(token.token_id)!r} "
            f"has logprob {token.logprob} when generated but {echoed} when echoed (shifted by a position?)"
        )


def describe(caps: Capabilities) -> str:
    how = "echo scoring" if caps.scores_prompt else "generation"
    prompt = " of token ids" if caps.prompt_as_ids else ""
    return f"{how}{prompt}, {caps.style} logprobs, top {caps.top_logprobs}"


def first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("the reply has no choices")
    return choices[0]
