"""LoRA adapters on model drafters (``layerskip:N+lora:PATH``, ``mlx:<model>+lora:PATH``),
in mlx_lm's own adapter format (``adapter_config.json`` + ``adapters.safetensors``, applied
with ``mlx_lm.tuner.utils``), plus ``specviz_adapter.json`` saying what it was trained for.

An adapted early exit must not change the target: ``EarlyExitModule`` holds its own copies
of the first N layers (the LoRA wrappers go on the copies), and borrows the target's
embedding, final norm and head, which LoRA leaves alone.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import mlx.nn as nn

from specviz.engine.drafters.adapters import adapter_meta
from specviz.engine.errors import EngineError
from specviz.engine.local import EarlyExit


class EarlyExitModule(nn.Module):
    """The first N layers of a local model as a module of their own (copies), then the
    model's shared final norm and head: what ``specviz adapt`` trains and the adapted
    ``layerskip`` drafter runs."""

    def __init__(self, model: Any, n_layers: int) -> None:
        super().__init__()
        shared = EarlyExit(model, n_layers)  # validates N and the layout
        self.layers = [copy.deepcopy(layer) for layer in shared.layers]
        # A plain attribute, not a child module: the shared parts are neither trained nor saved.
        self.shared = _Shared(shared)

    def make_cache(self) -> list[Any]:
        from mlx_lm.models.cache import KVCache

        return [KVCache() for _ in self.layers]

    def __call__(self, inputs: Any, cache: list[Any] | None = None) -> Any:
        return self.shared.base(inputs, cache, layers=self.layers)


class _Shared:
    """Hides the EarlyExit from nn.Module's parameter tree."""

    def __init__(self, base: EarlyExit) -> None:
        self.base = base


def adapted_early_exit(model: Any, n_layers: int, path: str) -> EarlyExitModule:
    """``layerskip:N`` with the adapter at ``path`` applied to its own layer copies."""
    from mlx_lm.tuner.utils import load_adapters

    trained = adapter_meta(path).get("drafter", "")
    if trained and trained != f"layerskip:{n_layers}":
        raise EngineError(f"+lora:{path} was trained for {trained}, not layerskip:{n_layers}")
    module = EarlyExitModule(model, n_layers)
    load_adapters(module, str(Path(path).expanduser()))
    module.eval()
    return module


def adapted_model(source: str, path: str) -> Any:
    """A fresh copy of an MLX-LM model with the adapter applied (``mlx:<model>+lora:PATH``);
    fresh, so a target loaded from the same source stays unadapted."""
    from mlx_lm.tuner.utils import load_adapters

    from specviz.models.loading import load_mlx

    trained = adapter_meta(path).get("drafter", "")
    if trained and trained != f"mlx:{source}":
        raise EngineError(f"+lora:{path} was trained for {trained}, not mlx:{source}")
    model = copy.deepcopy(load_mlx(source)[0])
    load_adapters(model, str(Path(path).expanduser()))
    model.eval()
    return model


__all__ = ["EarlyExitModule", "adapted_early_exit", "adapted_model"]
