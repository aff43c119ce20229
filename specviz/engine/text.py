"""Token ids to output text: streamed while a run records, and final.

Streaming uses mlx_lm's own `StreamingDetokenizer` (``tokenizer.detokenizer``), which holds
back partial UTF-8 and word pieces. One difference is corrected here: mlx_lm drops the
leading space of the first text it releases (SentencePiece's convention), while a BPE
tokenizer's ``decode`` keeps it, and the streamed text must equal the recorded
``output_text``. So the first release is taken from ``decode`` of the ids so far.
"""

from __future__ import annotations

from typing import Any

from specviz.models.tokenizer import hf_tokenizer


def output_text(hf: Any, ids: list[int], eos: frozenset[int]) -> str:
    """The text of an output: decode of the ids, without a final EOS token."""
    if ids and ids[-1] in eos:
        ids = ids[:-1]
    return hf.decode(ids, skip_special_tokens=False) if ids else ""


class StreamText:
    """Text pieces, one call per token, that concatenate to ``decode(all ids)``."""

    def __init__(self, tokenizer: Any) -> None:
        self._hf = hf_tokenizer(tokenizer)
        self._detok = tokenizer.detokenizer if hasattr(tokenizer, "detokenizer") else None
        if self._detok is None:
            from mlx_lm.tokenizer_utils import NaiveStreamingDetokenizer

            self._detok = NaiveStreamingDetokenizer(self._hf)
        self._detok.reset()
        self._started = False

    def _release(self) -> str:
        piece = self._detok.last_segment
        if piece and not self._started:
            self._started = True
            return self._hf.decode(self._detok.tokens, skip_special_tokens=False)
        return piece

    def add(self, token_id: int) -> str:
        self._detok.add_token(token_id)
        return self._release()

    def finish(self) -> str:
        self._detok.finalize()
        return self._release()


__all__ = ["output_text", "StreamText"]
