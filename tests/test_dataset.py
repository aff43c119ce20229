"""`specviz dataset`: rows materialise to the exact contexts the engine handed the drafter and
the target, carry the recorded verdicts and numbers, and are written as Parquet and JSONL."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import NgramDrafter
from specviz.targets.local import LocalTarget
from specviz.models.loading import register_model
from specviz.targets.base import ScoreRequest
from specviz.sampling_params import SamplingParams
from tiny_models import TinyTokenizer, tiny_model

V = 10


class CapturingDrafter(NgramDrafter):
    """Prompt lookup that remembers every context it was given and what it proposed."""

    def __init__(self):
        super().__init__(2, spec="ngram:2")
        self.seen: list[tuple[list[int], list[int]]] = []

    def propose(self, context, k, ctx=None):
        draft = super().propose(context, k, ctx)
        self.seen.append((list(context), draft.ids))
        return draft


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    model, tok = tiny_model(V, seed=4, layers=3, scale=0.5), TinyTokenizer(V, eos=False)
    register_model("tiny", model, tok, "tiny-llama")
    traces = tmp_path_factory.mktemp("traces")
    runs = []
    for prompt, seed in (("abcabcabcab", 1), ("abababcdcdab", 2)):
        drafter = CapturingDrafter()
        engine = Engine(LocalTarget(model, tok, spec="mlx:tiny", model_name="tiny-llama"), drafter,
                        target_spec="mlx:tiny", drafter_spec="ngram:2")
        result = engine.record(prompt, RunOptions(k=3, max_tokens=30, temperature=0.8, seed=seed, baseline=False),
                               traces=traces)
        runs.append((result, drafter.seen))
    return traces, runs, model, tok


def test_rows_are_the_contexts_the_engine_saw(recorded, tmp_path):
    traces, runs, model, tok = recorded
    out = tmp_path / "d.parquet"
    r = CliRunner().invoke(cli, ["--traces", str(traces), "dataset", *(res.run_id[:8] for res, _ in runs), "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out).to_pylist()
    target = LocalTarget(model, tok, spec="mlx:tiny", model_name="tiny-llama")
    statuses = set()
    for result, seen in runs:
        mine = [row for row in rows if row["run_id"] == result.run_id]
        assert len(mine) == result.finished.tested  # one row per tested draft position
        for row in mine:
            context, draft = seen[row["round"]]
            assert row["context_ids"] == context + draft[: row["position"]]
            assert row["draft_token_id"] == draft[row["position"]]
            statuses.add(row["accepted"])
            # the target's numbers belong to that context: recompute them from the model
            logits = np.asarray(target.score(row["context_ids"], [], ScoreRequest(round=0, sampling=SamplingParams())).logits)
            x = logits[-1] / 0.8
            logp = x - np.log(np.exp(x - x.max()).sum()) - x.max()
            assert row["target_logprob"] == pytest.approx(float(logp[row["draft_token_id"]]), abs=1e-4)
            assert [t["id"] for t in row["target_top"]] == list(np.argsort(-logp, kind="stable")[:5])
            if row["accepted"]:
                assert row["target_token_id"] == row["draft_token_id"]
    assert statuses == {True, False}  # the fixture has both verdicts


def test_rejected_only_where_and_jsonl(recorded, tmp_path):
    traces, runs, _, tok = recorded
    out = tmp_path / "rejected.jsonl"
    r = CliRunner().invoke(cli, ["--traces", str(traces), "dataset", "--where", "drafter = 'ngram:2'", "--rejected-only",
                                 "-o", str(out), "--tokenizer", "mlx:tiny"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    rejected = sum(res.finished.tested - res.finished.accepted for res, _ in runs)
    assert len(lines) == rejected and f"{rejected} rows from 2 runs" in r.output
    for line in lines:
        assert line["accepted"] is False and line["target_token_id"] != line["draft_token_id"]
        assert line["text"] == tok.decode(line["context_ids"] + [line["target_token_id"]])


def test_nothing_selected_is_a_one_line_error(recorded, tmp_path):
    traces, *_ = recorded
    r = CliRunner().invoke(cli, ["--traces", str(traces), "dataset", "--where", "k = 99", "-o", str(tmp_path / "x.parquet")])
    assert r.exit_code == 1 and "no runs selected" in r.output and "Traceback" not in r.output
