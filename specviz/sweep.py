"""Sweeps as a list of jobs: one (engine, prompt, options, repeat) per run.

The same jobs run in this process (`run_local`), on a Ray cluster (`specviz.ray_sweep`),
or split across the tasks of a scheduler's job array (`shard`, for Slurm and friends):
every runner records through `record_job`, so a run is the same run wherever it ran.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from specviz.errors import SpecvizError

JOB_TAG = "sweep_job"  # RunOptions.tags key naming a run's job, so a lost job's run can be found
_SHARD = re.compile(r"^(\d+)/(\d+)$")


class SweepError(SpecvizError):
    """A sweep cannot be planned or run as asked."""


@dataclass(frozen=True)
class EngineSpec:
    """Which models a job needs; jobs with equal specs share one loaded engine per process."""

    target: str
    drafter: str
    target_model: str | None = None
    remote: tuple[tuple[str, Any], ...] = ()  # the --target-* options of an openai: target


@dataclass(frozen=True)
class SweepJob:
    index: int  # position in the whole sweep (shards keep the sweep's numbering)
    engine: EngineSpec
    prompt: str
    options: Any  # specviz.engine.RunOptions
    prompt_index: int = 0
    repeat: int = 0

    @property
    def is_baseline(self) -> bool:
        return self.options.method == "autoregressive"

    @property
    def k(self) -> int:
        """K as the run records it (an autoregressive run drafts nothing: K = 0)."""
        return 0 if self.is_baseline else self.options.k

    @property
    def label(self) -> str:
        o = self.options
        return f"{self.engine.drafter} {o.method} k={self.k} T={o.temperature} #{self.repeat}"


@dataclass
class JobOutcome:
    """What became of one job: its run, or why there is none."""

    job: SweepJob
    run_id: str | None = None
    status: str = "failed"  # completed | failed | interrupted (run status), or "lost" (no run)
    started: Any = None  # the run's RunStarted / RunFinished events
    finished: Any = None
    token_ids: list[int] = field(default_factory=list)
    error: str | None = None
    worker: str = ""


class SweepBaselines:
    """Each repeat's measured baselines: the autoregressive runs that repeat recorded.

    Runs of repeat r divide by repeat r's own baselines, wherever each run was recorded;
    outcomes are fed back here as they arrive.
    """

    def __init__(self) -> None:
        from specviz.baselines import BaselineIndex

        self._new = BaselineIndex
        self._by_repeat: dict[int, Any] = {}

    def for_job(self, job: SweepJob) -> Any:
        return self._by_repeat.setdefault(job.repeat, self._new())

    def add(self, outcome: JobOutcome) -> None:
        if outcome.run_id and outcome.started is not None:
            self.for_job(outcome.job).add(outcome.run_id, outcome.started, outcome.finished)


def plan_jobs(prompts: list[str], engine: Callable[[str], EngineSpec], base: Any, *, drafters: list[str],
              methods: list[str], ks: list[int], temperatures: list[float], repeats: int = 1,
              baseline: str = "measured", sweep_id: str = "1") -> list[SweepJob]:
    """Every run of a sweep: per repeat, its autoregressive baselines (when measured), then
    drafter × method × K × temperature × prompt.

    ``engine(drafter)`` gives the EngineSpec for a drafter spec; ``base`` is the RunOptions
    the grid varies. Each run is tagged with the sweep, its repeat and its job index.
    """
    grid: list[tuple[str, str, int, float, int, int]] = []
    for r in range(repeats):
        if baseline == "measured":
            grid += [("none", "autoregressive", 1, t, i, r) for i in range(len(prompts)) for t in temperatures]
        grid += [(d, m, k, t, i, r) for d in drafters for m in methods for k in ks for t in temperatures
                 for i in range(len(prompts))]
    jobs = []
    for index, (d, m, k, t, i, r) in enumerate(grid):
        tags = {**base.tags, "sweep": sweep_id, "repeat": str(r), JOB_TAG: str(index)}
        options = replace(base, method=m, k=k, temperature=t, tags=tags)
        jobs.append(SweepJob(index, engine(d), prompts[i], options, prompt_index=i, repeat=r))
    return jobs


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (1-based I) -> (I, N)."""
    m = _SHARD.match(text.strip())
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise SweepError(f"bad shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/8")
    return int(m.group(1)), int(m.group(2))


def shard(jobs: list[SweepJob], i: int, n: int) -> list[SweepJob]:
    """The I-th of N disjoint slices, split by prompt: every job of a prompt, its
    autoregressive baseline included, lands in the same shard, so its speedups are
    measured against a baseline that shard records first."""
    return [job for job in jobs if job.prompt_index % n == i - 1]


class EngineCache:
    """One Engine per EngineSpec per process: models load once, however many jobs use them."""

    def __init__(self, on_convert: Callable[[], None] | None = None) -> None:
        self._engines: dict[EngineSpec, Any] = {}
        self._on_convert = on_convert

    def get(self, spec: EngineSpec) -> Any:
        if spec not in self._engines:
            from specviz.engine import Engine
            from specviz.models import bundled

            if spec.target == "bundled" and not bundled.is_converted() and self._on_convert:
                self._on_convert()
            options = None
            if spec.target.startswith("openai:"):
                from specviz.targets.cli_options import target_options

                options = target_options(**dict(spec.remote))
            self._engines[spec] = Engine.from_specs(spec.target, spec.drafter, target_model=spec.target_model,
                                                    target_options=options)
        return self._engines[spec]


def record_job(engines: EngineCache, job: SweepJob, traces: str | Path, flush: Any,
               baselines: Any = None) -> JobOutcome:
    """Record one job's run into ``traces``; a failed run is an outcome, not an exception.

    ``baselines``: the BaselineIndex of the job's repeat (see SweepBaselines).
    """
    engine = engines.get(job.engine)
    result = engine.record(job.prompt, job.options, traces=traces, flush=flush, baselines=baselines)
    return JobOutcome(job, result.run_id, result.finished.status, result.started, result.finished,
                      list(result.token_ids), result.error, worker=f"pid {os.getpid()}")


def run_local(jobs: Iterable[SweepJob], traces: str | Path, flush: Any,
              engines: EngineCache | None = None) -> Iterator[JobOutcome]:
    """Run jobs one after another in this process; stops after an interrupted run (Ctrl-C)."""
    engines = engines or EngineCache()
    baselines = SweepBaselines()
    for job in jobs:
        outcome = record_job(engines, job, traces, flush, baselines.for_job(job))
        baselines.add(outcome)
        yield outcome
        if outcome.status == "interrupted":
            return


__all__ = ["EngineSpec", "SweepJob", "JobOutcome", "SweepBaselines", "SweepError", "EngineCache", "plan_jobs", "parse_shard", "shard", "JOB_TAG",
           "record_job", "run_local"]
