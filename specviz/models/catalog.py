"""The models specviz knows: the bundled default plus the seeds' MLX-LM suggestions."""

from __future__ import annotations

import os
from pathlib import Path

from specviz.models import bundled

# The SpeculatoViz seed's draft models (Apple Silicon, fetched from the Hugging Face hub).
SUGGESTED_MLX = (
    ("mlx-community/Llama-3.2-1B-Instruct-4bit", "draft: quick tests, 8 GB Macs"),
    ("mlx-community/Llama-3.2-3B-Instruct-4bit", "draft: the seed's recommended default"),
    ("mlx-community/Qwen2.5-3B-Instruct-4bit", "draft: code and reasoning"),
)


def _hf_cache() -> Path:
    home = os.environ.get("HF_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "huggingface"
    return base / "hub"


def _cached(repo: str) -> Path | None:
    snapshots = _hf_cache() / f"models--{repo.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json")) if snapshots.is_dir() else []
    return found[-1].parent if found else None


def known_models() -> list[dict]:
    models = [bundled.describe()]
    for repo, note in SUGGESTED_MLX:
        path = _cached(repo)
        models.append(
            {
                "spec": f"mlx:{repo}",
                "name": repo.split("/")[-1],
                "source": "Hugging Face hub (needs network on first use)",
                "path": str(path) if path else None,
                "converted": path is not None,
                "note": note,
            }
        )
    return models
