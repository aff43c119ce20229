"""`specviz adapt`: a short real LoRA training run on the bundled model lowers the loss and
writes an adapter mlx_lm can load; the adapted drafter records a valid run whose greedy
output is the target's, token for token; the one-command loop records before and after."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.adapt import TrainConfig, adapt, items_from_prompts
from specviz.engine import Engine, RunOptions
from specviz.engine.drafters import build_drafter
from specviz.engine.drafters.adapters import adapter_hash
from specviz.engine.specs import build_target
from specviz.models.loading import register_model
from specviz.store import list_runs, read_events
from tiny_models import TinyTokenizer, tiny_model

PROMPTS = ["Write a short poem about the sea.", "Explain what a CPU does.", "List three fruits."]


@pytest.fixture(scope="module")
def bundled():
    return build_target("bundled")


def test_training_lowers_loss_and_the_adapter_loads_and_records(bundled, tmp_path):
    items = items_from_prompts(bundled, PROMPTS, max_tokens=12)
    out = tmp_path / "ls4"
    path, result = adapt(bundled, "layerskip:4", items, out, TrainConfig(iters=6, batch_size=2, val_fraction=0.34))
    assert result.losses[-1] < result.losses[0]
    assert {"adapter_config.json", "adapters.safetensors", "specviz_adapter.json"} <= {p.name for p in path.iterdir()}
    meta = json.loads((path / "specviz_adapter.json").read_text())
    assert meta["drafter"] == "layerskip:4" and meta["dataset_fingerprint"] and meta["base_fingerprint"]
    assert 0 <= meta["val_agreement_before"] <= 1 and 0 <= meta["val_agreement_after"] <= 1

    spec = f"layerskip:4+lora:{path}"
    adapted = build_drafter(spec, bundled)  # mlx_lm's load_adapters on the drafter's own layer copies
    options = RunOptions(max_tokens=16, baseline=False)
    outputs = {}
    for label, drafter, method in (("ar", None, "autoregressive"), ("plain", build_drafter("layerskip:4", bundled), "speculative"),
                                   ("adapted", adapted, "speculative")):
        engine = Engine(bundled, drafter, drafter_spec=spec if label == "adapted" else ("layerskip:4" if drafter else "none"))
        result = engine.record(PROMPTS[0], RunOptions(**{**options.__dict__, "method": method}), traces=tmp_path / "traces")
        assert result.finished.status == "completed"
        outputs[label] = result
    # greedy outputs before and after adaptation are the target's, token for token
    assert outputs["plain"].token_ids == outputs["adapted"].token_ids == outputs["ar"].token_ids
    events = read_events(tmp_path / "traces", outputs["adapted"].run_id)
    started = events[0]
    assert started.drafter == spec and started.adapter == str(path) and started.adapter_hash == adapter_hash(path)
    assert any(type(e).__name__ == "DraftToken" and e.draft_source == "model" for e in events)


def test_batched_self_distillation_is_the_targets_greedy_output(bundled):
    """items_from_prompts decodes prompts of equal length in one batch; each row must be
    what a greedy run of the target records, token for token, cut after an EOS."""
    prompts = ["Explain what a CPU is in one sentence.", "Explain what a cat is in one sentence.",
               "Say only the word yes.", "Describe a volcano in one sentence."]
    items = items_from_prompts(bundled, prompts, max_tokens=14, all_positions=True)
    engine = Engine(bundled, None, drafter_spec="none")
    lengths = [len(engine.encode_prompt(p)[0]) for p in prompts]
    assert len(set(lengths)) < len(lengths)  # at least one batch of two rows
    ended = False
    for prompt, item, n_prompt in zip(prompts, items, lengths):
        run = engine.record(prompt, RunOptions(method="autoregressive", max_tokens=14, baseline=False), recording="null")
        assert item.ids == list(run.started.prompt_token_ids) + list(run.token_ids)
        assert item.positions == list(range(1, len(item.ids)))  # all_positions: the prompt's too
        ended |= run.finished.finish_reason == "eos"
    assert ended  # one row stopped at its EOS before max_tokens
    outputs_only = items_from_prompts(bundled, prompts[:1], max_tokens=14)
    assert outputs_only[0].positions == list(range(lengths[0], len(items[0].ids)))


def test_one_command_loop_records_before_and_after(tmp_path):
    register_model("tiny", tiny_model(10, seed=4, layers=3, scale=0.5), TinyTokenizer(10, eos=False), "tiny-llama")
    (tmp_path / "train.txt").write_text("abcabcab\nbcabcabc\ncabcabca\nabababab\n")
    (tmp_path / "eval.jsonl").write_text('{"prompt": "abcab"}\n{"prompt": "cabca"}\n')
    out = tmp_path / "adapter"
    r = CliRunner().invoke(cli, ["--traces", str(tmp_path / "traces"), "adapt", "--drafter", "layerskip:2",
                                 "--target", "mlx:tiny", "--prompts", str(tmp_path / "train.txt"), "--eval-prompts",
                                 str(tmp_path / "eval.jsonl"), "--iters", "3", "--batch-size", "2", "--max-tokens", "8",
                                 "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "held-out agreement" in r.output and "acceptance" in r.output and "→" in r.output
    runs = list_runs(tmp_path / "traces")
    tags = sorted(run.started.tags.get("adapt") for run in runs)
    assert tags == ["after", "after", "before", "before"]
    for run in runs:
        after = run.started.tags.get("adapt") == "after"
        assert run.started.adapter == (str(out) if after else "") and bool(run.started.adapter_hash) == after
        assert run.run_id[:12] in r.output
    before = sorted(run.run_id[:12] for run in runs if run.started.tags.get("adapt") == "before")
    after = {run.started.prompt: run.run_id[:12] for run in runs if run.started.tags.get("adapt") == "after"}
    for run in runs:
        if run.started.tags.get("adapt") == "before":
            assert f"/compare?runs={run.run_id[:12]},{after[run.started.prompt]}" in r.output
    assert len(before) == 2
    bad = CliRunner().invoke(cli, ["adapt", "--drafter", "ngram:3", "--target", "mlx:tiny", "--prompts",
                                   str(tmp_path / "train.txt")])
    assert bad.exit_code == 1 and "model drafters" in bad.output


def test_cli_defaults_are_the_training_defaults():
    from recorder.adapt_cmd import adapt_command
    from specviz.adapt import TrainConfig

    given = {p.name: p.default for p in adapt_command.params}
    config = TrainConfig()
    names = ["iters", "batch_size", "learning_rate", "warmup", "schedule", "teacher", "rank", "seed"]
    assert [given[n] for n in names] == [getattr(config, n) for n in names]


def test_full_teacher_loss_is_the_exact_kl_with_disagreements_weighted():
    """kl_loss with the target's whole distribution is KL(target || drafter) over the
    vocabulary, averaged over the trained positions, those where the drafter's argmax
    misses the target's counting disagree_weight times (checked against numpy)."""
    import mlx.core as mx
    import numpy as np

    from specviz.adapt.session import make_student
    from specviz.adapt.train import Item, _batch, kl_loss, with_full_teacher

    register_model("tiny-kl", tiny_model(12, seed=7, layers=3, scale=0.5), TinyTokenizer(12, eos=False), "tiny-llama")
    target = build_target("mlx:tiny-kl")
    student = make_student(target, "layerskip:1")[0]
    items = [Item([1, 4, 2, 7, 3, 9], [2, 3, 5]), Item([5, 5, 8, 0], [1, 3])]
    batch = with_full_teacher(target.model, _batch(items, None))
    batch.disagree_weight = 3.0

    def logp(model):
        z = np.asarray(model(batch.inputs).astype(mx.float32))
        return z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) - z.max(-1, keepdims=True)

    t, s = logp(target.model), logp(student)
    kl = (np.exp(t) * (t - s)).sum(-1)
    mask = np.asarray(batch.mask)
    weight = mask * np.where(t.argmax(-1) != s.argmax(-1), 3.0, 1.0)
    assert mask.sum() == 5 and (weight > mask).any()  # some trained position disagrees
    assert float(kl_loss(student, batch)) == pytest.approx(float((kl * weight).sum() / weight.sum()), rel=1e-4)


def test_learning_rate_warms_up_then_decays_to_zero():
    from specviz.adapt.train import learning_rate

    schedule = learning_rate(TrainConfig(iters=50, learning_rate=1e-3, warmup=10, schedule="cosine"))
    rates = [float(schedule(mx_step)) for mx_step in range(50)]
    assert rates[0] == pytest.approx(1e-5) and max(rates) == pytest.approx(1e-3, rel=1e-3)
    assert rates.index(max(rates)) == 10 and rates[-1] < 2e-5
    assert all(a <= b for a, b in zip(rates[:10], rates[1:11])) and all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert learning_rate(TrainConfig(learning_rate=3e-4, warmup=0, schedule="constant")) == 3e-4
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate(TrainConfig(schedule="step"))
