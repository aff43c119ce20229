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
# A sampled layerskip run recorded by the engine at schema 1.0 (formerly in traces/examples):
# no target_p/draft_q columns, so the audit takes p/q from the logprobs (top-p 1).
SCHEMA_1_0 = Path(__file__).resolve().parent / "fixtures" / "schema_1_0"


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
    assert verdicts["300a"].startswith("unverified: autoregressive")
    assert verdicts["eb98"] == "lossless" and verdicts["7649"] == "lossless"
    sampled = next(r for r in report["runs"] if r["run_id"].startswith("c05a"))["audit"]
    assert sampled["p_source"] == "target_p/draft_q" and sampled["verdict"] == "lossless"
    ngram = next(g for g in report["groups"] if "ngram" in g["label"])
    assert ngram["k"]["best_k"] in ngram["k"]["ks"] and len(ngram["k"]["tau"]) == 16
    pos0 = ngram["per_position"]
    assert pos0["lo"][0] <= pos0["rate"][0] <= pos0["hi"][0]
    auto = next(g for g in report["groups"] if g["label"].startswith("autoregressive"))
    assert auto["k"] is None and "not measured" in auto["notes"][0]


def test_a_schema_1_0_trace_is_audited_from_its_logprobs(tmp_path):
    for source in (EXAMPLES, SCHEMA_1_0):  # old and new files in one store: one analysis over both
        shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    out = invoke("--traces", str(tmp_path), "analyze", "d008", "c05a", "--format", "json")
    assert out.exit_code == 0, out.output
    audits = {r["run_id"][:4]: r["audit"] for r in json.loads(out.output)["runs"]}
    assert audits["d008"]["p_source"] == "logprobs" and audits["d008"]["verdict"] == "lossless"
    assert audits["c05a"]["p_source"] == "target_p/draft_q" and audits["c05a"]["verdict"] == "lossless"


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


def test_analysis_over_files_packed_since_says_so(tmp_path):
    """A recording compacts as it goes: files a connection was opened over can be packed
    while it is used. The analysis then says which and to run it again, as `specviz sql`
    does, not DuckDB's 'Cannot access file ".../run-x.parquet/**/*.parquet"'."""
    from specviz.analysis import analyze
    from specviz.sql import connect
    from specviz.store.compact import compact
    from specviz.store.layout import TraceError

    traces = tmp_path / "traces"
    shutil.copytree(EXAMPLES, traces)  # five runs recorded with the bundled model, as files
    con = connect(traces)
    assert len(analyze(con).runs) == 5
    compact(traces)
    with pytest.raises(TraceError, match=r"run-\w+\.parquet was packed or removed after the traces were opened"):
        analyze(con)
    assert len(analyze(connect(traces)).runs) == 5
