"""Tiny random-weight MLX-LM models with a small vocabulary, and a minimal tokenizer."""

from __future__ import annotations

import mlx.core as mx
from mlx_lm.models import llama


class TinyTokenizer:
    """Token i is the letter chr(97 + i); EOS is the last id (or none: ``eos=False``)."""

    chat_template = None

    def __init__(self, vocab_size: int, eos: bool = True) -> None:
        self.vocab_size = vocab_size
        self.eos_token_id = vocab_size - 1 if eos else None
        self.eos_token_ids = {vocab_size - 1} if eos else set()

    def encode(self, text: str, **_: object) -> list[int]:
        return [min(ord(c) - 97, self.vocab_size - 2) % (self.vocab_size - 1) for c in text]

    def decode(self, ids, **_: object) -> str:
        return "".join(chr(97 + int(i)) for i in ids)

    def get_vocab(self) -> dict[str, int]:
        return {chr(97 + i): i for i in range(self.vocab_size)}


def tiny_model(vocab_size: int = 8, seed: int = 0, layers: int = 2, scale: float = 1.0, hidden: int = 32):
    mx.random.seed(seed)
    args = llama.ModelArgs(
        model_type="llama",
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=2 * hidden,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
        vocab_size=vocab_size,
        tie_word_embeddings=True,
    )
    model = llama.Model(args)
    if scale != 1.0:
        emb = model.model.embed_tokens
        emb.weight = emb.weight * scale
    mx.eval(model.parameters())
    return model
