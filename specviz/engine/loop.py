"""The generation loop: a generator yielding one verified round at a time.

``generate_rounds`` drives drafter and target; it records nothing itself. Each ``Round``
carries the events of that round (``draft_token``, ``verify``, ``round_metrics``) ready to
be logged, plus the ids it appended and their statuses for streaming.

K shrinks near ``max_tokens`` (a round can produce K + 1 tokens), and EOS inside an accepted
prefix ends the run right there: later positions get no verdict and no count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator

import numpy as np

from specviz.engine.drafters import Draft, DraftContext, DraftedToken, Drafter
from specviz.engine.remote_rows import finish_rows
from specviz.engine.rejection import Decision, decide_exact_match, decide_full, decide_greedy, decide_topk
from specviz.engine.sampling import as_numpy, make_rng, make_transform, trace_stats
from specviz.targets.base import ScoreRequest, Target
from specviz.builders import verdict_events
from specviz.events import DraftToken, Error, TopToken, Verify
from specviz.models.tokenizer import hf_tokenizer
from specviz.sampling_params import SamplingParams
from specviz.totals import RoundCounts, RunMetrics, round_counts


@dataclass
class EngineConfig:
    k: int = 4
    max_tokens: int = 256
    sampling: SamplingParams = field(default_factory=SamplingParams)
    eos_token_ids: frozenset[int] = frozenset()
    n_top: int = 5  # alternatives recorded per position (0 = none)
    k_policy: Any = None  # None: K = k every round; else choose() / observe() (engine/adaptive.py)


@dataclass
class Round:
    index: int
    tokens: list[int]  # ids appended to the output this round
    statuses: list[str]  # per appended id: accepted | resampled | bonus
    events: list[Any]  # DraftToken..., Verify..., RoundMetrics, in order
    counts: RoundCounts
    finish_reason: str | None = None  # "eos" | "max_tokens" when this round ends the run


class TokenText:
    """id -> text of that id alone (for events); cached per tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        hf = hf_tokenizer(tokenizer)

        @lru_cache(maxsize=65536)
        def piece(token_id: int) -> str:
            try:
                return hf.decode([token_id], clean_up_tokenization_spaces=False)
            except TypeError:
                return hf.decode([token_id])

        self.piece = piece

    def __call__(self, token_id: int | None) -> str:
        return "" if token_id is None else self.piece(int(token_id))


Decide = Callable[..., Decision]


def generate_rounds(
    target: Target,
    drafter: Drafter | None,
    prompt_ids: list[int],
    config: EngineConfig,
    *,
    metrics: RunMetrics | None = None,
    emit: Callable[[Error], None] | None = None,
    decide: Decide = decide_full,
    text: TokenText | None = None,
) -> Iterator[Round]:
    """Run speculative decoding (or, with ``drafter=None`` / ``k=0``, autoregressive
    decoding) and yield each verified round. Call ``target.prefill`` / ``drafter.prefill``
    first (the caller times it). ``metrics`` is updated in place before each yield."""
    return _Loop(target, drafter, prompt_ids, config, metrics, emit, decide, text).rounds()


@dataclass
class _Decided:
    """A round whose tokens are decided; its events are built while the next round's
    forward pass runs (a target with ``launch``), then it is yielded."""

    index: int
    k: int
    draft: Draft
    scores: Any
    steps: list[Any]
    tokens: list[int]
    statuses: list[str]
    finish: str | None
    timings: tuple[float, float, float, float]  # draft, verify, sample, round ms
    rule: tuple[str, float | None] = ("", None)  # the K policy's rule and threshold this round


class _Loop:
    """The state of one generation; ``rounds()`` is the generator.

    Rounds are pipelined when the target can ``launch`` a forward without waiting for it
    (the local target): round r+1's forward is started, then round r's events are built
    and yielded (and recorded by the caller) while it runs. Round times partition the wall
    clock: round r runs from round r-1's decision to its own, so the bookkeeping done
    meanwhile is inside it (as ``sample_ms``: ``round_ms`` minus draft and target time)."""

    def __init__(self, target, drafter, prompt_ids, config, metrics, emit, decide, text) -> None:
        self.target, self.drafter, self.config = target, drafter, config
        self.metrics = metrics if metrics is not None else RunMetrics()
        self.emit, self.decide = emit or _drop, decide
        self.text = text or TokenText(target.tokenizer)
        self.params = config.sampling
        self.rng = make_rng(self.params.seed)
        self.transform = make_transform(self.params)
        self.context = list(prompt_ids)
        self.produced = 0
        self.k_max = config.k if drafter is not None else 0
        self.policy = config.k_policy if self.k_max else None
        self.dctx = DraftContext(self.params, self.transform, self.rng, target.vocab_size, config.n_top,
                                 keep_drafting=getattr(self.policy, "keep_drafting", None))
        self.capability = target.capability
        self.launcher = getattr(target, "launch", None)

    def rounds(self) -> Iterator[Round]:
        pending: _Decided | None = None
        mark = time.perf_counter()
        index = 0
        while self.produced < self.config.max_tokens:
            t0 = time.perf_counter()
            try:
                rule = (self.policy.rule, self.policy.threshold()) if self.policy else ("", None)
                k, draft, t1, started = self._start(index)
            except BaseException:  # Ctrl-C or a failing drafter: the decided round is still kept
                if pending is not None:
                    yield self._finish(pending)
                raise
            t2 = time.perf_counter()
            if pending is not None:
                yield self._finish(pending)
            t3 = time.perf_counter()
            scores = started()
            t4 = time.perf_counter()
            decided = self._decide(index, k, draft, scores)
            t5 = time.perf_counter()
            draft_ms, verify_ms, round_ms = (t1 - t0) * 1e3, (t2 - t1 + t4 - t3) * 1e3, (t5 - mark) * 1e3
            decided.timings = (draft_ms, verify_ms, round_ms - draft_ms - verify_ms, round_ms)
            decided.rule = rule
            mark = t5
            if self.policy:
                drafted, tested, accepted = _step_counts(draft, decided.steps)
                self.policy.observe(k, drafted, tested, accepted, draft_ms, verify_ms, round_ms, draft.logprobs)
            pending, index = decided, index + 1
            if decided.finish is not None:
                break
        if pending is not None:
            yield self._finish(pending)

    def _start(self, index: int) -> tuple[int, Draft, float, Callable[[], Any]]:
        """(K, the draft, when drafting ended, the started scoring) of the next round."""
        k = max(0, min(self.policy.choose() if self.policy else self.k_max, self.config.max_tokens - self.produced - 1))
        draft = self.drafter.propose(self.context, k, self.dctx) if k > 0 and self.drafter is not None else Draft()
        if self.policy:
            k = self.policy.k_used(k, len(draft.tokens))
        return k, draft, time.perf_counter(), self._launch(index, draft)

    def _launch(self, index: int, draft: Draft) -> Callable[[], Any]:
        """Start scoring ``draft``; the returned call waits for the scores. A target that
        cannot launch is scored when waited for, after the previous round is yielded, so
        the events it emits stay in round order."""
        if self.launcher is None:
            request = ScoreRequest(round=index, sampling=self.params, n_top=self.config.n_top, emit=self.emit)
            return lambda: self.target.score(self.context, draft.ids, request)
        # autoregressive greedy: the next step's input is this step's argmax, so it can be
        # queued before that is known (mlx_lm.generate_step's pipelining)
        greedy_next = (self.k_max == 0 and self.params.greedy and self.capability == "full"
                       and self.produced + 1 < self.config.max_tokens)
        return self.launcher(self.context, draft.ids, greedy_next=greedy_next).result

    def _decide(self, index: int, k: int, draft: Draft, scores: Any) -> _Decided:
        """The round's verdicts, cut at EOS / max_tokens; the context moves on."""
        decision = self._decision(draft, scores)
        tokens: list[int] = []
        statuses: list[str] = []
        steps = []
        finish = None
        for step in decision.steps:
            steps.append(step)
            tokens.append(step.token)
            statuses.append("bonus" if step.draft_token is None else ("accepted" if step.accepted else "resampled"))
            if step.token in self.config.eos_token_ids:
                finish = "eos"
                break
            if self.produced + len(tokens) >= self.config.max_tokens:
                finish = "max_tokens"
                break
        wants = getattr(self.drafter, "observe_top", 0)
        if wants:  # drafters that learn from the target's verdicts (nasd +top_k_filler)
            self.drafter.observe(self.context, tokens, _top_ids(scores, len(tokens), wants))
        self.context.extend(tokens)
        self.produced += len(tokens)
        if finish is None and self.produced >= self.config.max_tokens:
            finish = "max_tokens"
        return _Decided(index, k, draft, scores, steps, tokens, statuses, finish, (0.0, 0.0, 0.0, 0.0))

    def _decision(self, draft: Draft, scores: Any) -> Decision:
        if self.capability == "full":
            if self.params.greedy and draft.q is None and self.decide is decide_full:
                best = as_numpy(scores.logits).argmax(axis=-1).tolist()
                return decide_greedy(draft.ids, best, self.rng)
            return self.decide(draft.ids, draft.q, self.transform(scores.logits), self.rng)
        if self.capability == "topk":
            return decide_topk(draft.ids, draft.q, scores.draft_logprobs or [], scores.top or [], scores.generated,
                               self.params, self.rng)
        return decide_exact_match(draft.ids, scores.generated or [])

    def _finish(self, d: _Decided) -> Round:
        """The round's events (draft tokens, verdicts, round_metrics) and counts."""
        text, n_top, scores = self.text, self.config.n_top, d.scores
        trace = _full_trace(scores.logits, self.params, d.steps, n_top) if self.capability == "full" else None
        events: list[Any] = [_draft_event(d.index, i, t, text) for i, t in enumerate(d.draft.tokens)]
        for j, step in enumerate(d.steps):
            events.extend(_verify_events(d.index, step, trace, j, scores, self.capability, text, n_top, d.draft.logprobs))
        if self.capability != "full":
            finish_rows(events, scores, self.params, self.target.vocab_size)
        counts = round_counts(events)  # the totals' one definition, from the events themselves
        counts.draft_ms, counts.verify_ms, counts.sample_ms, counts.round_ms = d.timings
        self.metrics.add(counts)
        events.append(self.metrics.round_event(d.index, counts))
        if self.policy:
            events[-1].k = d.k
            events[-1].k_rule, events[-1].k_threshold = d.rule
        return Round(d.index, d.tokens, d.statuses, events, counts, d.finish)


def _step_counts(draft: Draft, steps: list[Any]) -> tuple[int, int, int]:
    """(drafted, tested, accepted) of a decided round, as ``round_counts`` finds them in its events."""
    tested = [s for s in steps if s.draft_token is not None]
    return len(draft.tokens), len(tested), sum(1 for s in tested if s.accepted)


def _drop(event: Error) -> None:
    return None


def _top_ids(scores: Any, n: int, k: int) -> list[list[int]]:
    """The target's k most likely ids, best first, at each of the first n scored positions."""
    if scores.logits is not None:
        rows = as_numpy(scores.logits)[:n]
        k = min(k, rows.shape[-1])
        idx = np.argpartition(-rows, k - 1, axis=-1)[:, :k]
        order = np.argsort(-np.take_along_axis(rows, idx, axis=-1), axis=-1)
        return np.take_along_axis(idx, order, axis=-1).tolist()
    return [[t for t, _ in row[:k]] for row in (scores.top or [])[:n]]


def _draft_event(index: int, position: int, t: DraftedToken, text: TokenText) -> DraftToken:
    return DraftToken(
        round=index, position=position, token_id=t.id, token_text=text(t.id), logprob=t.logprob, entropy=t.entropy,
        top=[TopToken(i, text(i), lp) for i, lp in t.top], draft_ms=t.ms,
        ngram_n=t.ngram_n, source_pos=t.source_pos, draft_source=t.source,
    )


@dataclass
class _Trace:
    """Recorded numbers per decided position of a full-distribution round."""

    draft_lp: list[float | None]
    final_lp: list[float]
    entropy: list[float]
    top: list[list[tuple[int, float]]]


def _full_trace(logits: Any, params: SamplingParams, steps: list[Any], n_top: int) -> _Trace:
    n = len(steps)
    x, log_z, entropy, tops = trace_stats(as_numpy(logits)[:n], params, n_top)
    final_lp = [float(x[r, s.token] - log_z[r]) for r, s in enumerate(steps)]
    draft_lp = [None if s.draft_token is None else float(x[r, s.draft_token] - log_z[r])
                for r, s in enumerate(steps)]
    return _Trace(draft_lp=draft_lp, final_lp=final_lp, entropy=entropy.tolist(), top=tops)


def _probabilities(step: Any) -> dict:
    """p and q of the draft token under the run's sampling transform, and where both
    distributions are whole, their overlap and the residual mass sum_x max(0, p - q),
    which is 1 - overlap since p and q each sum to 1."""
    out = dict(target_p=step.p_draft, draft_q=step.q_draft)
    if step.overlap is not None:
        out.update(overlap=step.overlap, residual_mass=max(0.0, 1.0 - step.overlap))
    return out


def _verify_events(index, step, trace, j, scores, capability, text, n_top, draft_logprobs) -> list[Verify]:
    top: list[TopToken] = []
    target_lp = final_lp = entropy = None
    if trace is not None:
        top = [TopToken(t, text(t), lp) for t, lp in trace.top[j]]
        target_lp = trace.draft_lp[j] if step.draft_token is not None else trace.final_lp[j]
        final_lp = trace.final_lp[j]
        entropy = trace.entropy[j]
    elif scores.top and j < len(scores.top):
        top = [TopToken(t, text(t), lp) for t, lp in scores.top[j][:n_top]]
        known = dict(scores.top[j])
        if capability == "topk" and scores.draft_logprobs and step.draft_token is not None:
            target_lp = scores.draft_logprobs[j]
        elif capability == "generate" and scores.generated_logprobs and j < len(scores.generated_logprobs):
            # the target's own token at j is generated[j] == step.token
            final_lp = scores.generated_logprobs[j]
            if step.draft_token is not None and step.accepted:
                target_lp = final_lp
        if final_lp is None:
            final_lp = known.get(step.token)
        if target_lp is None and step.draft_token is not None:
            target_lp = known.get(step.draft_token)
    draft_lp = draft_logprobs[step.position] if step.draft_token is not None and step.position < len(draft_logprobs) else None
    fields = dict(target_entropy=entropy, top=top, exact=step.exact, final_logprob=final_lp)
    if step.draft_token is None:
        fields.update(target_logprob=final_lp, target_p=step.p_draft)
    else:
        fields.update(draft_logprob=draft_lp, target_logprob=target_lp, acceptance_prob=step.acceptance_prob, u=step.u,
                      **_probabilities(step))
    return verdict_events(round=index, position=step.position, token_id=step.token, token_text=text(step.token),
                          draft_token_id=step.draft_token, draft_token_text=text(step.draft_token),
                          accepted=step.accepted, **fields)


__all__ = ["EngineConfig", "Round", "TokenText", "generate_rounds"]
