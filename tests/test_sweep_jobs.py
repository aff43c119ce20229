"""Sweep planning: repeats, baselines first per repeat, and shards that split by prompt."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.engine import RunOptions
from specviz.sweep import JOB_TAG, EngineSpec, SweepError, parse_shard, plan_jobs, shard

PROMPTS = ["a", "b", "c"]


def _plan(**kw):
    return plan_jobs(PROMPTS, lambda d: EngineSpec("bundled", d), RunOptions(max_tokens=4), drafters=["ngram:3"],
                     methods=["speculative"], ks=[2, 4], temperatures=[0.0], **kw)


def test_plan_puts_each_repeats_baselines_before_its_runs():
    jobs = _plan(repeats=2)
    assert len(jobs) == 2 * (3 + 6)
    for r in (0, 1):
        mine = [j for j in jobs if j.repeat == r]
        assert [j.is_baseline for j in mine] == [True] * 3 + [False] * 6
    assert [j.options.tags[JOB_TAG] for j in jobs] == [str(i) for i in range(len(jobs))]
    assert all(j.options.tags["repeat"] == str(j.repeat) for j in jobs)


def test_shards_are_disjoint_cover_the_sweep_and_keep_a_prompts_jobs_together():
    jobs = _plan(repeats=2)
    parts = [shard(jobs, i, 2) for i in (1, 2)]
    assert sorted(j.index for p in parts for j in p) == [j.index for j in jobs]
    for part in parts:
        prompts = {j.prompt for j in part}
        assert all(j.prompt in prompts for j in part if j.is_baseline)
        assert {j.prompt for j in part if j.is_baseline} == prompts


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_one_line_errors(bad, tmp_path):
    with pytest.raises(SweepError):
        parse_shard(bad)
    result = CliRunner().invoke(cli, ["--traces", str(tmp_path), "sweep", "x", "--shard", bad])
    assert result.exit_code == 1 and result.output.startswith("Error: bad shard")
