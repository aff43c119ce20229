"""The target registry: specs parsed and built through it, and a new kind of target added
with one module (tests/toy_target.py) plus one registration line, recorded end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.store import list_runs, read_events
from specviz.targets import registry
from specviz.targets.base import RULE_FOR_CAPABILITY, TargetError


@pytest.fixture
def toy_kind():
    registry.register(registry.TargetKind("toy", "toy:<step>", "counts up by <step>", "toy_target:build", pattern=r"\d+"))
    yield
    registry.unregister("toy")


def test_a_toy_target_is_one_module_plus_a_registration_line(toy_kind, tmp_path):
    result = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", "abc", "--target", "toy:1", "--drafter",
                                      "ngram:1", "--max-tokens", "8", "-k", "2", "--no-chat-template"])
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    started, finished = events[0], events[-1]
    assert (started.target, started.target_model, started.acceptance_rule) == ("toy:1", "counting-by-1", "rejection-sampling")
    # greedy over a counting model: each token is the one before plus one, from the prompt's last ("c" = 2)
    assert finished.status == "completed" and finished.output_token_ids == [(3 + i) % 10 for i in range(8)]
    assert f"  {'toy:<step>':<24} counts up by <step>\n" in CliRunner().invoke(cli, ["models"]).output


def test_specs_are_parsed_by_the_registry():
    assert registry.parse_target(" openai:http://127.0.0.1:8080/v1 ") == registry.TargetSpec(
        "openai", "http://127.0.0.1:8080/v1", "openai:http://127.0.0.1:8080/v1")
    assert registry.parse_target("bundled") == registry.TargetSpec("bundled", "", "bundled")
    assert registry.parse_target("mlx:org/model").source == "org/model"
    for bad, message in [("nope", "use bundled, mlx:<repo or path> or openai:<base URL>"), ("bundled:x", "use "),
                         ("mlx:", "use "), ("openai:ftp://x", "needs an http")]:
        with pytest.raises(TargetError, match=message):
            registry.parse_target(bad)


def test_the_acceptance_rule_is_stated_once_per_capability():
    assert RULE_FOR_CAPABILITY == {"full": "rejection-sampling", "topk": "rejection-sampling-topk",
                                   "generate": "exact-match"}


def test_parsing_specs_loads_neither_mlx_nor_an_http_client():
    code = ("import sys; from specviz.targets import registry; registry.parse_target('openai:http://x/v1'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlx', 'mlx_lm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
