"""Server tokens back to ids of the shared vocabulary (the engine works in draft token ids).

Servers name tokens differently: mlx_lm.server sends ids (and raw vocabulary entries such
as ``"Ġcapital"`` in its top-k), vLLM sends decoded text pieces or ``"token_id:123"``,
llama.cpp sends decoded pieces. Nothing here trusts a name it cannot map to exactly one id.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from specviz.models.tokenizer import hf_tokenizer
from specviz.targets.errors import TokenMappingError

_ID_PREFIX = "token_id:"  # vLLM --return-tokens-as-token-ids


class TokenMapper:
    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer
        self._hf = hf_tokenizer(tokenizer)

    @cached_property
    def _vocab(self) -> dict[str, int]:
        return dict(self._hf.get_vocab())

    @cached_property
    def _pieces(self) -> list[str]:
        """Each id decoded alone. Built on first need only: mlx_lm.server sends ids."""
        size = max(self._vocab.values()) + 1
        return self._hf.batch_decode([[i] for i in range(size)], clean_up_tokenization_spaces=False)

    @cached_property
    def _by_piece(self) -> dict[str, list[int]]:
        table: dict[str, list[int]] = {}
        for i, piece in enumerate(self._pieces):
            table.setdefault(piece, []).append(i)
        return table

    @property
    def size(self) -> int:
        return len(self._pieces) if "_pieces" in self.__dict__ else max(self._vocab.values()) + 1

    def piece(self, token_id: int) -> str:
        """The text of one id; what a server's decoded ``token`` string should equal."""
        if "_pieces" in self.__dict__:
            return self._pieces[token_id]
        return self._hf.decode([token_id], clean_up_tokenization_spaces=False)

    def encode(self, text: str) -> list[int]:
        return list(self._hf.encode(text, add_special_tokens=False))

    def encode_with_specials(self, text: str) -> list[int]:
        return list(self._hf.encode(text))

    def decode(self, ids: list[int]) -> str:
        return self._hf.decode(ids, clean_up_tokenization_spaces=False)

    def names(self, token: str, token_id: int) -> bool:
        """Whether ``token`` is a plausible server name for ``token_id``."""
        if token.startswith(_ID_PREFIX):
            return token[len(_ID_PREFIX):] == str(token_id)
        return token == self.piece(token_id) or self._vocab.get(token) == token_id

    def ambiguous(self, token: str) -> bool:
        """Whether several ids decode to ``token`` (so a dict keyed by it may hold any of them)."""
        return len(self._by_piece.get(token, ())) > 1

    def resolve(self, token: str | None, token_id: int | None) -> int:
        """The id a server means by ``token`` and/or ``token_id``; raises when unsure."""
        if token_id is not None:
            if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 <= token_id < self.size:
                raise TokenMappingError(f"token id {token_id!r} is outside the vocabulary (size {self.size})")
            if token is not None and not self.names(token, token_id):
                raise TokenMappingError(
                    f"the server calls token id {token_id} {token!r}, but in this vocabulary it is "
                    f"{self.piece(token_id)!r}: the server's model does not share the draft's vocabulary"
                )
            return token_id
        if token is None:
            raise TokenMappingError("a position has neither a token nor a token id")
        if token.startswith(_ID_PREFIX):
            return self.resolve(None, int(token[len(_ID_PREFIX):]))
        candidates = self._by_piece.get(token, [])
        if len(candidates) == 1:
            return candidates[0]
        if token in self._vocab:
            return self._vocab[token]
        if not candidates:
            raise TokenMappingError(f"the server's token {token!r} is not in the draft's vocabulary")
        raise TokenMappingError(
            f"the server's token {token!r} could be any of ids {candidates[:5]}; ask the server for "
            "token ids (e.g. vLLM --return-tokens-as-token-ids) or use a server that sends them"
        )
