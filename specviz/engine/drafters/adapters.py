"""LoRA adapter directories as specviz reads them, without importing MLX (``+lora:PATH``
is parsed by the registry): mlx_lm's format (``adapter_config.json`` +
``adapters.safetensors``) plus ``specviz_adapter.json``, what ``specviz adapt`` trained it for."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from specviz.engine.errors import EngineError

META = "specviz_adapter.json"
ADAPTER_FILES = ("adapter_config.json", "adapters.safetensors")


def check_adapter_dir(path: str) -> str:
    """``path`` if it holds an mlx_lm adapter; EngineError otherwise."""
    p = Path(path).expanduser()
    missing = [f for f in ADAPTER_FILES if not (p / f).is_file()]
    if missing:
        raise EngineError(f"+lora:{path}: not an adapter directory (missing {', '.join(missing)})")
    return path


def adapter_hash(path: str | Path) -> str:
    """Content hash of an adapter's config and weights (``RunStarted.adapter_hash``)."""
    h = hashlib.sha256()
    for name in ADAPTER_FILES:
        h.update((Path(path).expanduser() / name).read_bytes())
    return h.hexdigest()[:16]


def adapter_meta(path: str | Path) -> dict:
    f = Path(path).expanduser() / META
    return json.loads(f.read_text()) if f.is_file() else {}


__all__ = ["META", "ADAPTER_FILES", "check_adapter_dir", "adapter_hash", "adapter_meta"]
