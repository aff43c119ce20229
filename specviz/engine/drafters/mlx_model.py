"""``mlx:<repo or path>``: any MLX-LM model sharing the target's vocabulary."""

from __future__ import annotations

from typing import Any

from specviz.engine.drafters.adapters import check_adapter_dir
from specviz.engine.drafters.base import DrafterKind, DrafterSpec
from specviz.engine.errors import EngineError


def _parse_arg(arg: str | None) -> str:
    if not arg:
        raise EngineError("mlx:<repo or path> needs a Hugging Face repo id or a model directory")
    return arg


def _build(spec: DrafterSpec, target: Any):
    # MLX is imported only when a model drafter is built, not when the registry is read.
    from specviz.engine.drafters.model import ModelDrafter, check_vocab
    from specviz.models.loading import load_mlx

    model, tokenizer, name = load_mlx(spec.arg)
    check_vocab(tokenizer, target.tokenizer, spec.text)
    adapter = spec.option("lora")
    if adapter:
        from specviz.engine.drafters.lora import adapted_model

        return ModelDrafter(adapted_model(spec.arg, adapter), spec=spec.text, model_name=f"{name}+lora", adapter=adapter)
    return ModelDrafter(model, spec=spec.text, model_name=name)


KIND = DrafterKind(
    prefix="mlx",
    syntax="mlx:<repo or path>",
    help="an MLX-LM draft model sharing the target's vocabulary",
    parse_arg=_parse_arg,
    build=_build,
    methods=("speculative", "mlx-lm"),
    options={"lora": "+lora:PATH  a LoRA adapter from `specviz adapt` (loaded into a fresh copy of the model)"},
    parse_option=lambda name, value: check_adapter_dir(value),
    tokenizer_source=lambda spec: spec.arg,
)
