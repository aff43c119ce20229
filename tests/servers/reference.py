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


def log_softmax_at(local, context: list[int], draft: list[int], temperature: float):
    """log softmax(logits / T) (T = 1 when greedy) at each position of a round, in-process."""
    import numpy as np

    from specviz.targets.base import ScoreRequest
    from specviz.sampling_params import SamplingParams

    logits = np.asarray(local.score(context, draft, ScoreRequest(0, SamplingParams())).logits, dtype=np.float64)
    x = logits / (temperature or 1.0)
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def check_round(local, context: list[int], draft: list[int], verifies, temperature: float, tol: float,
                convert_tol: float) -> int:
    """Every exact row's numbers equal the in-process model's at the round's context (converted
    ones within ``tol + convert_tol``, raw ones at T = 1 within ``tol``); every other row says
    why. Returns how many rows were exact."""
    expected = log_softmax_at(local, context, draft, temperature)
    raw = log_softmax_at(local, context, draft, 0.0)
    exact = 0
    for v in verifies:
        if not v.exact:
            assert v.inexact_reason, v
            continue
        exact += 1
        row, raw_row = expected[v.position], raw[v.position]
        within = tol if temperature in (0.0, 1.0) else tol + convert_tol
        pairs = [(v.final_logprob, row[v.token_id], within), (v.final_logprob_raw, raw_row[v.token_id], tol)]
        if v.draft_token_id is not None:
            pairs += [(v.target_logprob, row[v.draft_token_id], within),
                      (v.target_logprob_raw, raw_row[v.draft_token_id], tol)]
        pairs += [(t.logprob, row[t.id], within) for t in v.top] + [(t.logprob, raw_row[t.id], tol) for t in v.top_raw]
        for recorded, truth, bound in pairs:
            assert recorded is None or abs(recorded - truth) <= bound, (v, recorded, truth)
    return exact


def check_recorded_run(local, events, tol: float, convert_tol: float) -> int:
    """``check_round`` for every round of a recorded run; returns the exact rows."""
    started = events[0]
    context = list(started.prompt_token_ids)
    exact = 0
    rounds: dict[int, list] = {}
    for e in events:
        if e.__struct_config__.tag in ("draft_token", "verify"):
            rounds.setdefault(e.round, []).append(e)
    for index in sorted(rounds):
        draft = [e.token_id for e in rounds[index] if e.__struct_config__.tag == "draft_token"]
        verifies = [e for e in rounds[index] if e.__struct_config__.tag == "verify"]
        exact += check_round(local, context, draft, verifies, started.temperature, tol, convert_tol)
        context += [v.token_id for v in verifies if v.status != "rejected"]
    return exact
