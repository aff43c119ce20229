"""The Hugging Face tokenizer behind mlx_lm's `TokenizerWrapper`, wherever ids meet text."""

from __future__ import annotations

from typing import Any


def hf_tokenizer(tokenizer: Any) -> Any:
    """The Hugging Face tokenizer inside mlx_lm's `TokenizerWrapper` (or the tokenizer itself)."""
    return getattr(tokenizer, "_tokenizer", tokenizer)


__all__ = ["hf_tokenizer"]
