"""The event model: every step of a speculative decoding run as one msgspec record.

A trace is the ordered list of these events for one run. Everything else (Parquet files,
SQL views, the viewer's state at a scrub position) is derived from it.

Schema evolution (msgspec's rules): new fields get defaults, nothing is renamed or
retyped. Additive changes bump the minor version; a reader refuses a newer *major*.
"""

from __future__ import annotations

from typing import Literal, Union

import msgspec

SCHEMA_VERSION = "1.1"
SCHEMA_MAJOR = int(SCHEMA_VERSION.split(".")[0])

TokenStatus = Literal["accepted", "rejected", "resampled", "bonus"]
RunStatus = Literal["completed", "failed", "interrupted"]
Method = Literal["speculative", "autoregressive", "mlx-lm"]

# How a verify decision was made; recorded in run_started so SQL can tell runs apart.
#   rejection-sampling       exact Leviathan rule over full target/draft distributions
#   rejection-sampling-topk  Leviathan rule with the target known only through top-k logprobs
#   exact-match              target generated its own continuation; accept while equal
#   none                     no verification (autoregressive: every token is the target's own)
AcceptanceRule = Literal["rejection-sampling", "rejection-sampling-topk", "exact-match", "none"]


class TopToken(msgspec.Struct, frozen=True, array_like=True):
    """One alternative from a model's top-k at a position."""

    id: int
    text: str
    logprob: float


class Event(msgspec.Struct, tag_field="kind", kw_only=True, omit_defaults=True):
    """Fields every event carries. The recorder fills seq and both clocks when left at 0."""

    run_id: str = ""
    seq: int = 0  # gap-free per run, from 0
    t_mono_ns: int = 0  # time.monotonic_ns(): durations and ordering within a process
    t_wall_ns: int = 0  # time.time_ns(): when, for people and cross-run ordering


class RunStarted(Event, tag="run_started"):
    """The full configuration of a run. Never holds an API key or any other secret."""

    prompt: str
    prompt_text: str = ""  # the chat-templated text actually fed to the models
    prompt_token_ids: list[int] = []
    drafter: str = ""  # spec as given: "ngram:3", "layerskip:8", "mlx:<repo>", "none"
    target: str = ""  # spec as given: "bundled", "mlx:<repo>", "openai:<base url>"
    target_model: str = ""  # resolved model name (e.g. server-side model id)
    draft_model: str = ""
    k: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    max_tokens: int = 0
    seed: int | None = None
    method: Method = "speculative"
    acceptance_rule: AcceptanceRule = "rejection-sampling"
    eos_token_ids: list[int] = []
    versions: dict[str, str] = {}  # library versions: specviz, mlx, mlx-lm, ...
    host: str = ""
    tags: dict[str, str] = {}
    schema_version: str = SCHEMA_VERSION
    # 1.1 (all additive):
    k_policy: str = ""  # "" or "fixed": k every round; "auto": chosen per round (RoundMetrics.k)
    adapter: str = ""  # LoRA adapter directory applied to the drafter, if any
    adapter_hash: str = ""  # content hash of that adapter's weights
    target_params: dict[str, str] = {}  # every sampling parameter sent to a remote target
    target_ignored: list[str] = []  # parameters the remote target was found to ignore
    # 1.1: what the verify events' target logprobs are: "softmax(logits/T)" (T = 1 when greedy),
    # or, for a remote target at another temperature, converted where bounded else in *_raw
    target_logprob_scale: str = ""


class DraftToken(Event, tag="draft_token"):
    """One token proposed by the drafter."""

    round: int
    position: int  # 0-based within the round
    token_id: int
    token_text: str = ""
    logprob: float | None = None  # log q(x); None for drafters without a distribution
    entropy: float | None = None  # nats
    top: list[TopToken] = []
    draft_ms: float = 0.0  # time to draft this token
    # 1.1:
    ngram_n: int | None = None  # n-gram drafters: order of the n-gram that matched
    source_pos: int | None = None  # n-gram drafters: context index the token was copied from
    draft_source: str = ""  # how the drafter chose it, e.g. "ngram", "filler" (drafter-specific)


class Verify(Event, tag="verify"):
    """The verdict at one position of a round.

    A rejection emits two events at the same position: ``rejected`` (the draft token, with
    the replacement in token_id) then ``resampled`` (the replacement). ``bonus`` is the
    extra token after all drafts pass; in autoregressive runs every token is a ``bonus``
    (K = 0). Positions after a rejection were never decided and get no verify event.
    """

    round: int
    position: int
    status: TokenStatus
    token_id: int  # the final token at this position
    token_text: str = ""
    draft_token_id: int | None = None  # None for bonus
    draft_token_text: str = ""
    draft_logprob: float | None = None  # log q(draft token)
    target_logprob: float | None = None  # log p(draft token) (or of token_id for bonus)
    final_logprob: float | None = None  # log p(token_id)
    acceptance_prob: float | None = None  # min(1, p/q)
    target_entropy: float | None = None
    top: list[TopToken] = []  # target's top-k at this position
    u: float | None = None  # the uniform draw compared with acceptance_prob
    exact: bool = True  # False: p came from top-k only (residual approximated)
    # 1.1: probabilities under the run's sampling transform (temperature, top-k, top-p)
    target_p: float | None = None  # p(draft token), or p(token_id) for bonus
    draft_q: float | None = None  # q(draft token)
    overlap: float | None = None  # sum_x min(p(x), q(x)) where both distributions are full
    residual_mass: float | None = None  # sum_x max(0, p(x) - q(x)) (= 1 - overlap)
    inexact_reason: str = ""  # why exact is False
    # 1.1: a remote target's numbers that could not be put on the run's temperature scale
    # (RunStarted.target_logprob_scale says when): the server's own log softmax(logits), T = 1.
    # The matching target_logprob / final_logprob / top are then null / empty.
    target_logprob_raw: float | None = None
    final_logprob_raw: float | None = None
    top_raw: list[TopToken] = []


class RoundMetrics(Event, tag="round_metrics"):
    """Counts, timings and running rates after a round (definitions in the README)."""

    round: int
    drafted: int = 0
    tested: int = 0  # positions actually scored by the target
    accepted: int = 0
    produced: int = 0  # tokens appended to the output (accepted + correction/bonus)
    draft_ms: float = 0.0
    verify_ms: float = 0.0
    sample_ms: float = 0.0
    round_ms: float = 0.0
    alpha: float | None = None  # mean over tested positions of sum_x min(p, q)
    acceptance_rolling: float | None = None  # accepted/tested over the last 50 rounds
    acceptance_cumulative: float | None = None
    tau_cumulative: float | None = None  # produced / verify steps so far
    total_tokens: int = 0
    tokens_per_s: float = 0.0
    baseline_tokens_per_s: float | None = None
    baseline_estimated: bool = True
    speedup: float | None = None
    k: int | None = None  # 1.1: the K chosen for this round (adaptive K); None = run's k
    # 1.1: -k auto's rule this round (warm-up | survival | confidence, engine/adaptive.py)
    k_rule: str = ""
    # 1.1: the confidence rule's bar: drafting went on while P(all drafted accepted) ×
    # P(next accepted) reached it (the run's tokens/ms × (draft + verify ms per token))
    k_threshold: float | None = None


class RunFinished(Event, tag="run_finished"):
    status: RunStatus
    finish_reason: str = ""  # eos | max_tokens | error | interrupted | recovered
    rounds: int = 0
    drafted: int = 0
    tested: int = 0
    accepted: int = 0
    produced: int = 0
    wall_ms: float = 0.0
    acceptance_rate: float | None = None
    tau: float | None = None
    alpha: float | None = None
    tokens_per_s: float | None = None
    baseline_tokens_per_s: float | None = None
    baseline_estimated: bool = True
    speedup: float | None = None
    output_text: str = ""
    output_token_ids: list[int] = []
    # Added by the engine (defaults keep older traces valid):
    prefill_ms: float = 0.0  # prompt processing before round 0 (not in tokens_per_s)
    draft_ms: float = 0.0  # totals over all rounds
    verify_ms: float = 0.0
    sample_ms: float = 0.0
    accepted_histogram: list[int] = []  # [i] = rounds (with >= 1 draft) that accepted exactly i
    survival: list[float] = []  # [i] = P(accepted > i | drafted > i): per-position survival
    k_effective: float | None = None  # mean drafted tokens per round
    # 1.1:
    baseline_run_id: str = ""  # the autoregressive run speedup was divided by (measured)
    baseline_kind: str = ""  # measured | estimated | none ("" = written before 1.1)
    inexact_rounds: int = 0  # rounds with at least one verify event marked exact = false


class Error(Event, tag="error"):
    where: str
    message: str
    retryable: bool = False
    attempt: int = 0
    round: int | None = None


AnyEvent = Union[RunStarted, DraftToken, Verify, RoundMetrics, RunFinished, Error]
EVENT_TYPES: tuple[type[Event], ...] = (RunStarted, DraftToken, Verify, RoundMetrics, RunFinished, Error)
KINDS: tuple[str, ...] = tuple(t.__struct_config__.tag for t in EVENT_TYPES)

__all__ = [
    "SCHEMA_VERSION",
    "SCHEMA_MAJOR",
    "TokenStatus",
    "RunStatus",
    "Method",
    "AcceptanceRule",
    "TopToken",
    "Event",
    "RunStarted",
    "DraftToken",
    "Verify",
    "RoundMetrics",
    "RunFinished",
    "Error",
    "AnyEvent",
    "EVENT_TYPES",
    "KINDS",
]
