"""``layerskip:N``: early exit from the local target's first N layers, reusing its final
norm and LM head (``local.EarlyExit``), with its own N-layer KV cache."""

from __future__ import annotations

from typing import Any

from specviz.engine.drafters.adapters import check_adapter_dir
from specviz.engine.drafters.base import DrafterKind, DrafterSpec, int_arg
from specviz.engine.errors import EngineError


def _check(spec: DrafterSpec, target: Any) -> None:
    from specviz.targets.local import LocalTarget  # MLX loads with the drafter, not the registry

    if not isinstance(target, LocalTarget):
        raise EngineError("layerskip:N drafts from the target's own layers, so it needs a local target (bundled or mlx:)")


def _build(spec: DrafterSpec, target: Any):
    # MLX is imported only when a model drafter is built, not when the registry is read.
    from specviz.engine.drafters.model import ModelDrafter
    from specviz.engine.local import EarlyExit

    name = f"{target.model_name}[:{spec.n}]"
    adapter = spec.option("lora")
    if not adapter:
        return ModelDrafter(EarlyExit(target.model, spec.n), spec=spec.text, model_name=name)
    from specviz.engine.drafters.lora import adapted_early_exit

    return ModelDrafter(adapted_early_exit(target.model, spec.n, adapter), spec=spec.text, model_name=f"{name}+lora",
                        adapter=adapter)


KIND = DrafterKind(
    prefix="layerskip",
    syntax="layerskip:N",
    help="early exit: the local target's first N layers, then its final norm and head",
    parse_arg=int_arg("layerskip:N"),
    check=_check,
    build=_build,
    methods=("speculative", "mlx-lm"),
    options={"lora": "+lora:PATH  a LoRA adapter from `specviz adapt` (on copies of the N layers; the target is unchanged)"},
    parse_option=lambda name, value: check_adapter_dir(value),
)
