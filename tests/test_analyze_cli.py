"""`specviz analyze` on the committed example traces: text and JSON reports, the
degradations on traces without 1.1 fields, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "traces" / "examples"


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    d = tmp_path_factory.mktemp("examples")
    shutil.copytree(EXAMPLES, d, dirs_exist_ok=True)
    return str(d)


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_json_report_over_every_run(examples):
    out = invoke("--traces", examples, "analyze", "--format", "json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert len(report["runs"]) == 5
    verdicts = {r["run_id"][:4]: r["audit"]["verdict"] for r in report["runs"]}
    assert verdicts["0fb9"].startswith("unverified: autoregressive")
    assert verdicts["8ebf"] == "lossless" and verdicts["7842"] == "lossless"
    sampled = next(r for r in report["runs"] if r["run_id"].startswith("d008"))["audit"]
    # recorded before schema 1.1 (no target_p/draft_q): p/q from the logprobs at top-p 1
    assert sampled["p_source"] == "logprobs" and sampled["verdict"] == "lossless"
    ngram = next(g for g in report["groups"] if "ngram" in g["label"])
    assert ngram["k"]["best_k"] in ngram["k"]["ks"] and len(ngram["k"]["tau"]) == 16
    pos0 = ngram["per_position"]
    assert pos0["lo"][0] <= pos0["rate"][0] <= pos0["hi"][0]
    auto = next(g for g in report["groups"] if g["label"].startswith("autoregressive"))
    assert auto["k"] is None and "not measured" in auto["notes"][0]


def test_text_report_and_where(examples):
    out = invoke("--traces", examples, "analyze", "--where", "drafter LIKE 'ngram%'")
    assert out.exit_code == 0, out.output
    assert "2 runs" in out.output.splitlines()[0]
    for needle in ("Acceptance per draft position", "Best fixed K in hindsight", "Oracle K per round",
                   "draft_acceptance_rate", "spec_accept_length", "draft_n_accepted/draft_n", "replay τ/rounds"):
        assert needle in out.output, needle


@pytest.mark.parametrize("args,message", [
    (("analyze", "zzzz"), "Error: no run 'zzzz'"),
    (("analyze", "--where", "1=1; DROP TABLE runs"), "Error: malformed SQL"),
    (("analyze", "--where", "no_such_column = 1"), "Error:"),
    (("analyze", "--where", "k = 99"), "Error: no runs selected"),
])
def test_user_errors_are_one_line(examples, args, message):
    out = invoke("--traces", examples, *args)
    assert out.exit_code == 1
    assert out.output.startswith(message) and len(out.output.strip().splitlines()) == 1, out.output
