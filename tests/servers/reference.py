"""What the bundled model itself says, in-process: the yardstick for every server's numbers."""

from __future__ import annotations


def greedy_with_logprobs(model, ids: list[int], n: int) -> list[tuple[int, float]]:
    """n greedy tokens after ids, each with its raw log-probability, computed in-process."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    out: list[tuple[int, float]] = []
    step = ids
    for _ in range(n):
        logits = model(mx.array([step]), cache=cache)[0, -1].astype(mx.float32)
        logprobs = logits - mx.logsumexp(logits)
        token = int(mx.argmax(logprobs).item())
        out.append((token, float(logprobs[token].item())))
        step = [token]
    return out
