"""Streamed text equals the final decode of the id sequence (bundled tokenizer, multibyte text)."""

from __future__ import annotations

import pytest

from specviz.engine.text import StreamText, output_text


@pytest.fixture(scope="module")
def tokenizer():
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    from specviz.models.bundled import bundled_model_path

    return load_tokenizer(bundled_model_path())


@pytest.mark.parametrize("text", [
    "Plain words, then  double  spaces\nand lines.",
    "Café naïve — “quotes” and emoji 🚀🧪 in 日本語 text.",
    "def f(x):\n    return x ** 2  # ünïcode comment\n",
    " a leading space, which a BPE decode keeps",
    "special <|im_end|> tokens inside",
])
def test_streamed_text_equals_final_decode(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    detok = StreamText(tokenizer)
    pieces = [detok.add(i) for i in ids]
    pieces.append(detok.finish())
    hf = tokenizer._tokenizer
    assert "".join(pieces) == hf.decode(ids, skip_special_tokens=False) == output_text(hf, ids, frozenset())
    assert all("\ufffd" not in p for p in pieces)


def test_final_eos_is_not_text(tokenizer):
    hf = tokenizer._tokenizer
    ids = tokenizer.encode("Hello", add_special_tokens=False) + [tokenizer.eos_token_id]
    assert output_text(hf, ids, frozenset({tokenizer.eos_token_id})) == "Hello"
