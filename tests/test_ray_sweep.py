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

import importlib.util

import pytest

if importlib.util.find_spec("ray") is None:
    pytest.skip("the ray extra is not installed (uv sync --extra ray)", allow_module_level=True)

from specviz.engine import RunOptions  # noqa: E402
from specviz.store import list_runs  # noqa: E402
from specviz.sweep import EngineCache, EngineSpec, plan_jobs, run_local  # noqa: E402
from specviz.ray_sweep import _ray, connect, run_on_ray  # noqa: E402

ray = _ray()  # imported the way specviz imports it (see specviz.ray_sweep._ray)

PROMPTS = ["one two three one two three one two", "List three colours."]


@pytest.fixture(scope="module")
def cluster():
    connect(workers=2)
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
    base = RunOptions(max_tokens=200, temperature=0.0)
    jobs = plan_jobs(["Write a long story about a lighthouse keeper.", "Say hi."], lambda d: EngineSpec("bundled", d),
                     base, drafters=["ngram:3"], methods=["speculative"], ks=[4], temperatures=[0.0], baseline="none")
    pids = []  # asked before any job: an actor answers one call at a time

    def kill_the_worker_mid_run():
        live = traces / "_live"
        deadline = time.time() + 300
        def rounds_logged() -> int:  # mid-run: the config and at least one round are on disk
            logs = list(live.glob("run-*.jsonl")) if live.exists() else []
            return max((log.read_bytes().count(b"\n") for log in logs), default=0)

        while time.time() < deadline and rounds_logged() < 3:
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker_mid_run, daemon=True)
    outcomes = run_on_ray(jobs, traces, "round", workers=1,
                          on_worker=lambda a: (pids.append(ray.get(a.pid.remote())), len(pids) == 1 and killer.start()))
    first, second = outcomes
    assert (first.status, second.status) == ("interrupted", "completed"), [(o.status, o.error) for o in outcomes]
    assert "worker died" in (first.error or "") and first.run_id is not None
    runs = {r.run_id: r for r in list_runs(traces)}
    assert runs[first.run_id].status == "interrupted" and runs[second.run_id].status == "completed"
    assert len(pids) == 2, "a fresh worker replaced the killed one"
