"""One totals function for every producer: the engine, recovery after a crash and runs
written through the Recording API all give a run the same totals (specviz.totals)."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from specviz.engine import Engine, RunOptions
from specviz.models.loading import register_model
from specviz.events import DraftToken, RoundMetrics, RunFinished, RunStarted, Verify
from specviz.recording import open_run
from specviz.sql import connect
from specviz.store import read_events, recover
from specviz.totals import finished_from_events, metrics_from_events
from tiny_models import TinyTokenizer, tiny_model

TESTS = Path(__file__).parent
V = 10
# Totals that depend only on the events (wall_ms, prefill_ms and the output text are
# about the process, the clock or the tokenizer, not the counts).
TOTALS = ("rounds", "drafted", "tested", "accepted", "produced", "acceptance_rate", "tau", "alpha", "tokens_per_s",
          "draft_ms", "verify_ms", "sample_ms", "accepted_histogram", "survival", "k_effective", "inexact_rounds",
          "output_token_ids")


def test_totals_from_events_hand_computed():
    # round 0: 3 drafted, accepted 2, rejected at 2 (rejected + resampled rows); round 1: all
    # 2 accepted + bonus; round 2 (autoregressive-like): bonus only.
    v = dict(token_text="x")
    events = [
        RunStarted(prompt="p"),
        *[DraftToken(round=0, position=i, token_id=i) for i in range(3)],
        Verify(round=0, position=0, status="accepted", token_id=0, draft_token_id=0, overlap=0.9, **v),
        Verify(round=0, position=1, status="accepted", token_id=1, draft_token_id=1, overlap=0.7, **v),
        Verify(round=0, position=2, status="rejected", token_id=5, draft_token_id=2, overlap=0.2, **v),
        Verify(round=0, position=2, status="resampled", token_id=5, draft_token_id=2, overlap=0.2, **v),
        RoundMetrics(round=0, round_ms=100.0, draft_ms=10.0),
        *[DraftToken(round=1, position=i, token_id=i) for i in range(2)],
        Verify(round=1, position=0, status="accepted", token_id=0, draft_token_id=0, overlap=0.6, **v),
        Verify(round=1, position=1, status="accepted", token_id=1, draft_token_id=1, overlap=0.4, exact=False, **v),
        Verify(round=1, position=2, status="bonus", token_id=7, **v),
        RoundMetrics(round=1, round_ms=50.0, baseline_tokens_per_s=20.0, baseline_estimated=False),
        Verify(round=2, position=0, status="bonus", token_id=8, **v),
        RoundMetrics(round=2, round_ms=50.0, baseline_tokens_per_s=20.0, baseline_estimated=False),
    ]
    m = metrics_from_events(events)
    assert (m.rounds, m.drafted, m.tested, m.accepted, m.produced) == (3, 5, 5, 4, 7)
    assert m.acceptance == pytest.approx(4 / 5)  # the rejection is one test, not two
    assert m.alpha == pytest.approx((0.9 + 0.7 + 0.2 + 0.6 + 0.4) / 5)
    assert m.tau == pytest.approx(7 / 3)
    assert m.histogram == [0, 0, 2]  # both drafted rounds accepted exactly 2
    assert m.survival == pytest.approx([1.0, 1.0, 0.0])  # position 2 reached once, rejected
    assert m.tokens_per_s == pytest.approx(7 / 0.2)
    assert m.speedup == pytest.approx(7 / 0.2 / 20.0)
    assert m.inexact_rounds == 1 and m.draft_ms == pytest.approx(10.0)


def test_old_traces_without_overlap_use_the_rounds_alpha():
    events = [
        DraftToken(round=0, position=0, token_id=1), DraftToken(round=0, position=1, token_id=2),
        Verify(round=0, position=0, status="accepted", token_id=1, draft_token_id=1),
        Verify(round=0, position=1, status="accepted", token_id=2, draft_token_id=2),
        Verify(round=0, position=2, status="bonus", token_id=3),
        RoundMetrics(round=0, drafted=2, tested=2, accepted=2, produced=3, alpha=0.8, round_ms=10.0),
        DraftToken(round=1, position=0, token_id=1),
        Verify(round=1, position=0, status="rejected", token_id=4, draft_token_id=1),
        Verify(round=1, position=0, status="resampled", token_id=4, draft_token_id=1),
        RoundMetrics(round=1, drafted=1, tested=1, accepted=0, produced=1, alpha=0.5, round_ms=10.0),
    ]
    assert metrics_from_events(events).alpha == pytest.approx((0.8 * 2 + 0.5) / 3)


@pytest.fixture(scope="module")
def engine():
    register_model("tiny-totals", tiny_model(V, seed=4, layers=3, scale=0.5), TinyTokenizer(V, eos=False), "tiny-llama")
    return Engine.from_specs("mlx:tiny-totals", "layerskip:1")


@pytest.fixture(scope="module")
def engine_run(engine, tmp_path_factory):
    """A sampled run with a model drafter: rejections, resamples, bonuses, overlaps."""
    traces = tmp_path_factory.mktemp("engine")
    options = RunOptions(k=3, max_tokens=40, temperature=0.9, top_p=0.9, seed=5, baseline="estimated")
    result = engine.record("abcabcab", options, traces=traces)
    assert result.finished.status == "completed"
    fin = result.finished
    assert fin.tested > fin.accepted > 0 and fin.alpha is not None  # the run exercises every count
    return traces, result


def _same_totals(got: RunFinished, want: RunFinished) -> None:
    for name in TOTALS:
        a, b = getattr(got, name), getattr(want, name)
        assert a == pytest.approx(b), name


def test_recording_api_run_gets_the_engines_totals(engine_run, tmp_path):
    traces, result = engine_run
    events = read_events(traces, result.run_id)
    started, body, fin = events[0], events[1:-1], events[-1]
    with open_run(tmp_path, msgspec.structs.replace(started, seq=0, run_id="")) as rec:
        for e in body:
            rec.log(e)
        rec.finish(RunFinished(status="completed", finish_reason="max_tokens"))  # no totals given
    _same_totals(rec.finished, fin)
    row = connect(tmp_path).execute("SELECT tested, accepted, alpha, survival FROM runs").fetchone()
    assert row[:3] == (fin.tested, fin.accepted, pytest.approx(fin.alpha)) and row[3] == pytest.approx(fin.survival)


# Records the same run as the engine fixture, but its Recording dies instead of finishing:
# it prints the engine's own totals, then waits to be killed with every event flushed.
HANGING = r"""
import sys, json, time
sys.path.insert(0, sys.argv[2])
import msgspec
from tiny_models import TinyTokenizer, tiny_model
from specviz.engine import Engine, RunOptions
from specviz.models.loading import register_model
from specviz.recording import Recording

class DiesBeforeFinishing(Recording):
    def finish(self, finished):
        self.flush()
        print(self.run_id, msgspec.json.encode(finished).decode(), flush=True)
        time.sleep(120)

register_model("tiny-totals", tiny_model(10, seed=4, layers=3, scale=0.5), TinyTokenizer(10, eos=False), "tiny-llama")
engine = Engine.from_specs("mlx:tiny-totals", "layerskip:1")
options = RunOptions(k=3, max_tokens=40, temperature=0.9, top_p=0.9, seed=5, baseline="none")
started = engine.started_event("abcabcab", options)
engine._drive(DiesBeforeFinishing(sys.argv[1], started), started, options, None)
"""


def test_recovered_run_gets_the_engines_totals(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", HANGING, str(tmp_path), str(TESTS)], stdout=subprocess.PIPE,
                             text=True, cwd=TESTS.parent)
    try:
        line = child.stdout.readline().strip()
        assert line, "child did not reach finish()"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    run_id, finished_json = line.split(" ", 1)
    want = msgspec.json.decode(finished_json.encode(), type=RunFinished)
    assert want.tested > want.accepted > 0
    report = recover(tmp_path)
    assert [r[0] for r in report.recovered] == [run_id]
    got = read_events(tmp_path, run_id)[-1]
    assert (got.status, got.finish_reason) == ("interrupted", "recovered")
    _same_totals(got, want)
    assert json.loads(json.dumps(got.output_token_ids)) == want.output_token_ids


def test_verify_records_p_and_q_under_the_sampling_transform(engine_run):
    traces, result = engine_run
    verifies = [e for e in read_events(traces, result.run_id) if isinstance(e, Verify)]
    tested = [v for v in verifies if v.status in ("accepted", "rejected")]
    assert tested and any(v.status == "rejected" for v in tested)
    for v in tested:
        # acceptance_prob is min(1, p/q) of exactly these numbers (top-p 0.9 applied to both)
        assert v.acceptance_prob == pytest.approx(min(1.0, v.target_p / v.draft_q))
        assert v.residual_mass == pytest.approx(1.0 - v.overlap)
        assert min(v.target_p, v.draft_q) <= v.overlap + 1e-9 <= 1.0 + 1e-9
        # p after top-p renormalises the kept tokens' softmax(logits / T) mass, or is 0 when cut
        assert v.target_p == 0.0 or v.target_p >= math.exp(v.target_logprob) * (1 - 1e-5)
    assert any(v.target_p > math.exp(v.target_logprob) * 1.001 for v in tested)  # masking did change p
    bonuses = [v for v in verifies if v.status == "bonus"]
    assert bonuses and all(v.target_p is not None and v.draft_q is None for v in bonuses)


def test_mlx_lm_method_goes_through_the_same_builders(engine, tmp_path):
    """mlx_lm's own speculative decoding, recorded: greedy, so p under the transform is
    one-hot on the target's choice: 1 for a kept draft or bonus token, 0 for a losing draft
    (a rejection's two rows both carry p of the draft)."""
    result = engine.record("abcabcab", RunOptions(method="mlx-lm", k=3, max_tokens=24, baseline="none"), traces=tmp_path)
    events = read_events(tmp_path, result.run_id)
    verifies = [e for e in events if isinstance(e, Verify)]
    assert {v.status for v in verifies} >= {"rejected", "resampled"}
    for v in verifies:
        assert v.target_p == (0.0 if v.status in ("rejected", "resampled") else 1.0)
    _same_totals(result.finished, finished_from_events(events, status="completed", finish_reason="max_tokens"))
    assert result.finished.produced == 24 == len(result.token_ids)
