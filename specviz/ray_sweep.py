"""Sweeps on Ray: each job a task on a long-lived worker actor that loads its models once.

    outcomes = run_on_ray(jobs, traces="shared/traces", flush="round", workers=2)

Every worker records straight into the shared traces directory (a local path here, a
shared file system on a cluster), exactly as `specviz record` would. Autoregressive
baseline jobs run first, so the runs that follow find measured baselines. A worker that
dies mid-run (killed, out of memory, node lost) costs only its job: its live log stays in
the store, is recovered as an `interrupted` run when the sweep ends, the job is reported
as lost, and a fresh worker takes its place.

Needs the optional extra: ``pip install 'specviz[ray]'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

from specviz.sweep import JOB_TAG, EngineCache, JobOutcome, SweepBaselines, SweepError, SweepJob, record_job


def _ray():
    # Under `uv run`, Ray starts each worker with its own `uv run` of the driver's command
    # line: a fresh environment without the extras the driver has (Ray itself included).
    # Workers use this interpreter's environment instead. Ray reads this when imported.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError as exc:  # the extra is optional
        raise SweepError("--ray needs Ray: install the extra with `uv sync --extra ray` "
                         "(or pip install 'specviz[ray]')") from exc
    return ray


def _worker_class(ray):
    @ray.remote(max_restarts=0, max_task_retries=0)
    class SweepWorker:
        """Holds loaded engines between jobs; one actor per worker process."""

        def __init__(self, traces: str, flush: Any) -> None:
            self.traces, self.flush = traces, flush
            self.engines = EngineCache()

        def pid(self) -> int:
            return os.getpid()

        def run(self, job: SweepJob, baselines: Any) -> JobOutcome:
            return record_job(self.engines, job, self.traces, self.flush, baselines)

    return SweepWorker


def connect(address: str | None = None, workers: int = 2) -> None:
    """Join the Ray cluster at ``address``, or start a local one with ``workers`` CPUs."""
    ray = _ray()
    if ray.is_initialized():
        return
    env = {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // workers)))}
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                              "include_dashboard": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=workers, **kwargs)


def run_on_ray(jobs: Iterable[SweepJob], traces: str | Path, flush: Any, *, address: str | None = None,
               workers: int = 2, on_outcome: Callable[[JobOutcome], None] | None = None,
               on_worker: Callable[[Any], None] | None = None) -> list[JobOutcome]:
    """Run ``jobs`` on ``workers`` actors; returns one outcome per job, in sweep order.

    ``on_worker`` receives each actor handle as it starts (tests use it to kill one).
    """
    ray = _ray()
    connect(address, workers)
    traces = str(Path(traces).resolve())
    worker_cls = _worker_class(ray)
    jobs = list(jobs)
    outcomes: dict[int, JobOutcome] = {}

    def spawn():
        actor = worker_cls.options(num_cpus=1).remote(traces, flush)
        if on_worker:
            on_worker(actor)
        return actor

    actors = [spawn() for _ in range(workers)]
    baselines = SweepBaselines()

    def done(outcome: JobOutcome) -> None:
        outcomes[outcome.job.index] = outcome
        baselines.add(outcome)
        if on_outcome:
            on_outcome(outcome)

    # Baselines first: the runs after them are divided by them.
    for phase in ([j for j in jobs if j.is_baseline], [j for j in jobs if not j.is_baseline]):
        _run_phase(ray, phase, actors, spawn, baselines, done)
    if any(o.status == "lost" for o in outcomes.values()):
        _attach_recovered_runs(traces, outcomes)
    for actor in actors:
        ray.kill(actor)
    return [outcomes[j.index] for j in jobs]


def _run_phase(ray, jobs: list[SweepJob], actors: list, spawn, baselines: SweepBaselines,
               done: Callable[[JobOutcome], None]) -> None:
    queue = list(reversed(jobs))
    running: dict[Any, tuple[int, SweepJob]] = {}  # future -> (actor slot, job)
    idle = list(range(len(actors)))
    while queue or running:
        while queue and idle:
            slot, job = idle.pop(), queue.pop()
            running[actors[slot].run.remote(job, baselines.for_job(job))] = (slot, job)
        ready, _ = ray.wait(list(running), num_returns=1)
        slot, job = running.pop(ready[0])
        try:
            outcome = ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:
            outcome = JobOutcome(job, status="lost", error=f"worker died: {type(exc).__name__}")
            actors[slot] = spawn()
        done(outcome)
        idle.append(slot)


def _attach_recovered_runs(traces: str, outcomes: dict[int, JobOutcome]) -> None:
    """Publish the logs of runs whose worker died as `interrupted` runs and name them."""
    from specviz.store import read_events, recover

    report = recover(traces)
    by_job: dict[str, str] = {}
    for run_id, *_ in report.recovered:
        started = read_events(traces, run_id)[0]
        tag = getattr(started, "tags", {}).get(JOB_TAG)
        if tag is not None:
            by_job[tag] = run_id
    for outcome in outcomes.values():
        if outcome.status == "lost" and str(outcome.job.index) in by_job:
            outcome.run_id = by_job[str(outcome.job.index)]
            outcome.status = "interrupted"


__all__ = ["run_on_ray", "connect"]
