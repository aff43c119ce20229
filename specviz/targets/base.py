"""The target interface: what the engine asks a target model, and what it gets back.

A *target* is the model whose distribution the output must follow. The engine drives every
round the same way:

0. ``target.connect()`` once, before ``run_started`` (a remote target probes its server
   here; nothing else a target does touches the network until ``score``). Only after it
   are ``capability`` and ``model_name`` known.
1. ``target.prefill(prompt_ids)`` once, before the first round (timed as prefill).
2. Per round, the drafter proposes ``draft`` (0..K token ids) after ``context`` (prompt ids
   plus every output id so far), then the engine calls
   ``target.score(context, draft, request) -> Scores`` exactly once.
3. The engine decides (accept / reject / resample / bonus) from the returned ``Scores`` and
   appends the result to its own context. The target is told nothing else: the next call's
   ``context`` is the truth. A stateful (local) target keeps a KV cache for the longest
   common prefix of the ids it has seen and the new context, trims the rest
   (``mlx_lm.models.cache.trim_prompt_cache``) and feeds only the new suffix, so a
   rejection never recomputes anything from scratch. A stateless (remote) target sends the
   whole context every call.

Token ids are the only currency. Every id is an id of the target's tokenizer, which the
drafter shares (the engine checks the vocabulary before a run). Remote targets map server
tokens back to these ids and refuse what they cannot map.

What a target can provide (its ``capability``) decides the acceptance rule the engine uses;
``RULE_FOR_CAPABILITY`` below is the one place that says which, and it is recorded in
``RunStarted.acceptance_rule``:

================  ==========================  ===============================================
``capability``    ``Scores`` fields filled    rule
================  ==========================  ===============================================
``"full"``        ``logits``                  ``rejection-sampling`` (exact Leviathan)
``"topk"``        ``draft_logprobs``, ``top``, ``rejection-sampling-topk`` (acceptance exact at
                  optionally ``generated``    temperature 1, residual approximated over the
                                              known tokens; ``verify`` events say
                                              ``exact=False``)
``"generate"``    ``generated``, ``top``,     ``exact-match``: accept while ``draft[i] ==
                  ``generated_logprobs``      generated[i]``; the first divergence is a
                                              rejection whose replacement is
                                              ``generated[i]``. Later positions were never
                                              scored and are never recorded.
================  ==========================  ===============================================

All logprobs a target returns are the model's RAW log-probabilities (temperature 1, before
top-p / top-k); the engine applies the run's sampling transform itself, to the target's and
the drafter's numbers alike, so p and q are always compared under the same transform.
(``generated`` tokens are the exception by nature: the server sampled them with the
``SamplingParams`` in the request, which is what makes exact-match distribution-preserving.)

Errors and retries
------------------
* A transient failure (timeout, HTTP 429, 5xx, connection reset) that the target retries
  must be reported through ``request.emit(Error(where="target", retryable=True,
  attempt=attempt, round=request.round, message=...))`` before sleeping; the engine logs
  it to the run's recording as it is and carries on.
* When the target gives up, or a reply is malformed or inconsistent (wrong number of
  positions, a sampled token absent from its own alternatives, a logprob that disagrees
  with its top-k entry, an unmappable token), it raises ``specviz.targets.base.TargetError``
  (or a subclass; ``specviz.targets.errors`` defines the remote ones). The engine records
  ``Error(where="target", retryable=False, message=str(exc))`` and ends the run as
  ``failed`` (finish_reason ``"error"``), keeping every event logged before. Messages are
  shown to the user as-is and must never contain an API key.
* Any other exception is a bug: it is recorded the same way and re-raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from specviz.errors import SpecvizError
from specviz.events import AcceptanceRule, Error
from specviz.sampling_params import SamplingParams

Capability = Literal["full", "topk", "generate"]

RULE_FOR_CAPABILITY: dict[str, AcceptanceRule] = {
    "full": "rejection-sampling",
    "topk": "rejection-sampling-topk",
    "generate": "exact-match",
}

# Receives Error events (retries) to log in the run's recording.
Emit = Callable[[Error], None]


class TargetError(SpecvizError):
    """A target spec is wrong, or the target cannot be reached or trusted; user-facing.

    Raised while scoring, it ends the run as ``failed`` (see "Errors and retries")."""


def _drop(event: Error) -> None:
    return None


@dataclass
class ScoreRequest:
    """Everything about one ``score`` call besides the tokens."""

    round: int  # 0-based round index (for error messages and Error events)
    sampling: SamplingParams  # what a generating target must sample with
    n_top: int = 5  # alternatives per position wanted for the trace (0 = none)
    emit: Emit = _drop


@dataclass
class Scores:
    """A target's verdict material for one round with ``K = len(draft)``.

    Position ``i`` (0 <= i <= K) is the next-token distribution after ``context + draft[:i]``;
    position K is the bonus position. A target fills the fields of its ``capability``:

    full
        ``logits``: array of shape (K+1, V), raw logits (an ``mx.array`` or ``np.ndarray``).
    topk
        ``draft_logprobs``: K raw ``log p(draft[i])`` (from scoring the drafts as prompt,
        e.g. ``echo``); ``top``: K+1 lists of ``(token_id, raw logprob)``, best first, at
        least one entry each (the more, the better the residual approximation);
        optionally ``generated=[t]`` with the token the server sampled at position K (the
        bonus; the engine samples from ``top[K]`` itself when absent).
    generate
        ``generated``: the target's own continuation after ``context``, sampled with
        ``request.sampling``: K+1 ids, or fewer when it stopped at EOS (then the last id
        is the EOS) or at the server's length limit; ``generated_logprobs`` (same length,
        raw log p of each, None where unknown) and ``top`` (same length, may be empty
        lists). The target may not look at ``draft`` at all.

    ``inexact_reason``: non-empty when the target knows its numbers for this round are not
    the model's at ``context + draft`` (e.g. a server re-tokenised the context); the engine
    then marks every verdict of the round ``exact = false`` with this reason.
    ``inexact_positions``: the same for single positions (e.g. tokens a server sampled
    with settings of its own).
    """

    logits: Any = None
    draft_logprobs: list[float] | None = None
    top: list[list[tuple[int, float]]] | None = None
    generated: list[int] | None = None
    generated_logprobs: list[float | None] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # free-form diagnostics, not recorded
    inexact_reason: str = ""
    inexact_positions: dict[int, str] = field(default_factory=dict)


@runtime_checkable
class Target(Protocol):
    """A model that scores drafts. Implementations: ``specviz.targets.local.LocalTarget``
    (in process) and ``specviz.targets.openai_target.OpenAITarget`` (a server); each kind is
    registered in ``specviz.targets.registry``. ``BaseTarget`` supplies the defaults."""

    spec: str  # as the user gave it, minus any secret: "bundled", "mlx:<path>", "openai:<url>"
    model_name: str  # resolved name recorded as RunStarted.target_model (after connect)
    capability: Capability  # after connect
    tokenizer: Any  # mlx_lm TokenizerWrapper (or HF tokenizer) of the shared vocabulary
    vocab_size: int  # number of ids the drafter's distributions may cover
    eos_token_ids: set[int]

    def connect(self, emit: Emit | None = None) -> None:
        """Find out what the target can do (a remote target probes its server, once)."""
        ...

    def request_params(self, sampling: SamplingParams) -> tuple[dict[str, str], list[str]]:
        """(every sampling parameter sent per request, the ones the target ignores), for
        ``RunStarted.target_params`` / ``target_ignored``; ({}, []) in process."""
        ...

    def prefill(self, prompt_ids: list[int]) -> None:
        """Prepare for a new run whose context starts with ``prompt_ids`` (local: fill the
        KV cache with all but the last prompt token; remote: nothing)."""
        ...

    def score(self, context: list[int], draft: list[int], request: ScoreRequest) -> Scores:
        """Score ``draft`` after ``context`` (see the class docs). Raises ``TargetError``."""
        ...

    def close(self) -> None:
        """Release connections; the engine calls it when the target is no longer needed."""
        ...


class BaseTarget:
    """Defaults for a ``Target`` that needs no connecting, sends no parameters and holds
    nothing to release; a new kind of target subclasses it and writes ``score``."""

    capability: Capability = "full"

    def connect(self, emit: Emit | None = None) -> None:
        return None

    def request_params(self, sampling: SamplingParams) -> tuple[dict[str, str], list[str]]:
        return {}, []

    def prefill(self, prompt_ids: list[int]) -> None:
        return None

    def close(self) -> None:
        return None

    @property
    def acceptance_rule(self) -> AcceptanceRule:
        return RULE_FOR_CAPABILITY[self.capability]


__all__ = [
    "Capability",
    "RULE_FOR_CAPABILITY",
    "Emit",
    "SamplingParams",
    "ScoreRequest",
    "Scores",
    "Target",
    "BaseTarget",
    "TargetError",
]
