"""``openai:<base URL>`` targets in the engine's ``Target`` protocol.

``specviz.targets.OpenAITarget`` talks to the server (probing, retries, logprob checks, token
mapping); this adapter turns its ``RemoteVerification`` into ``Scores``:

* ``rejection-sampling-topk`` (the server scores the drafts as prompt): capability ``topk``;
  p(draft i) and the top-k at each draft position, the server's own sample at position K as
  the bonus.
* ``exact-match`` (no echo): capability ``generate``; the server's own continuation.
"""

from __future__ import annotations

from typing import Any

from specviz.engine.target import Scores, ScoreRequest


class RemoteTarget:
    def __init__(self, remote: Any, tokenizer: Any, vocab_size: int) -> None:
        self.remote = remote
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.spec = remote.spec
        self.model_name = remote.model
        self.eos_token_ids = set(remote.eos_ids)

    @property
    def capability(self) -> str:
        return "topk" if self.remote.acceptance_rule == "rejection-sampling-topk" else "generate"

    def prefill(self, prompt_ids: list[int]) -> None:
        self.remote.connect()

    def score(self, context: list[int], draft: list[int], request: ScoreRequest) -> Scores:
        s = request.sampling
        v = self.remote.verify(
            context, draft,
            temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, seed=s.seed,
            round=request.round, emit=request.emit,
        )
        tops = lambda positions: [[(t.id, t.logprob) for t in pos.top] for pos in positions]  # noqa: E731
        if v.rule == "rejection-sampling-topk":
            top = tops(v.draft_scores) + (tops(v.target_tokens[:1]) or [[]])
            generated = [v.target_tokens[0].token_id] if v.target_tokens else None
            return Scores(
                draft_logprobs=[pos.logprob for pos in v.draft_scores],
                top=top,
                generated=generated,
                info={"verify_ms": v.verify_ms},
            )
        return Scores(
            generated=[pos.token_id for pos in v.target_tokens],
            generated_logprobs=[pos.logprob for pos in v.target_tokens],
            top=tops(v.target_tokens),
            info={"verify_ms": v.verify_ms, "stopped": v.stopped},
        )

    def close(self) -> None:
        close = getattr(self.remote, "close", None)
        if close:
            close()


__all__ = ["RemoteTarget"]
