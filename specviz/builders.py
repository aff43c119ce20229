"""Event builders shared by every producer (the engine's loop, the mlx-lm adapter, the
viewer's synthetic runs), so a verdict is written the same way whoever decides it."""

from __future__ import annotations

from typing import Any

from specviz.events import Verify


def verdict_events(*, round: int, position: int, token_id: int, token_text: str, draft_token_id: int | None = None,
                   draft_token_text: str = "", accepted: bool = True, **fields: Any) -> list[Verify]:
    """The verify rows of one decided position: ``bonus`` when no draft was judged there,
    ``accepted``, or a rejection as two rows at the position, ``rejected`` then
    ``resampled``, both naming the draft and the replacement (``token_id``) and carrying
    the same numbers. ``fields``: any other ``Verify`` field (logprobs, p, q, u, top...)."""
    common = dict(round=round, position=position, token_id=token_id, token_text=token_text, **fields)
    if draft_token_id is None:
        return [Verify(status="bonus", **common)]
    common.update(draft_token_id=draft_token_id, draft_token_text=draft_token_text)
    if accepted:
        return [Verify(status="accepted", **common)]
    return [Verify(status="rejected", **common), Verify(status="resampled", **common)]


__all__ = ["verdict_events"]
