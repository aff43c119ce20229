"""``openai:<base URL>``: a target that verifies on an OpenAI-compatible ``/v1/completions`` server.

Token ids stay the source of truth: the engine hands over the context and draft as ids of
the shared vocabulary, and every token the server returns is mapped back to an id and
checked (``logprob_checks``) before the engine sees it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from specviz.events import Error
from specviz.models.loading import load_mlx
from specviz.targets.base import BaseTarget, Capability, Emit, Scores, ScoreRequest, TargetError
from specviz.sampling_params import SamplingParams
from specviz.targets.capabilities import ARGMAX_TOL, Capabilities, TargetOptions, describe, first_choice, probe
from specviz.targets.errors import InconsistentLogprobs
from specviz.targets.logprob_checks import Position, check_echoed, check_generated
from specviz.targets.neutral_sampling import SamplingDialect
from specviz.targets.secrets import api_key_from_env, safe_url
from specviz.targets.token_map import TokenMapper
from specviz.targets.transport import CompletionsClient, RetryHook

# mlx_lm.server's name for the model it was started with.
MLX_DEFAULT_MODEL = "default_model"


@dataclass(frozen=True)
class RemoteVerification:
    """What one verify call learned. Positions are relative to the round's first draft token.

    ``draft_scores``: rejection-sampling-topk only: p(draft token i) and the top-k at
    position i, for every draft token. ``target_tokens``: tokens the server sampled itself:
    the bonus candidate at position K when scoring; its own continuation from position 0
    under exact-match, where position i is scored only if the draft matched before it.
    """

    capability: Capability
    draft_scores: tuple[Position, ...]
    target_tokens: tuple[Position, ...]
    stopped: bool  # the server ended its continuation (EOS) before max_tokens
    verify_ms: float
    # Why this round's numbers are not the model's at context + draft (the server read
    # another context), and why the tokens the server sampled itself may not follow the
    # model's distribution; "" when there is no such doubt.
    context_reason: str = ""
    sampled_reason: str = ""

    def matched_prefix(self, draft_ids: list[int]) -> int:
        """Exact-match: how many leading draft tokens equal the target's own tokens."""
        n = 0
        for drafted, target in zip(draft_ids, self.target_tokens):
            if drafted != target.token_id:
                break
            n += 1
        return n

    def tested(self, draft_ids: list[int]) -> int:
        """Draft positions the target actually scored (the ``tested`` count)."""
        if self.capability == "topk":
            return len(self.draft_scores)
        # Up to and including the first divergence; a target that stopped early scored no further.
        return min(len(draft_ids), self.matched_prefix(draft_ids) + 1, len(self.target_tokens))


class OpenAITarget(BaseTarget):
    """Verifies rounds on a remote server; see README.md, "Targets", for servers and modes.

    Implements ``specviz.targets.base.Target`` on top of its own ``verify``, which returns
    checked ``Position`` records. Nothing touches the network before ``connect()``.
    """

    def __init__(
        self,
        base_url: str,
        tokenizer: Any,
        *,
        model: str | None = None,
        options: TargetOptions = TargetOptions(),
        api_key: str | None = None,
        eos_token_ids: set[int] | frozenset[int] = frozenset(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = safe_url(base_url)
        self.options = options
        self.tokenizer = tokenizer
        self.mapper = TokenMapper(tokenizer)
        self.client = CompletionsClient(base_url, api_key or api_key_from_env(), options.retry, sleep=sleep)
        self._model = model  # None: asked of the server by connect()
        eos = set(eos_token_ids) | set(getattr(tokenizer, "eos_token_ids", None) or ())
        if getattr(tokenizer, "eos_token_id", None) is not None:
            eos.add(tokenizer.eos_token_id)
        self.eos_ids = frozenset(eos)
        self.bos_id: int | None = getattr(tokenizer, "bos_token_id", None)
        # Servers tokenize a text prompt the way this tokenizer does, BOS included if it adds one.
        self._adds_bos = self.bos_id is not None and self.mapper.encode_with_specials("a")[:1] == [self.bos_id]
        self.capabilities: Capabilities | None = None
        self.dialect = SamplingDialect()  # the neutral sampling parameters the server accepts

    @property
    def spec(self) -> str:
        return f"openai:{self.base_url}"

    # -- specviz.targets.base.Target ------------------------------------------------------

    @property
    def model(self) -> str:
        """The model name sent with every request; asked of the server by ``connect``."""
        return self._model or ""

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def capability(self) -> Capability:
        return self._connected().capability

    @property
    def vocab_size(self) -> int:
        return self.mapper.size

    @property
    def eos_token_ids(self) -> set[int]:
        return set(self.eos_ids)

    def score(self, context: list[int], draft: list[int], request: ScoreRequest) -> Scores:
        sampling = request.sampling
        result = self.verify(
            context, draft, temperature=sampling.temperature, top_p=sampling.top_p,
            top_k=sampling.top_k, seed=sampling.seed, round=request.round, emit=request.emit,
        )
        info = {"verify_ms": result.verify_ms, "stopped": result.stopped, "how": self.describe()}
        # The server sampled the bonus (topk) or every token (generate) itself.
        sampled = range(len(draft), len(draft) + 1) if result.capability == "topk" else range(len(draft) + 1)
        reasons = {"inexact_reason": result.context_reason,
                   "inexact_positions": dict.fromkeys(sampled, result.sampled_reason) if result.sampled_reason else {}}
        if result.capability == "topk":
            positions = list(result.draft_scores) + list(result.target_tokens[:1])
            return Scores(
                draft_logprobs=[p.logprob for p in result.draft_scores],
                # An empty bonus list happens only when the server stopped at position K
                # without naming its EOS; generated then carries the EOS decision.
                top=[_top(p) for p in positions] + ([] if result.target_tokens else [[]]),
                generated=[p.token_id for p in result.target_tokens] or [min(self.eos_ids)],
                info=info, **reasons,
            )
        return Scores(
            generated=[p.token_id for p in result.target_tokens],
            generated_logprobs=[p.logprob for p in result.target_tokens],
            top=[_top(p) for p in result.target_tokens],
            info=info, **reasons,
        )

    def close(self) -> None:
        self.client.close()

    def connect(self, emit: Emit | None = None) -> Capabilities:
        """Ask the server its model name (unless given) and probe it, once; before
        run_started, whose acceptance_rule depends on what the probe finds."""
        if self._model is None:
            # A server that lists exactly one model serves that one (vLLM, llama.cpp); else
            # mlx_lm.server's name for the model it was started with.
            listed = self.client.list_models()
            self._model = listed[0] if len(listed) == 1 else MLX_DEFAULT_MODEL
        if self.capabilities is None:
            self.capabilities = probe(
                self.client, self.model, self.mapper, self.options,
                bos_id=self.bos_id, eos_ids=self.eos_ids, on_retry=_hook(emit, None), dialect=self.dialect,
            )
        return self.capabilities

    def request_params(self, sampling: SamplingParams) -> tuple[dict[str, str], list[str]]:
        return self.dialect.record(sampling), list(self.dialect.ignored)

    def _connected(self) -> Capabilities:
        if self.capabilities is None:
            raise RuntimeError("OpenAITarget.connect() must be called before the target is used")
        return self.capabilities

    def describe(self) -> str:
        return describe(self._connected())

    def verify(
        self,
        context_ids: list[int],
        draft_ids: list[int],
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        round: int = 0,
        emit: Emit | None = None,
    ) -> RemoteVerification:
        caps = self.connect(emit)
        sampling = SamplingParams(temperature, top_p, top_k, seed)
        params: dict[str, Any] = {"model": self.model, "temperature": temperature, "top_p": top_p,
                                  "extra_body": self.dialect.request(sampling)}
        if seed is not None:
            # A different seed per round: one fixed seed would correlate every round's samples.
            params["seed"] = (seed + round) % 2**31
        start = time.perf_counter()
        try:
            call = self._score if caps.scores_prompt else self._generate
            scores, targets, stopped = call(caps, context_ids, draft_ids, params, _hook(emit, round))
        except TargetError as exc:
            exc.args = (f"round {round}: {exc}",)  # the engine shows this message as it is
            raise
        # (Echo scoring of a text prompt has already failed its alignment check if the text
        # read back differently.)
        context_reason = "" if caps.prompt_as_ids else self._retokenised(context_ids)
        return RemoteVerification(caps.capability, scores, targets, stopped, (time.perf_counter() - start) * 1e3,
                                  context_reason, self._sampled_reason(targets, sampling))

    def _retokenised(self, ids: list[int]) -> str:
        """Why the server, reading ``ids`` as text, sees another context ("" if it does not)."""
        sent = ids[1:] if self._adds_bos and ids[:1] == [self.bos_id] else ids
        read = self.mapper.encode(self._as_text(ids))
        if read == sent:
            return ""
        at = next((i for i, (a, b) in enumerate(zip(sent, read)) if a != b), min(len(sent), len(read)))
        return (f"the server re-tokenises the context text: {len(sent)} ids are read as {len(read)} "
                f"(first difference at context position {at}: {[self.mapper.piece(t) for t in sent[at:at + 2]]!r} "
                f"read as {[self.mapper.piece(t) for t in read[at:at + 2]]!r}), so it scored another context")

    def _sampled_reason(self, positions: tuple[Position, ...], sampling: SamplingParams) -> str:
        """Why the tokens the server sampled itself may not follow the model ("" if no doubt)."""
        if sampling.greedy:
            for i, p in enumerate(positions):
                if p.top and p.logprob is not None and p.logprob < p.top[0].logprob - ARGMAX_TOL:
                    return (f"greedy, yet the server chose {self.mapper.piece(p.token_id)!r} at position {i} over "
                            f"its own top choice {p.top[0].text!r}: it applies sampling settings of its own")
            return ""
        if self.dialect.ignored:
            return (f"the server refused {', '.join(self.dialect.ignored)} set to off, so its own defaults for "
                    "them may shape the tokens it samples")
        return ""

    def _as_text(self, ids: list[int]) -> str:
        """A text prompt the server re-tokenizes to ``ids`` (as nearly as text can say it):
        without our BOS where the server's tokenizer puts its own, so it is not doubled."""
        if self._adds_bos and ids[:1] == [self.bos_id]:
            ids = ids[1:]
        return self.mapper.decode(ids)

    def _score(self, caps: Capabilities, context: list[int], draft: list[int], params: dict[str, Any],
               hook: RetryHook | None) -> tuple[tuple[Position, ...], tuple[Position, ...], bool]:
        ids = context + draft
        request = caps.score_params(ids if caps.prompt_as_ids else self._as_text(ids))
        body = self.client.create(hook, **_merge(request, params))
        prompt, generated = check_echoed(
            first_choice(body), self.mapper, prompt_ids=ids, bos_id=self.bos_id, draft_start=len(context),
            eos_ids=self.eos_ids,
        )
        return tuple(prompt[len(context):]), tuple(generated), not generated

    def _generate(self, caps: Capabilities, context: list[int], draft: list[int], params: dict[str, Any],
                  hook: RetryHook | None) -> tuple[tuple[Position, ...], tuple[Position, ...], bool]:
        wanted = len(draft) + 1
        request = caps.generate_params(self._as_text(context), wanted)
        choice = first_choice(self.client.create(hook, **_merge(request, params)))
        positions = check_generated(choice, self.mapper, max_tokens=request["max_tokens"], eos_ids=self.eos_ids)
        if not positions:
            # End of text right away, and the server (llama.cpp) left its EOS out of the logprobs.
            return (), (self._eos_position(),), True
        targets = tuple(positions[:wanted])  # overshoot tokens are not used
        if targets[-1].token_id in self.eos_ids:
            return (), targets, True
        if choice.get("finish_reason") != "length" and len(positions) < wanted and self.eos_ids:
            # The server stopped but left its EOS out: stopping is the target's decision at
            # the next position, recorded as its EOS token (logprob unknown).
            return (), targets + (self._eos_position(),), True
        return (), targets, False

    def _eos_position(self) -> Position:
        """The EOS a server stopped at without naming it (logprob unknown)."""
        if not self.eos_ids:
            raise InconsistentLogprobs("the server stopped without naming its end-of-text token, and the "
                                       "tokenizer has none to record (pass --eos-token-id)")
        return Position(min(self.eos_ids), None)


def build(spec: Any, context: Any) -> OpenAITarget:
    """The registry's builder for ``openai:<base URL>``; the shared vocabulary is loaded from
    ``context.tokenizer_source``."""
    _, tokenizer, _ = load_mlx(context.tokenizer_source)
    options = context.options if isinstance(context.options, TargetOptions) else TargetOptions()
    return OpenAITarget(spec.source, tokenizer, model=context.target_model, options=options)


def _top(position: Position) -> list[tuple[int, float]]:
    return [(t.id, t.logprob) for t in position.top]


def _merge(request: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Request shape plus sampling parameters, with both ``extra_body`` dicts kept."""
    extra = {**request.get("extra_body", {}), **params.get("extra_body", {})}
    merged = {**request, **params}
    if extra:
        merged["extra_body"] = extra
    return merged


def _hook(emit: Emit | None, round: int | None) -> RetryHook | None:
    """Each retry becomes an ``error`` event (retryable) through the engine's emitter."""
    if emit is None:
        return None

    def on_retry(attempt: int, message: str, delay: float) -> None:
        emit(Error(where="target", message=f"{message}; retrying in {delay:.1f}s",
                   retryable=True, attempt=attempt, round=round))

    return on_retry
