"""One adaptation: training sequences from prompts (self-distillation), a dataset file or
runs; a LoRA-adapted student trained toward the target; an adapter directory written in
mlx_lm's format with what it was trained for, on what, and how well it agrees.

    from specviz.adapt import adapt
    report = adapt(target, "layerskip:8", items_from_prompts(target, prompts), "adapters/ls8")
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

import mlx.core as mx

from specviz.adapt.train import Item, TrainConfig, TrainResult, lora_student, lora_weights, train
from specviz.engine.drafters import parse_drafter
from specviz.engine.drafters.adapters import META
from specviz.engine.errors import EngineError


def items_from_prompts(target: Any, prompts: list[str], max_tokens: int = 48, all_positions: bool = False) -> list[Item]:
    """Self-distillation data: each prompt (chat template applied as ``record`` does) and
    the target's own greedy continuation (batched: ``selfdistill``). Trained positions: the
    continuation's, or with ``all_positions`` every position after the first (the prompt's
    too: more of the target's distributions per sequence, at no extra forward cost)."""
    from specviz.adapt.selfdistill import greedy_continuations
    from specviz.engine import Engine

    engine = Engine(target, None, drafter_spec="none")
    encoded = [engine.encode_prompt(p)[0] for p in prompts]
    outputs = greedy_continuations(target.model, encoded, max_tokens, set(target.eos_token_ids))
    items = []
    for ids, out in zip(encoded, outputs):
        if out:
            items.append(Item(ids + out, list(range(1 if all_positions else len(ids), len(ids) + len(out)))))
    return items


def items_from_table(table: Any) -> list[Item]:
    """Training data from a ``specviz dataset`` table: per run, the longest recorded context
    plus its target token, trained at the dataset's positions only (e.g. the rejected ones)."""
    rows = table.select(["run_id", "context_ids", "target_token_id"]).to_pylist()
    by_run: dict[str, list[dict]] = {}
    for row in rows:
        by_run.setdefault(row["run_id"], []).append(row)
    items = []
    for run_rows in by_run.values():
        last = max(run_rows, key=lambda r: len(r["context_ids"]))
        ids = list(last["context_ids"]) + [last["target_token_id"]]
        positions = sorted({len(r["context_ids"]) for r in run_rows})
        if any(ids[len(r["context_ids"])] != r["target_token_id"] for r in run_rows):
            raise EngineError("dataset rows of one run disagree on its tokens; was it written by specviz dataset?")
        items.append(Item(ids, positions))
    return items


def make_student(target: Any, drafter: str) -> tuple[Any, int, str]:
    """(trainable copy of the drafter's model, layers to put LoRA on, canonical drafter spec)."""
    d = parse_drafter(drafter)
    if d.options:
        raise EngineError(f"adapt starts from a plain drafter, got {d.text}")
    if d.kind == "layerskip":
        from specviz.engine.drafters.lora import EarlyExitModule

        return EarlyExitModule(target.model, d.n), d.n, d.text
    if d.kind == "mlx":
        from specviz.models.loading import load_mlx

        model = copy.deepcopy(load_mlx(d.arg)[0])
        return model, len(model.layers), d.text
    raise EngineError(f"adapt trains model drafters (layerskip:N, mlx:<model>), not {d.text}")


def fingerprint(items: list[Item]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps([it.ids, it.positions]).encode())
    return h.hexdigest()[:16]


def model_fingerprint(target: Any) -> str:
    args = getattr(target.model, "args", None)
    described = json.dumps(vars(args) if args is not None else {}, sort_keys=True, default=str)
    return hashlib.sha256(f"{target.model_name}|{described}".encode()).hexdigest()[:16]


def save_adapter(out: str | Path, student: Any, num_layers: int, lora: dict, meta: dict) -> Path:
    """mlx_lm's adapter files (loadable by ``mlx_lm.tuner.utils.load_adapters``) + specviz's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), lora_weights(student))
    config = {"fine_tune_type": "lora", "num_layers": num_layers, "lora_parameters": lora}
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    (out / META).write_text(json.dumps(meta, indent=2))
    return out


def adapt(target: Any, drafter: str, items: list[Item], out: str | Path, config: TrainConfig | None = None,
          progress: Callable[[int, float, float], None] | None = None, source: str = "") -> tuple[Path, TrainResult]:
    """Train a LoRA adapter for ``drafter`` over ``target`` on ``items``; write it to ``out``."""
    config = config or TrainConfig()
    if not items:
        raise EngineError("no training sequences (empty prompts file or dataset?)")
    student, num_layers, spec = make_student(target, drafter)
    num_layers = min(config.lora_layers, num_layers) if config.lora_layers > 0 else num_layers
    lora = lora_student(student, num_layers, config)
    result = train(student, target.model, items, config, progress)
    meta = {
        "drafter": spec, "target_model": target.model_name, "base_fingerprint": model_fingerprint(target),
        "dataset_fingerprint": fingerprint(items), "source": source,
        "val_agreement_before": result.val_agreement_before, "val_agreement_after": result.val_agreement_after,
        "train_loss_first": result.losses[0], "train_loss_last": result.losses[-1],
        "train_items": result.train_items, "val_items": result.val_items, "train_positions": result.train_positions,
        "seconds": result.seconds, "examples_per_s": result.examples_per_s, "tokens_per_s": result.tokens_per_s,
        "config": result.config, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_adapter(out, student, num_layers, lora, meta), result


__all__ = ["adapt", "items_from_prompts", "items_from_table", "make_student", "save_adapter", "fingerprint"]
