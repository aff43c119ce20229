"""Recording runs: configuration -> ``run_started``, rounds -> events, outcome -> ``run_finished``.

    from specviz.engine import Engine, RunOptions
    engine = Engine.from_specs(target="bundled", drafter="ngram")
    result = engine.record("Explain speculative decoding.", RunOptions(k=4), traces="traces")
    print(result.text, result.finished.tau, result.run_id)

Failures keep every event logged before them: a ``TargetError`` (remote target gave up or
answered inconsistently) is logged as an ``error`` event and ends the run ``failed``;
Ctrl-C ends it ``interrupted`` with its counts; both return a ``RunResult`` (status in
``result.finished.status``). Any other exception is logged, ends the run ``failed`` and
is re-raised.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import mlx.core as mx
import numpy as np

from specviz.engine.drafters import check_method
from specviz.engine.errors import EngineError
from specviz.engine.adaptive import K_MAX as ADAPTIVE_K_MAX
from specviz.engine.adaptive import AdaptiveK
from specviz.engine.loop import EngineConfig, Round, TokenText, generate_rounds
from specviz.baselines import CHOICES as BASELINE_CHOICES, Baseline, BaselineIndex
from specviz.engine.remote_rows import logprob_scale
from specviz.engine.sampling import make_transform
from specviz.targets.base import RULE_FOR_CAPABILITY, TargetError
from specviz.targets.local import LocalTarget
from specviz.engine.text import StreamText, output_text
from specviz.builders import verdict_events
from specviz.events import DraftToken, Error, RunFinished, RunStarted, TopToken
from specviz.models.tokenizer import hf_tokenizer
from specviz.sampling_params import SamplingParams
from specviz.statuses import METHODS
from specviz.totals import RunMetrics, round_counts

OnText = Callable[[str, str], None]  # (text piece, status of the token that completed it)


_SAMPLING = SamplingParams()  # the sampling defaults, stated once (specviz/sampling_params.py)


@dataclass
class RunOptions:
    method: str = "speculative"
    k: int = 4
    max_tokens: int = 256
    temperature: float = _SAMPLING.temperature
    top_p: float = _SAMPLING.top_p
    top_k: int = _SAMPLING.top_k
    seed: int | None = _SAMPLING.seed
    eos_token_ids: tuple[int, ...] = ()  # added to the tokenizer's EOS ids
    n_top: int = 5  # alternatives recorded per position
    chat_template: bool = True  # wrap the prompt as one user turn when the tokenizer has a template
    # speedup's denominator: auto | measured | estimated | none (specviz.baselines);
    # True / False are read as "auto" / "none"
    baseline: str | bool = "auto"
    k_policy: str = "fixed"  # "auto": K chosen each round (engine/adaptive.py), up to adaptive.K_MAX
    tags: dict[str, str] = field(default_factory=dict)

    def sampling(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.top_k, self.seed)

    @property
    def baseline_kind(self) -> str:
        if isinstance(self.baseline, bool):
            return "auto" if self.baseline else "none"
        return self.baseline


@dataclass
class RunResult:
    run_id: str
    path: Path | None
    started: RunStarted
    finished: RunFinished
    text: str
    token_ids: list[int]
    error: str | None = None


def versions() -> dict[str, str]:
    out = {}
    for dist in ("specviz", "mlx", "mlx-lm", "numpy", "msgspec", "transformers", "openai"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def host() -> str:
    return f"{platform.node()} ({platform.system()} {platform.machine()}, Python {platform.python_version()})"


class Engine:
    """A target and a drafter (or none), loaded once, recording any number of runs."""

    def __init__(self, target: Any, drafter: Any = None, *, target_spec: str | None = None, drafter_spec: str | None = None):
        self.target = target
        self.drafter = drafter
        self.target_spec = target_spec or target.spec
        self.drafter_spec = drafter_spec or (drafter.spec if drafter is not None else "none")
        self.text = TokenText(target.tokenizer)
        self._eos: frozenset[int] = frozenset()

    @classmethod
    def from_specs(cls, target: str = "bundled", drafter: str = "ngram", *, target_model: str | None = None,
                   target_options: Any = None) -> "Engine":
        """Load models from specs; ``target_options``: ``specviz.targets.TargetOptions`` for openai:."""
        from specviz.engine.specs import build

        t, d = build(target, drafter, target_model=target_model, target_options=target_options)
        return cls(t, d, drafter_spec=d.spec if d else "none")

    # -- prompt ---------------------------------------------------------------------
    def encode_prompt(self, prompt: str, chat_template: bool = True) -> tuple[list[int], str]:
        tok = self.target.tokenizer
        if chat_template and getattr(tok, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = tok.apply_chat_template(messages, add_generation_prompt=True)
            return list(ids), text
        return list(tok.encode(prompt)), prompt

    # -- config ---------------------------------------------------------------------
    def _check(self, options: RunOptions) -> None:
        if options.method not in METHODS:
            raise EngineError(f"unknown method {options.method!r}: use one of {', '.join(METHODS)}")
        if options.k_policy not in ("fixed", "auto"):
            raise EngineError(f"unknown K policy {options.k_policy!r}: use fixed or auto")
        if options.k_policy == "auto" and options.method == "mlx-lm":
            raise EngineError("-k auto needs --method speculative (mlx_lm drafts a fixed K)")
        if options.k < 1 and options.method != "autoregressive":
            raise EngineError(f"-k must be >= 1 for {options.method}, got {options.k}")
        if options.max_tokens < 1:
            raise EngineError(f"--max-tokens must be >= 1, got {options.max_tokens}")
        if options.method == "speculative" and self.drafter is None:
            raise EngineError("speculative decoding needs a drafter (use --method autoregressive for none)")
        if options.method != "autoregressive":
            check_method(self.drafter_spec, options.method)
        if options.method == "mlx-lm" and (not isinstance(self.target, LocalTarget)
                                           or getattr(self.drafter, "mlx_model", None) is None):
            raise EngineError("--method mlx-lm needs a local target and a model drafter (mlx:<repo> or layerskip:N)")
        try:
            options.sampling()
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
        if options.baseline_kind not in BASELINE_CHOICES:
            raise EngineError(f"unknown baseline {options.baseline!r}: use one of {', '.join(BASELINE_CHOICES)}")

    def acceptance_rule(self, method: str) -> str:
        if method == "autoregressive":
            return "none"
        if method == "mlx-lm":
            return "exact-match"
        return RULE_FOR_CAPABILITY[self.target.capability]

    def started_event(self, prompt: str, options: RunOptions) -> RunStarted:
        self._check(options)
        self.target.connect()  # a remote target probes its server here, once
        params, ignored = self.target.request_params(options.sampling())
        ids, prompt_text = self.encode_prompt(prompt, options.chat_template)
        auto = options.method == "autoregressive"
        drafter = self.drafter if not auto else None
        tags = {"n_top": str(options.n_top), **options.tags}
        return RunStarted(
            prompt=prompt,
            prompt_text=prompt_text,
            prompt_token_ids=ids,
            drafter="none" if auto else self.drafter_spec,
            target=self.target_spec,
            target_model=self.target.model_name,
            draft_model=getattr(drafter, "model_name", "") or "",
            k=0 if auto else (ADAPTIVE_K_MAX if options.k_policy == "auto" else options.k),
            k_policy="" if auto else options.k_policy,
            adapter=getattr(drafter, "adapter", ""),
            adapter_hash=getattr(drafter, "adapter_hash", ""),
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
            max_tokens=options.max_tokens,
            seed=options.seed,
            method=options.method,
            acceptance_rule=self.acceptance_rule(options.method),
            target_params=params,
            target_ignored=ignored,
            target_logprob_scale=logprob_scale(self.target.capability, options.sampling()),
            eos_token_ids=sorted(set(self.target.eos_token_ids) | set(options.eos_token_ids)),
            versions=versions(),
            host=host(),
            tags=tags,
        )

    # -- recording ------------------------------------------------------------------
    def record(self, prompt: str, options: RunOptions | None = None, *, traces: str | Path = "traces",
               flush: Any = "round", on_text: OnText | None = None, recording: Any = None,
               baselines: BaselineIndex | None = None) -> RunResult:
        """Run and record one generation into ``traces``; ``recording="null"`` records
        nothing (same engine work, ``NullRecording``: for benchmarks). ``baselines``: where
        measured baselines are looked up (the CLI builds one from the store); a run this
        records itself (``baseline="measured"`` with no match) is added to it."""
        options = options or RunOptions()
        started = self.started_event(prompt, options)
        baseline = self._baseline_before(prompt, started, options, baselines,
                                         dict(traces=traces, flush=flush, recording=recording))
        if recording == "null":
            from specviz.recording import NullRecording

            rec = NullRecording(traces, started)
        else:
            from specviz.recording import open_run

            rec = open_run(traces, started, flush=flush)
        result = self._drive(rec, started, options, on_text, baseline=baseline)
        if baselines is not None:
            baselines.add(result.run_id, result.started, result.finished)
        return result

    def _baseline_before(self, prompt: str, started: RunStarted, options: RunOptions,
                         baselines: BaselineIndex | None, where: dict) -> Baseline | None:
        """The baseline known before the run, or None: estimate it after the run."""
        kind = options.baseline_kind
        if kind == "none" or options.method == "autoregressive":
            return Baseline(None, "none")
        found = baselines.find(started) if baselines is not None and kind != "estimated" else None
        if found is not None or kind != "measured":
            return found
        ar = self.record(prompt, replace(options, method="autoregressive", baseline="none"), baselines=baselines, **where)
        if ar.finished.status != "completed" or not ar.finished.tokens_per_s:
            raise EngineError(f"the autoregressive baseline run {ar.run_id} did not complete ({ar.finished.status})")
        return Baseline(ar.finished.tokens_per_s, "measured", ar.run_id)

    def _drive(self, rec: Any, started: RunStarted, options: RunOptions, on_text: OnText | None, *,
               baseline: Baseline | None = None) -> RunResult:
        """``baseline``: known beforehand (measured, or kind none); None estimates it after
        the run (unless ``options.baseline`` is none), so the estimate never touches prefill."""
        self._eos = frozenset(started.eos_token_ids)
        metrics = RunMetrics()
        detok = StreamText(self.target.tokenizer)
        output: list[int] = []
        t_start = time.perf_counter()
        prefill_ms = 0.0
        status, reason, error = "completed", "max_tokens", None

        def emit(event: Error) -> None:
            rec.log(event)

        try:
            ids = list(started.prompt_token_ids)
            t0 = time.perf_counter()
            if options.method != "mlx-lm":
                self.target.prefill(ids)
                if self.drafter is not None and options.method == "speculative":
                    self.drafter.prefill(ids)
            prefill_ms = (time.perf_counter() - t0) * 1e3
            if baseline is None and (options.baseline_kind == "none" or options.method == "autoregressive"):
                baseline = Baseline(None, "none")
            if baseline is not None:
                _set_baseline(metrics, baseline)
            rounds = self._rounds(ids, started, options, metrics, emit)
            for rnd in rounds:
                for event in rnd.events:
                    rec.log(event)
                output.extend(rnd.tokens)
                if on_text is not None:
                    _stream(rnd, detok, on_text, self._eos)
                if rnd.finish_reason:
                    reason = rnd.finish_reason
        except KeyboardInterrupt:
            status, reason = "interrupted", "interrupted"
        except TargetError as exc:
            status, reason, error = "failed", "error", str(exc)
            rec.log(Error(where="target", message=error, retryable=False, round=metrics.rounds))
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}".strip()
            rec.log(Error(where="engine", message=message, round=metrics.rounds))
            rec.finish(self._finished(metrics, output, "failed", "error", t_start, prefill_ms))
            raise
        if on_text is not None:
            tail = detok.finish() if output else ""
            if tail:
                on_text(tail, "accepted")
        if baseline is None:
            baseline = self._estimate_after(rec, started, options, status == "completed", metrics.rounds)
            if baseline is None:  # Ctrl-C during the estimate: the run is kept, without a speedup
                status, reason, baseline = "interrupted", "interrupted", Baseline(None, "none")
            _set_baseline(metrics, baseline)
        finished = self._finished(metrics, output, status, reason, t_start, prefill_ms)
        path = rec.finish(finished)
        return RunResult(rec.run_id, path, started, finished, finished.output_text, output, error)

    def _rounds(self, ids: list[int], started: RunStarted, options: RunOptions, metrics: RunMetrics,
                emit: Callable[[Error], None]) -> Iterator[Round]:
        config = EngineConfig(k=started.k, max_tokens=options.max_tokens, sampling=options.sampling(),
                              eos_token_ids=frozenset(started.eos_token_ids), n_top=options.n_top,
                              k_policy=AdaptiveK(started.k) if started.k_policy == "auto" else None)
        if options.method == "mlx-lm":
            return mlx_lm_rounds(self.target, self.drafter, ids, config, metrics=metrics, text=self.text)
        drafter = self.drafter if options.method == "speculative" else None
        return generate_rounds(self.target, drafter, ids, config, metrics=metrics, emit=emit, text=self.text)

    def _finished(self, metrics: RunMetrics, output: list[int], status: str, reason: str, t_start: float, prefill_ms: float) -> RunFinished:
        hf = hf_tokenizer(self.target.tokenizer)
        return RunFinished(
            status=status,
            finish_reason=reason,
            wall_ms=(time.perf_counter() - t_start) * 1e3,
            prefill_ms=prefill_ms,
            output_text=output_text(hf, output, self._eos),
            output_token_ids=list(output),
            **metrics.run_fields(),
        )

    # -- baseline -------------------------------------------------------------------
    def _estimate_after(self, rec: Any, started: RunStarted, options: RunOptions, completed: bool,
                        rounds: int) -> Baseline | None:
        """The estimated baseline of a finished run (kind none when the run did not
        complete or the target failed, logged); None when interrupted by Ctrl-C."""
        if not completed:
            return Baseline(None, "none")
        try:
            estimate = self.estimate_baseline(started, options)
        except KeyboardInterrupt:
            return None
        except TargetError as exc:
            rec.log(Error(where="baseline", message=str(exc), round=rounds))
            estimate = None
        return Baseline(estimate, "estimated" if estimate else "none")

    def estimate_baseline(self, started: RunStarted, options: RunOptions) -> float | None:
        """Autoregressive tokens/s of this prompt, timed after the run through the real
        autoregressive path (sampling and events included) for ESTIMATE_TOKENS tokens after
        ESTIMATE_WARMUP untimed ones; never shared between prompts or runs."""
        ids = list(started.prompt_token_ids)
        config = EngineConfig(k=0, max_tokens=ESTIMATE_WARMUP + ESTIMATE_TOKENS, sampling=options.sampling(),
                              n_top=options.n_top)  # no EOS: always the same number of tokens
        self.target.prefill(ids)
        timed = list(generate_rounds(self.target, None, ids, config, text=self.text))[ESTIMATE_WARMUP:]
        ms = sum(r.counts.round_ms for r in timed)
        return sum(r.counts.produced for r in timed) / (ms / 1e3) if ms > 0 else None


def _stream(rnd: Round, detok: StreamText, on_text: OnText, eos: frozenset[int]) -> None:
    for tok, status in zip(rnd.tokens, rnd.statuses):
        if tok in eos:
            continue  # the stop itself is not text
        piece = detok.add(tok)
        if piece:
            on_text(piece, status)


ESTIMATE_WARMUP = 2
ESTIMATE_TOKENS = 8


def _set_baseline(metrics: RunMetrics, baseline: Baseline) -> None:
    metrics.baseline_tokens_per_s = baseline.tokens_per_s
    metrics.baseline_estimated = baseline.kind != "measured"
    metrics.baseline_kind = baseline.kind
    metrics.baseline_run_id = baseline.run_id


# -- mlx_lm's own speculative decoding, recorded in the same schema ---------------------
class _Spy:
    """The target model as mlx_lm sees it, remembering its last input (the round's drafts)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.last: mx.array | None = None

    def __call__(self, inputs: mx.array, cache: Any = None, **kw: Any) -> mx.array:
        self.last = inputs
        return self._model(inputs, cache=cache, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def mlx_lm_rounds(target: LocalTarget, drafter: Any, prompt_ids: list[int], config: EngineConfig,
                  *, metrics: RunMetrics, text: TokenText) -> Iterator[Round]:
    """``mlx_lm.generate.speculative_generate_step`` with the same model pair, as Rounds.

    mlx_lm accepts by exact match (the target's own sample must equal the draft) and
    evaluates lazily, so only round time is measured (draft/verify split unknown) and the
    drafter's q is not available. Prefill happens inside round 0.
    """
    from mlx_lm.generate import speculative_generate_step
    from mlx_lm.models.cache import make_prompt_cache
    from mlx_lm.sample_utils import make_sampler

    s = config.sampling
    if s.seed is not None:
        mx.random.seed(s.seed)
    sampler = make_sampler(temp=s.temperature, top_p=s.top_p, top_k=s.top_k)
    transform = make_transform(s)
    spy = _Spy(target.model)
    draft_model = drafter.mlx_model
    cache = make_prompt_cache(target.model) + make_prompt_cache(draft_model)
    gen = speculative_generate_step(
        mx.array(prompt_ids, mx.uint32), spy, draft_model, num_draft_tokens=config.k,
        max_tokens=config.max_tokens, sampler=sampler, prompt_cache=cache,
    )
    produced = 0
    index = 0
    pending: list[tuple[int, Any, bool]] = []
    t_round = time.perf_counter()
    num_draft = min(config.max_tokens, config.k)
    drafts: list[int] | None = None
    try:
        for tok, logprobs, from_draft in gen:
            if drafts is None:
                drafts = np.asarray(spy.last[0]).tolist()[-num_draft:] if num_draft else []
            tok = int(tok)
            pending.append((tok, logprobs, from_draft))
            is_eos = tok in config.eos_token_ids
            if from_draft and not is_eos and produced + len(pending) < config.max_tokens:
                continue
            finish = "eos" if is_eos else ("max_tokens" if produced + len(pending) >= config.max_tokens else None)
            rnd = _mlx_round(index, pending, drafts, num_draft, text, config.n_top, t_round, metrics, finish, transform)
            produced += len(rnd.tokens)
            yield rnd
            if finish:
                return
            index += 1
            pending, drafts = [], None
            num_draft = min(config.max_tokens - produced, config.k)
            t_round = time.perf_counter()
    finally:
        gen.close()


def _mlx_round(index, pending, drafts, num_draft, text, n_top, t_round, metrics, finish, transform) -> Round:
    events: list[Any] = [DraftToken(round=index, position=i, token_id=d, token_text=text(d)) for i, d in enumerate(drafts)]
    tokens, statuses = [], []
    for pos, (tok, logprobs, from_draft) in enumerate(pending):
        lp = logprobs.reshape(-1)
        top: list[TopToken] = []
        if n_top > 0:
            idx = np.asarray(mx.argpartition(-lp, kth=n_top - 1)[:n_top])
            vals = np.asarray(lp)[idx]
            order = np.argsort(-vals)
            top = [TopToken(int(idx[o]), text(int(idx[o])), float(vals[o])) for o in order]
        p = transform(lp)[0]  # mlx_lm's logprobs are raw: p under the run's sampling transform
        tokens.append(tok)
        judged = tok if from_draft else (drafts[pos] if pos < num_draft else None)  # the draft judged here
        statuses.append("bonus" if judged is None else ("accepted" if from_draft else "resampled"))
        events += verdict_events(
            round=index, position=pos, token_id=tok, token_text=text(tok), draft_token_id=judged,
            draft_token_text=text(judged), accepted=from_draft, top=top, final_logprob=float(lp[tok].item()),
            target_logprob=float(lp[tok if judged is None else judged].item()),
            target_p=float(p[tok if judged is None else judged]),
        )
    counts = round_counts(events)
    counts.round_ms = (time.perf_counter() - t_round) * 1e3
    metrics.add(counts)
    events.append(metrics.round_event(index, counts))
    return Round(index, tokens, statuses, events, counts, finish)


__all__ = ["Engine", "RunOptions", "RunResult", "mlx_lm_rounds"]
