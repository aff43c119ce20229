"""Intervals and tests of specviz.analysis against known truths: coverage of the 95%
interval on synthetic runs written through the Recording API, and agreement with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from specviz.analysis.acceptance import per_position
from specviz.analysis.data import load
from specviz.analysis.stats import count_pvalue, ks_uniform, wilson
from specviz.events import RoundMetrics, RunFinished, RunStarted
from specviz.recording import open_run
from specviz.sql import connect

P_ACCEPT = 0.7
K = 4


def synthetic_run(traces, rng: np.random.Generator, rounds: int = 40) -> str:
    """Each draft position accepted with probability P_ACCEPT until the first rejection."""
    rec = open_run(traces, RunStarted(prompt="synthetic", drafter="ngram:3", target="bundled", k=K, temperature=0.7),
                   flush="close")
    for r in range(rounds):
        passes = rng.random(K) < P_ACCEPT
        accepted = int(np.argmin(passes)) if not passes.all() else K
        tested = min(K, accepted + 1)
        rec.log(RoundMetrics(round=r, drafted=K, tested=tested, accepted=accepted, produced=accepted + 1,
                             draft_ms=1.0, verify_ms=5.0 + accepted, round_ms=7.0 + accepted))
    rec.finish(RunFinished(status="completed"))
    return rec.run_id


def test_95_interval_covers_known_acceptance_in_200_synthetic_runs(tmp_path):
    rng = np.random.default_rng(2026)
    ids = [synthetic_run(tmp_path, rng) for _ in range(200)]
    selection = load(connect(tmp_path), ids)
    covered = total = 0
    for i in range(len(ids)):
        rates = per_position(selection.rounds.take(selection.rounds.run == i))
        for lo, hi in zip(rates.lo, rates.hi):
            if lo is None:
                continue
            total += 1
            covered += lo <= P_ACCEPT <= hi
    assert total >= 200 * 3
    assert covered / total >= 0.90, (covered, total)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (57, 120), (1, 2000)])
def test_wilson_matches_scipy(k, n):
    lo, hi = wilson(k, n)
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert float(lo) == pytest.approx(ci.low, abs=1e-9) and float(hi) == pytest.approx(ci.high, abs=1e-9)


@pytest.mark.parametrize("seed,dist", [(1, "uniform"), (2, "uniform"), (3, "beta")])
def test_ks_matches_scipy(seed, dist):
    rng = np.random.default_rng(seed)
    u = rng.random(400) if dist == "uniform" else rng.beta(2.0, 1.5, 400)
    d, p = ks_uniform(u)
    ref = sps.kstest(u, "uniform")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=5e-3, rel=0.05)


def test_count_pvalue_is_calibrated_for_near_certain_acceptances():
    rng = np.random.default_rng(5)
    a = np.clip(rng.normal(0.985, 0.01, 40), 0, 1)
    pvals = [count_pvalue(int((rng.random(a.size) < a).sum()), a.size, a.sum(), (a * (1 - a)).sum())
             for _ in range(2000)]
    assert np.mean(np.array(pvals) < 0.01) <= 0.02  # a 1% test rejects about 1% of the time, not 10%
    assert count_pvalue(40, 40, 20.0, 10.0) < 1e-6  # all accepted where half was expected
