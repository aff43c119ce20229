"""The drafter registry: specs parsed and rejected from each kind's declaration, help text
generated from it, a new drafter added with one module plus its registration line, and
n-gram drafts recording where each token came from."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import toy_drafter
from recorder.cli import cli
from specviz.engine.drafters import parse_drafter, register, registry
from specviz.engine.errors import EngineError
from specviz.models.loading import register_model
from specviz.store import list_runs, read_events
from tiny_models import TinyTokenizer, tiny_model

V = 10


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    register_model("tiny", tiny_model(V, seed=4, layers=3, scale=0.5), TinyTokenizer(V, eos=False), "tiny-llama")


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))


def invoke(tmp_path, *args):
    return CliRunner().invoke(cli, ["--traces", str(tmp_path), *args], catch_exceptions=False)


@pytest.mark.parametrize("spec, text", [
    ("ngram", "ngram:3"), ("ngram:2", "ngram:2"), ("layerskip:08", "layerskip:8"), ("mlx:org/model", "mlx:org/model"),
    ("", "none"), ("none", "none"),
])
def test_specs_parse_to_canonical_text(spec, text):
    assert parse_drafter(spec).text == text


@pytest.mark.parametrize("spec, message", [
    ("bogus", "use ngram[:N], nasd[:N], layerskip:N, mlx:<repo or path>, none"),
    ("ngram:0", "ngram:N needs N >= 1"),
    ("layerskip", "layerskip:N needs a number"),
    ("mlx:", "needs a Hugging Face repo id"),
    ("ngram:3+lora:x", "ngram has no option 'lora'"),
])
def test_bad_specs_say_what_is_accepted(spec, message):
    with pytest.raises(EngineError, match="bad drafter") as err:
        parse_drafter(spec)
    assert message in str(err.value)


def test_help_and_models_listing_come_from_the_registry(tmp_path, scratch_registry):
    register(toy_drafter.KIND)
    models = invoke(tmp_path, "models").output
    for kind in registry.kinds():
        assert kind.syntax in models and kind.help in models
    assert "+shift" in models and "add S to the echoed id" in models
    # the --drafter help is generated when the command module is built: the built-ins are in it
    help_text = " ".join(invoke(tmp_path, "record", "--help").output.split())
    assert "ngram[:N], nasd[:N], layerskip:N, mlx:<repo or path>, none" in help_text


def test_a_new_drafter_is_one_module_plus_its_registration_line(tmp_path, scratch_registry):
    with pytest.raises(EngineError):
        parse_drafter("echo")
    register(toy_drafter.KIND)  # the registration line
    assert parse_drafter("echo+shift:03").text == "echo:1+shift:3"
    r = invoke(tmp_path, "record", "abcab", "--target", "mlx:tiny", "--drafter", "echo:2+shift:1", "-k", "3",
               "--max-tokens", "10")
    assert r.exit_code == 0, r.output
    (run,) = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    assert events[0].drafter == "echo:2+shift:1" and events[-1].status == "completed"
    drafts = [e for e in events if type(e).__name__ == "DraftToken"]
    assert drafts and {d.draft_source for d in drafts} == {"echo"}
    context = list(events[0].prompt_token_ids)
    for rnd in range(events[-1].rounds):
        proposed = [d.token_id for d in drafts if d.round == rnd]
        assert proposed == [(context[-2] + 1) % V] * len(proposed)
        context += [e.token_id for e in events if type(e).__name__ == "Verify" and e.round == rnd and e.status != "rejected"]
    bad = invoke(tmp_path, "record", "ab", "--target", "mlx:tiny", "--drafter", "echo+shift:x")
    assert bad.exit_code == 1 and "bad drafter" in bad.output and "Traceback" not in bad.output


def test_ngram_drafts_record_order_and_source_position(tmp_path):
    r = invoke(tmp_path, "record", "abcdabcdabcdab", "--target", "mlx:tiny", "--drafter", "ngram:3", "-k", "4",
               "--max-tokens", "16")
    assert r.exit_code == 0, r.output
    (run,) = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    drafts = [e for e in events if type(e).__name__ == "DraftToken"]
    assert drafts
    context = list(events[0].prompt_token_ids)
    for rnd in range(events[-1].rounds):
        for d in (d for d in drafts if d.round == rnd):
            assert d.draft_source == "ngram" and 1 <= d.ngram_n <= 3
            assert context[d.source_pos] == d.token_id
            # the n tokens before the first copied one are the context's last n
            first = d.source_pos - d.position
            assert context[first - d.ngram_n : first] == context[-d.ngram_n :]
            assert first < len(context)
        context += [e.token_id for e in events if type(e).__name__ == "Verify" and e.round == rnd and e.status != "rejected"]
    from specviz.sql import connect

    rows = connect(tmp_path).sql("SELECT ngram_n, source_pos, draft_source FROM drafts ORDER BY seq").fetchall()
    assert rows == [(d.ngram_n, d.source_pos, d.draft_source) for d in drafts]
