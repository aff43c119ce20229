"""`-k auto` on the bundled model: the policy and every round's chosen K are recorded, K
grows while an n-gram copy keeps being accepted, and analyze reads the run."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from recorder.cli import cli
from specviz.engine.adaptive import START_K, AdaptiveK
from specviz.events import DraftToken, RoundMetrics, RunStarted
from specviz.store import list_runs, read_events

PROMPT = ("Copy this list exactly, twice: red apple, green pear, yellow banana, purple plum, "
          "orange peach, red apple, green pear, yellow banana, purple plum, orange peach.")


def test_k_auto_records_policy_and_each_rounds_k(tmp_path):
    out = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", PROMPT, "-k", "auto", "--max-tokens", "80"])
    assert out.exit_code == 0, out.output
    [run] = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    started = events[0]
    assert isinstance(started, RunStarted) and started.k_policy == "auto" and started.k == 16
    rounds = [e for e in events if isinstance(e, RoundMetrics)]
    # K shrinks to 0 in a last round at the token limit, as a fixed K does
    assert rounds and all(r.k is not None and 0 <= r.k <= 16 for r in rounds)
    assert all(r.drafted <= r.k for r in rounds)
    drafts = {}
    for e in events:
        if isinstance(e, DraftToken):
            drafts[e.round] = drafts.get(e.round, 0) + 1
    assert all(drafts.get(r.round, 0) == r.drafted for r in rounds)
    assert rounds[0].k == START_K  # later choices depend on measured times: see the policy test below
    report = json.loads(CliRunner().invoke(cli, ["--traces", str(tmp_path), "analyze", "--format", "json"]).output)
    [r] = report["runs"]
    assert r["k_policy"] == "auto" and r["replay_note"].startswith("not replayed: adaptive K")


def test_policy_lengthens_k_while_drafts_pass_and_shortens_it_when_they_fail():
    """The real policy fed rounds with fixed costs (a 20 ms target step, +0.5 ms per scored
    token, n-gram drafts costing nothing), so its choices do not depend on machine load."""
    copying = AdaptiveK()
    for _ in range(30):
        k = copying.choose()
        copying.observe(k, k, k, k, 0.01, 20 + 0.5 * (k + 1), 20.5 + 0.5 * (k + 1))
    assert copying.choose() == 16
    failing = AdaptiveK()
    for _ in range(30):
        k = failing.choose()
        failing.observe(k, k, 1, 0, 0.01, 20 + 0.5 * (k + 1), 20.5 + 0.5 * (k + 1))
    assert failing.choose() == 1
    # steep verify costs make a long draft not worth it even when half the drafts pass
    costly = AdaptiveK()
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = costly.choose()
        passes = rng.random(k) < 0.5
        accepted = int(np.argmin(passes)) if not passes.all() else k
        costly.observe(k, k, min(k, accepted + 1), accepted, 0.01, 20 + 15 * (k + 1), 20.5 + 15 * (k + 1))
    assert costly.choose() <= 2


def test_k_must_be_a_positive_integer_or_auto(tmp_path):
    out = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", "hi", "-k", "fast"])
    assert out.exit_code == 2 and "neither a positive integer nor auto" in out.output
