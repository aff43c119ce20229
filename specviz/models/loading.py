"""MLX-LM models loaded once per process, and what every user of a loaded model asks of it.

Below both the targets (an in-process target is a loaded model) and the engine (a model
drafter is one too), so neither imports the other for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specviz.errors import SpecvizError


class ModelError(SpecvizError):
    """A model cannot be loaded or used as asked (bad path, unsupported cache); user-facing."""


_MODELS: dict[str, tuple[Any, Any, str]] = {}  # key -> (model, tokenizer, resolved name)


def load_mlx(source: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, name) for ``bundled`` or an MLX-LM repo/path; cached per process."""
    if source in _MODELS:
        return _MODELS[source]
    import mlx_lm  # only here: listing or parsing specs must not pay for MLX

    if source == "bundled":
        from specviz.models.bundled import BUNDLED_NAME, bundled_model_path

        try:
            path = bundled_model_path()
        except Exception as exc:  # BundledModelError and conversion failures
            raise ModelError(f"the bundled model is unavailable: {exc}") from exc
        name = BUNDLED_NAME
    else:
        path = Path(source).expanduser()
        name = source
        if not path.exists():
            if source.startswith(("/", ".", "~")) or source.count("/") != 1:
                raise ModelError(f"no MLX-LM model directory at {source!r} (and it is not a Hugging Face repo id)")
            path = source  # a hub repo id; mlx_lm downloads (or finds it in the HF cache)
    try:
        model, tokenizer = mlx_lm.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot load MLX-LM model {source!r}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    _MODELS[source] = (model, tokenizer, name)
    return _MODELS[source]


def register_model(key: str, model: Any, tokenizer: Any, name: str = "") -> None:
    """Make an in-memory model loadable as ``key`` (tests, benchmarks)."""
    _MODELS[key] = (model, tokenizer, name or key)


def model_vocab_size(model: Any) -> int:
    args = getattr(model, "args", None)
    if args is not None and getattr(args, "vocab_size", None):
        return int(args.vocab_size)
    inner = getattr(model, "model", model)
    return int(inner.embed_tokens.weight.shape[0])


def tokenizer_eos_ids(tokenizer: Any) -> set[int]:
    ids: set[int] = set(int(i) for i in (getattr(tokenizer, "eos_token_ids", None) or ()))
    single = getattr(tokenizer, "eos_token_id", None)
    if single is not None:
        ids.add(int(single))
    return ids


__all__ = ["ModelError", "load_mlx", "register_model", "model_vocab_size", "tokenizer_eos_ids"]
