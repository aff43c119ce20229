"""Convert a llama-family GGUF file into an MLX-LM model directory.

``mx.load`` reads GGUF natively: tensors come back as MLX arrays (Q4_0/Q4_1 as MLX
4-bit with group size 32, scales and biases) and the metadata as a dict. Tokenizer
construction is delegated to transformers' GGUF tokenizer builders (the same code
``AutoTokenizer.from_pretrained(gguf_file=...)`` uses, minus its torch-based reader).

Weights are written dequantized to float32 by default: on MLX's CPU backend fp32 GEMMs
run on OpenBLAS while its 4-bit kernels cost grow with the token count, which would make
verifying K draft tokens K times as expensive as one (measured: 63 ms vs 795 ms for 8).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from specviz.errors import SpecvizError

_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_GROUP_SIZE = 32  # every GGUF block type mx.load maps to MLX quantization uses 32-value blocks
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


class GGUFConversionError(SpecvizError):
    """The GGUF file cannot be turned into an MLX-LM model."""


def _scalar(meta: dict, key: str, default=None):
    value = meta.get(key, default)
    if value is None:
        raise GGUFConversionError(f"GGUF metadata has no {key!r}")
    return value.item() if hasattr(value, "item") else value


def _hf_name(gguf_name: str) -> str:
    base, _, suffix = gguf_name.rpartition(".")  # suffix: weight | scales | biases
    if base.startswith("blk."):
        _, layer, part = base.split(".", 2)
        if part not in _LAYER_NAMES:
            raise GGUFConversionError(f"unsupported tensor {gguf_name!r}")
        return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{suffix}"
    if base not in _TOP_NAMES:
        raise GGUFConversionError(f"unsupported tensor {gguf_name!r}")
    return f"{_TOP_NAMES[base]}.{suffix}"


def model_config(meta: dict, has_lm_head: bool) -> dict:
    arch = _scalar(meta, "general.architecture")
    if arch != "llama":
        raise GGUFConversionError(f"only llama-architecture GGUF files are supported, not {arch!r}")
    hidden = _scalar(meta, "llama.embedding_length")
    heads = _scalar(meta, "llama.attention.head_count")
    return {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": _scalar(meta, "llama.block_count"),
        "intermediate_size": _scalar(meta, "llama.feed_forward_length"),
        "num_attention_heads": heads,
        "num_key_value_heads": _scalar(meta, "llama.attention.head_count_kv", heads),
        "head_dim": _scalar(meta, "llama.rope.dimension_count", hidden // heads),
        "rms_norm_eps": float(_scalar(meta, "llama.attention.layer_norm_rms_epsilon")),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        "rope_theta": float(_scalar(meta, "llama.rope.freq_base", 10000.0)),
        "max_position_embeddings": _scalar(meta, "llama.context_length", 2048),
        "tie_word_embeddings": not has_lm_head,
        # llama.cpp's converter permutes Q/K rows for its rotary layout; MLX-LM reads that
        # layout directly when rotary embedding is "traditional" (interleaved pairs).
        "rope_traditional": True,
        "bos_token_id": _scalar(meta, "tokenizer.ggml.bos_token_id", 0),
        "eos_token_id": _scalar(meta, "tokenizer.ggml.eos_token_id", 0),
    }


def convert_weights(weights: dict, dtype) -> dict:
    import mlx.core as mx

    out = {}
    for name, array in weights.items():
        if name.endswith((".scales", ".biases")):
            continue
        stem = name[: -len(".weight")]
        if f"{stem}.scales" in weights:
            scales = weights[f"{stem}.scales"]
            # GGUF mixes types per tensor (here Q4_1 layers, Q8_0 embeddings): the bit
            # width is the packed row's bits (uint32 words) over its values (groups x size).
            bits = array.shape[-1] * 32 // (scales.shape[-1] * _GROUP_SIZE)
            array = mx.dequantize(array, scales, weights[f"{stem}.biases"], group_size=_GROUP_SIZE, bits=bits)
        out[_hf_name(name)] = array.astype(dtype)
    return out


def build_tokenizer(meta: dict):
    """A transformers fast tokenizer from the GGUF metadata (vocab, merges, types, template)."""
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        GGUF_TOKENIZER_MAPPING,
        convert_gguf_tokenizer,
    )

    def plain(value):
        if hasattr(value, "tolist"):
            return value.tolist()
        return value

    grouped = {
        group: {name: plain(meta[f"tokenizer.{key}"]) for key, name in renames.items() if f"tokenizer.{key}" in meta}
        for group, renames in GGUF_TOKENIZER_MAPPING.items()
    }
    tokenizer_dict, tokenizer_config = grouped["tokenizer"], grouped["tokenizer_config"]
    backend, _ = convert_gguf_tokenizer(_scalar(meta, "general.architecture"), tokenizer_dict)
    tokens = tokenizer_dict["tokens"]
    specials = {}
    for name, key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"),
                      ("unk_token", "unk_token_id"), ("pad_token", "pad_token_id")):
        if key in tokenizer_dict:
            specials[name] = tokens[int(tokenizer_dict[key])]
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        chat_template=tokenizer_config.get("chat_template"),
        clean_up_tokenization_spaces=False,
        **specials,
    )


def convert_gguf(gguf_path: Path, out_dir: Path, *, dtype: str = "float32") -> Path:
    """Write weights, config.json and tokenizer files for ``mlx_lm.load``. Atomic: a
    half-written directory never appears under ``out_dir``."""
    import mlx.core as mx

    try:
        weights, meta = mx.load(str(gguf_path), return_metadata=True)
    except Exception as exc:  # mlx raises RuntimeError/ValueError for unreadable files
        raise GGUFConversionError(f"cannot read GGUF file {gguf_path}: {exc}") from exc
    config = model_config(meta, has_lm_head="output.weight" in weights)
    converted = convert_weights(weights, getattr(mx, dtype))

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        mx.save_safetensors(str(tmp / "model.safetensors"), converted, metadata={"format": "mlx"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer = build_tokenizer(meta)
        tokenizer.save_pretrained(str(tmp))
        (tmp / "specviz-source.json").write_text(
            json.dumps({"gguf": str(gguf_path), "dtype": dtype, "gguf_name": str(meta.get("general.name", ""))})
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
