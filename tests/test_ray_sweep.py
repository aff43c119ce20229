"""Sweeps on a real local Ray cluster with 2 worker processes and the bundled model.

- the same jobs give the same tokens on Ray as in-process (T = 0), run for run;
- a worker killed with SIGKILL mid-run costs only its job: the sweep carries on, the run
  is recovered as `interrupted`, and the job reports it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (uv sync --extra ray)")

from specviz.engine import RunOptions  # noqa: E402
from specviz.store import list_runs  # noqa: E402
from specviz.sweep import EngineCache, EngineSpec, plan_jobs, run_local  # noqa: E402
from specviz.ray_sweep import run_on_ray  # noqa: E402

PROMPTS = ["one two three one two three one two", "List three colours."]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"OPENBLAS_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def _jobs(max_tokens: int, prompts=PROMPTS, ks=(2, 4)):
    base = RunOptions(max_tokens=max_tokens, temperature=0.0)
    return plan_jobs(prompts, lambda d: EngineSpec("bundled", d), base, drafters=["ngram:3"],
                     methods=["speculative"], ks=list(ks), temperatures=[0.0])


@pytest.mark.timeout(600)
def test_ray_sweep_equals_in_process_run_for_run(cluster, tmp_path: Path):
    jobs = _jobs(12)
    seen = []
    on_ray = run_on_ray(jobs, tmp_path / "ray", "round", workers=2, on_outcome=seen.append)
    local = list(run_local(jobs, tmp_path / "local", "round", EngineCache()))
    assert len(seen) == len(jobs) == len(on_ray) == len(local) == 6  # 2 baselines + 2 prompts x 2 K
    assert [o.status for o in on_ray] == ["completed"] * 6
    for r, l in zip(on_ray, local):
        assert r.job.index == l.job.index
        assert r.token_ids == l.token_ids, r.job.label
    assert len({o.worker for o in on_ray}) == 2, "both workers took jobs"
    assert {r.run_id for r in list_runs(tmp_path / "ray")} == {o.run_id for o in on_ray}


@pytest.mark.timeout(600)
def test_killed_worker_leaves_an_interrupted_run_and_the_sweep_carries_on(cluster, tmp_path: Path):
    traces = tmp_path / "traces"
    jobs = [j for j in _jobs(160, prompts=["Write a long story about a lighthouse keeper."], ks=(4,))]
    jobs += _jobs(6, prompts=["Say hi."], ks=(2,))
    jobs = [type(j)(i, j.engine, j.prompt, j.options, j.prompt_index, j.repeat) for i, j in enumerate(jobs)]
    actors = []

    def kill_first_worker_once_it_records():
        deadline = time.time() + 300
        live = traces / "_live"
        while time.time() < deadline and not (live.exists() and any(live.glob("run-*.jsonl"))):
            time.sleep(0.2)
        time.sleep(1.0)
        os.kill(ray.get(actors[0].pid.remote()), signal.SIGKILL)

    killer = threading.Thread(target=kill_first_worker_once_it_records, daemon=True)
    outcomes = run_on_ray(jobs, traces, "round", workers=1,
                          on_worker=lambda a: (actors.append(a), len(actors) == 1 and killer.start()))
    statuses = [o.status for o in outcomes]
    assert statuses[0] == "interrupted", [(o.status, o.error) for o in outcomes]
    assert outcomes[0].run_id is not None and "worker died" in (outcomes[0].error or "")
    assert all(s == "completed" for s in statuses[1:]), statuses
    runs = {r.run_id: r for r in list_runs(traces)}
    assert runs[outcomes[0].run_id].status == "interrupted"
    assert len(actors) >= 2, "a fresh worker replaced the killed one"
