"""A toy kind of target, written the way a new target is added: this one module plus its
registration line (``test_target_registry.py``). The "model" counts: after token t its
most likely next token is t + step (mod V), and every other token is far less likely."""

from __future__ import annotations

import numpy as np

from specviz.targets.base import BaseTarget, Scores, ScoreRequest
from tiny_models import TinyTokenizer

V = 10


class CountingTarget(BaseTarget):
    capability = "full"

    def __init__(self, spec: str, step: int) -> None:
        self.spec = spec
        self.model_name = f"counting-by-{step}"
        self.step = step
        self.tokenizer = TinyTokenizer(V, eos=False)
        self.vocab_size = V
        self.eos_token_ids: set[int] = set()

    def score(self, context: list[int], draft: list[int], request: ScoreRequest) -> Scores:
        seq = context + draft
        logits = np.zeros((len(draft) + 1, V), dtype=np.float32)
        for i in range(len(draft) + 1):
            logits[i, (seq[len(context) + i - 1] + self.step) % V] = 8.0
        return Scores(logits=logits)


def build(spec, context) -> CountingTarget:
    return CountingTarget(spec.text, int(spec.source))
