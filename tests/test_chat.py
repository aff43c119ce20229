"""`specviz chat` driven through stdin: prompts stream and are recorded as runs; /k,
/drafter, /temperature change the next turn; /stats summarises; bad commands don't crash."""

from __future__ import annotations

from click.testing import CliRunner

from recorder.cli import cli
from specviz.models.loading import register_model
from specviz.store import list_runs
from tiny_models import TinyTokenizer, tiny_model


def test_chat_turns_are_runs_and_commands_apply(tmp_path):
    register_model("tiny", tiny_model(10, seed=4, layers=3, scale=0.5), TinyTokenizer(10, eos=False), "tiny-llama")
    script = "\n".join([
        "abcabc", "/k 6", "/drafter nasd:3", "/temperature 0.7", "/stats", "ababab",
        "/k zero", "/k 0", "/temperature hot", "/drafter bogus", "/nonsense", "/quit", "never recorded",
    ]) + "\n"
    r = CliRunner().invoke(cli, ["--traces", str(tmp_path), "chat", "--target", "mlx:tiny", "--max-tokens", "8"],
                           input=script, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    runs = sorted(list_runs(tmp_path), key=lambda s: s.started.t_wall_ns)
    assert [(s.started.drafter, s.started.k, s.started.temperature) for s in runs] == [("ngram:3", 4, 0.0), ("nasd:3", 6, 0.7)]
    assert all(s.started.tags.get("chat") == "1" and s.finished.produced == 8 for s in runs)
    out = r.output
    assert "k = 6" in out and "drafter = nasd:3" in out and "temperature = 0.7" in out
    assert f"1 turns · 8 tokens" in out and runs[0].run_id in out  # /stats after the first turn
    assert "error:" in out and "bad drafter 'bogus'" in out and "/stats" in out  # errors and help, no traceback
    assert "Traceback" not in out
    # Mistyped numbers say what the command takes, in words, not Python's int() message.
    assert "error: /k takes a whole number of draft tokens, 1 or more, not 'zero'" in out
    assert "error: /k takes a whole number of draft tokens, 1 or more, not '0'" in out
    assert "error: /temperature takes a number, 0 (greedy) or more, not 'hot'" in out and "invalid literal" not in out
