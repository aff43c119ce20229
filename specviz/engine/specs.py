"""Target specs (``bundled``, ``mlx:<repo>``, ``openai:<url>``) parsed and built, and a
target + drafter pair built together (drafter specs: ``specviz.engine.drafters``). Models are
loaded once per process and shared."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from specviz.engine.drafters import DrafterSpec, build_drafter, kind_of, parse_drafter
from specviz.engine.local import EngineError, LocalTarget

DEFAULT_TARGET = "bundled"
DEFAULT_DRAFTER = "ngram"

_MODELS: dict[str, tuple[Any, Any, str]] = {}  # key -> (model, tokenizer, resolved name)


def parse_target(spec: str) -> tuple[str, str]:
    spec = (spec or "").strip()
    if spec == "bundled":
        return "bundled", ""
    if spec.startswith("mlx:") and len(spec) > 4:
        return "mlx", spec[4:]
    if spec.startswith("openai:") and len(spec) > 7:
        url = spec[7:]
        if not re.match(r"https?://", url):
            raise EngineError(f"bad target {spec!r}: openai:<base URL> needs an http(s) URL, e.g. openai:http://127.0.0.1:8080/v1")
        return "openai", url
    raise EngineError(f"bad target {spec!r}: use bundled, mlx:<repo or path> or openai:<base URL>")


def load_mlx(source: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, name) for ``bundled`` or an MLX-LM repo/path; cached per process."""
    if source in _MODELS:
        return _MODELS[source]
    import mlx_lm

    if source == "bundled":
        from specviz.models.bundled import BUNDLED_NAME, bundled_model_path

        try:
            path = bundled_model_path()
        except Exception as exc:  # BundledModelError and conversion failures
            raise EngineError(f"the bundled model is unavailable: {exc}") from exc
        name = BUNDLED_NAME
    else:
        path = Path(source).expanduser()
        name = source
        if not path.exists():
            if source.startswith(("/", ".", "~")) or source.count("/") != 1:
                raise EngineError(f"no MLX-LM model directory at {source!r} (and it is not a Hugging Face repo id)")
            path = source  # a hub repo id; mlx_lm downloads (or finds it in the HF cache)
    try:
        model, tokenizer = mlx_lm.load(str(path))
    except Exception as exc:
        raise EngineError(f"cannot load MLX-LM model {source!r}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    _MODELS[source] = (model, tokenizer, name)
    return _MODELS[source]


def register_model(key: str, model: Any, tokenizer: Any, name: str = "") -> None:
    """Make an in-memory model loadable as ``key`` (tests, benchmarks)."""
    _MODELS[key] = (model, tokenizer, name or key)


def build_target(spec: str, *, target_model: str | None = None, tokenizer_source: str = "bundled", options: Any = None):
    kind, source = parse_target(spec)
    if kind in ("bundled", "mlx"):
        model, tokenizer, name = load_mlx("bundled" if kind == "bundled" else source)
        return LocalTarget(model, tokenizer, spec=spec, model_name=target_model or name)
    from specviz.targets import OpenAITarget  # implements the Target protocol itself

    _, tokenizer, _ = load_mlx(tokenizer_source)
    kwargs = {"options": options} if options is not None else {}
    return OpenAITarget(source, tokenizer, model=target_model, **kwargs)


def build(target_spec: str = DEFAULT_TARGET, drafter_spec: str = DEFAULT_DRAFTER, *, target_model: str | None = None,
          target_options: Any = None):
    """(target, drafter) from specs. For a remote target the shared vocabulary comes from an
    ``mlx:`` drafter's tokenizer, else the bundled model's."""
    d = parse_drafter(drafter_spec)
    kind, _ = parse_target(target_spec)
    tokenizer_source = (kind == "openai" and kind_of(d).tokenizer_source(d)) or "bundled"
    target = build_target(target_spec, target_model=target_model, tokenizer_source=tokenizer_source, options=target_options)
    return target, build_drafter(drafter_spec, target)


__all__ = [
    "DrafterSpec", "parse_drafter", "parse_target", "load_mlx", "register_model",
    "build_target", "build_drafter", "build", "DEFAULT_TARGET", "DEFAULT_DRAFTER",
]
