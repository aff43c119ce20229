"""`specviz record` / `specviz sweep` through CliRunner on a tiny in-memory model, and the
recording runner's failure paths (interrupted, failed) keeping their events."""

from __future__ import annotations

import json

import pytest
import click
from click.testing import CliRunner

from recorder.cli import cli
from specviz.engine import Engine, RunOptions
from specviz.models.loading import register_model
from specviz.targets.base import TargetError
from specviz.store import list_runs, read_events
from tiny_models import TinyTokenizer, tiny_model

V = 10


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    register_model("tiny", tiny_model(V, seed=4, layers=3, scale=0.5), TinyTokenizer(V, eos=False), "tiny-llama")


def invoke(tmp_path, *args, env=None):
    return CliRunner().invoke(cli, ["--traces", str(tmp_path), *args], env=env or {}, catch_exceptions=False)


def test_record_streams_summarises_and_stores(tmp_path):
    r = invoke(tmp_path, "record", "abcabcab", "--target", "mlx:tiny", "--max-tokens", "12", "-k", "3", "--seed", "1")
    assert r.exit_code == 0, r.output
    last = r.output.strip().splitlines()[-1]
    assert "12 tokens" in last and "τ" in last and "tok/s" in last and "run " in last
    (run,) = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    started, finished = events[0], events[-1]
    assert started.target == "mlx:tiny" and started.drafter == "ngram:3" and started.acceptance_rule == "rejection-sampling"
    assert started.versions.get("mlx") and started.k == 3
    assert finished.status == "completed" and finished.produced == 12 == len(finished.output_token_ids)
    verdicts = [e for e in events if type(e).__name__ == "Verify" and e.status != "rejected"]
    assert [v.token_id for v in verdicts] == finished.output_token_ids
    # the streamed text is the decode of the ids
    assert finished.output_text in r.output
    # recorded numbers are log-probabilities, entropies and sorted alternatives
    for v in verdicts:
        assert v.final_logprob <= 1e-6 and v.target_entropy >= -1e-6
        assert [t.logprob for t in v.top] == sorted((t.logprob for t in v.top), reverse=True) and len(v.top) == 5
        assert v.top[0].id == v.token_id  # greedy: the chosen token is the target's best


def test_autoregressive_and_env_defaults(tmp_path):
    r = invoke(tmp_path, "record", "abc", "--target", "mlx:tiny", env={"SPECVIZ_METHOD": "autoregressive", "SPECVIZ_MAX_TOKENS": "5"})
    assert r.exit_code == 0, r.output
    (run,) = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    assert events[0].method == "autoregressive" and events[0].k == 0 and events[0].acceptance_rule == "none"
    assert {e.status for e in events if type(e).__name__ == "Verify"} == {"bonus"}
    assert events[-1].produced == 5 and events[-1].rounds == 5


def test_speedup_uses_a_stored_autoregressive_baseline(tmp_path):
    assert invoke(tmp_path, "record", "abab", "--target", "mlx:tiny", "--method", "autoregressive", "--max-tokens", "6").exit_code == 0
    assert invoke(tmp_path, "record", "abab", "--target", "mlx:tiny", "--max-tokens", "6").exit_code == 0
    spec = [r for r in list_runs(tmp_path) if r.started.method == "speculative"][0]
    ar = [r for r in list_runs(tmp_path) if r.started.method == "autoregressive"][0]
    assert spec.finished.baseline_estimated is False
    assert spec.finished.baseline_tokens_per_s == pytest.approx(ar.finished.tokens_per_s)


def test_prompts_file_lines_and_jsonl(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "abc"}\n\nbcd\n')
    r = invoke(tmp_path, "record", "--prompts", str(f), "--target", "mlx:tiny", "--max-tokens", "4")
    assert r.exit_code == 0, r.output
    assert sum("4 tokens" in line for line in r.output.splitlines()) == 2
    assert sorted(run.started.prompt for run in list_runs(tmp_path)) == ["abc", "bcd"]


def test_sweep_grid(tmp_path):
    r = invoke(tmp_path, "sweep", "abcab", "--target", "mlx:tiny", "-k", "1,2", "--temperature", "0,0.7",
               "--drafter", "ngram,layerskip:1", "--max-tokens", "4", "--seed", "3")
    assert r.exit_code == 0, r.output
    runs = list_runs(tmp_path)
    assert len(runs) == 2 + 2 * 2 * 2  # baselines per temperature + the grid
    assert {(x.started.drafter, x.started.k) for x in runs} >= {("ngram:3", 1), ("layerskip:1", 2), ("none", 0)}
    # Each run's line gives K as recorded: 0 for the autoregressive baselines (it said k=1).
    baselines = [line for line in r.stdout.splitlines() if line.startswith("autoregressive")]
    assert len(baselines) == 2 and all(" k=0 " in line for line in baselines), baselines


@pytest.mark.parametrize(
    "args, message",
    [
        (["--drafter", "bogus"], "bad drafter"),
        (["--target", "nope"], "bad target"),
        (["--target", "mlx:./missing-model"], "no MLX-LM model directory"),
        (["--method", "mlx-lm"], "--method mlx-lm needs"),
        (["--drafter", "layerskip:99"], "layerskip:N needs"),
        (["--target", "openai:ftp://x"], "http(s) URL"),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    base = ["record", "abc", "--max-tokens", "3"]
    if "--target" not in args:
        base += ["--target", "mlx:tiny"]
    r = CliRunner().invoke(cli, ["--traces", str(tmp_path), *base, *args])
    assert r.exit_code == 1, r.output
    assert r.output.startswith("Error: ") and message in r.output and "Traceback" not in r.output


def test_vocabulary_mismatch_is_a_clear_error(tmp_path):
    register_model("tiny-other-vocab", tiny_model(V + 2, seed=5), TinyTokenizer(V + 2, eos=False))
    r = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", "abc", "--target", "mlx:tiny", "--drafter", "mlx:tiny-other-vocab"])
    assert r.exit_code == 1 and "does not share the target's vocabulary" in r.output


def test_every_command_has_help():
    for name in ("record", "sweep"):
        cmd = cli.get_command(click.Context(cli), name)  # commands load on first use
        assert cmd.help
        for p in cmd.params:
            if p.param_type_name == "option":
                assert p.help, (name, p.name)
                assert p.envvar, (name, p.name)


class Boom:
    """A drafter that fails on its n-th proposal."""

    spec = "boom"
    model_name = ""

    def __init__(self, exc, after=1):
        self.exc, self.after = exc, after

    def prefill(self, ids):
        pass

    def propose(self, context, k, ctx):
        from specviz.engine.drafters import NgramDrafter

        if self.after == 0:
            raise self.exc
        self.after -= 1
        return NgramDrafter(2).propose(context, k, ctx)


def _engine(drafter):
    from specviz.engine.specs import build_target

    return Engine(build_target("mlx:tiny"), drafter, target_spec="mlx:tiny", drafter_spec=drafter.spec)


def test_ctrl_c_ends_interrupted_with_events_kept(tmp_path):
    result = _engine(Boom(KeyboardInterrupt(), after=2)).record("abab", RunOptions(max_tokens=20), traces=tmp_path)
    assert result.finished.status == "interrupted" and result.finished.rounds == 2
    events = read_events(tmp_path, result.run_id)
    assert events[-1].status == "interrupted" and sum(type(e).__name__ == "RoundMetrics" for e in events) == 2


def test_target_error_fails_the_run_keeping_events(tmp_path):
    result = _engine(Boom(TargetError("server said no"), after=1)).record("abab", RunOptions(max_tokens=20), traces=tmp_path)
    assert result.finished.status == "failed" and result.error == "server said no"
    events = read_events(tmp_path, result.run_id)
    errors = [e for e in events if type(e).__name__ == "Error"]
    assert errors and errors[0].message == "server said no" and errors[0].retryable is False
    assert sum(type(e).__name__ == "RoundMetrics" for e in events) == 1


def test_mlx_lm_method_recorded_in_the_same_schema(tmp_path):
    ar = invoke(tmp_path, "record", "abcab", "--target", "mlx:tiny", "--method", "autoregressive", "--max-tokens", "9")
    ml = invoke(tmp_path, "record", "abcab", "--target", "mlx:tiny", "--method", "mlx-lm", "--drafter", "layerskip:2",
                "-k", "3", "--max-tokens", "9")
    assert ar.exit_code == 0 and ml.exit_code == 0, ml.output
    runs = {r.started.method: r for r in list_runs(tmp_path)}
    assert runs["mlx-lm"].started.acceptance_rule == "exact-match"
    assert runs["mlx-lm"].finished.output_token_ids == runs["autoregressive"].finished.output_token_ids
    events = read_events(tmp_path, runs["mlx-lm"].run_id)
    f = events[-1]
    assert f.produced == 9 and f.accepted <= f.tested <= f.drafted
    for e in events:
        if type(e).__name__ == "RoundMetrics":
            assert e.produced == e.accepted + (1 if e.produced > e.accepted else 0)


def test_a_compaction_that_cannot_run_is_one_warning_line(tmp_path):
    """The run that makes its day due for auto compaction, with the compaction lock refused
    (a FIFO in its place): the run is recorded and the failure is one `warning:` line, not
    Python's two-line warning with specviz's source path and code."""
    import os

    import store_sample
    from specviz.store.compact import AUTO

    for _ in range(AUTO.min_files + AUTO.keep_recent):
        store_sample.record(tmp_path)
    lock = tmp_path / "_live" / "compact.lock"
    lock.unlink(missing_ok=True)
    os.mkfifo(lock)
    # The command as a user runs it, with the bundled model: Python shows the warning
    # itself there (pytest would only record it).
    import subprocess
    import sys
    from pathlib import Path

    specviz = Path(sys.executable).parent / "specviz"
    r = subprocess.run([str(specviz), "--traces", str(tmp_path), "record", "Hi", "--max-tokens", "3", "--baseline",
                        "none"], capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert len(list_runs(tmp_path)) == AUTO.min_files + AUTO.keep_recent + 1
    lines = [line for line in r.stderr.splitlines() if "compact" in line or "finish(" in line]
    assert lines == [f"warning: traces not compacted: cannot lock {lock} for compaction: not a regular file"], r.stderr
