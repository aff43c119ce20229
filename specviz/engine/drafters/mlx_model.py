"""``mlx:<repo or path>``: any MLX-LM model sharing the target's vocabulary."""

from __future__ import annotations

from typing import Any

from specviz.engine.drafters.base import DrafterKind, DrafterSpec
from specviz.engine.errors import EngineError


def _parse_arg(arg: str | None) -> str:
    if not arg:
        raise EngineError("mlx:<repo or path> needs a Hugging Face repo id or a model directory")
    return arg


def _build(spec: DrafterSpec, target: Any):
    # MLX is imported only when a model drafter is built, not when the registry is read.
    from specviz.engine.drafters.model import ModelDrafter, check_vocab
    from specviz.engine.specs import load_mlx

    model, tokenizer, name = load_mlx(spec.arg)
    check_vocab(tokenizer, target.tokenizer, spec.text)
    return ModelDrafter(model, spec=spec.text, model_name=name)


KIND = DrafterKind(
    prefix="mlx",
    syntax="mlx:<repo or path>",
    help="an MLX-LM draft model sharing the target's vocabulary",
    parse_arg=_parse_arg,
    build=_build,
    methods=("speculative", "mlx-lm"),
    tokenizer_source=lambda spec: spec.arg,
)
