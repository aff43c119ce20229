"""A small run with every event kind and every verify status, for the store tests."""

from __future__ import annotations

from specviz.events import DraftToken, Error, RoundMetrics, RunFinished, RunStarted, TopToken, Verify


def started(**overrides) -> RunStarted:
    config = dict(
        prompt="Say 'hi'\nplease",
        prompt_text="<user>Say 'hi'</user>",
        prompt_token_ids=[1, 2, 3],
        drafter="ngram:3",
        target="bundled",
        target_model="smollm2-135m",
        draft_model="",
        k=2,
        temperature=0.7,
        top_p=0.9,
        top_k=40,
        max_tokens=16,
        seed=7,
        method="speculative",
        acceptance_rule="rejection-sampling",
        eos_token_ids=[0],
        versions={"specviz": "0.1.0", "mlx": "0.29"},
        host="box",
        tags={"exp": "a"},
    )
    config.update(overrides)
    return RunStarted(**config)


def body() -> list:
    """Two rounds: accept+bonus, then reject+resample; an error in between."""
    top = [TopToken(10, " the", -0.25), TopToken(11, " a", -1.5)]
    return [
        DraftToken(round=0, position=0, token_id=10, token_text=" the", logprob=-0.5, entropy=1.25, top=top, draft_ms=0.5),
        DraftToken(round=0, position=1, token_id=12, token_text=" cat", logprob=-0.75, entropy=None, top=[], draft_ms=0.25),
        Verify(round=0, position=0, status="accepted", token_id=10, token_text=" the", draft_token_id=10, draft_token_text=" the",
               draft_logprob=-0.5, target_logprob=-0.25, final_logprob=-0.25, acceptance_prob=1.0, target_entropy=2.0, top=top, u=0.5),
        Verify(round=0, position=1, status="accepted", token_id=12, token_text=" cat", draft_token_id=12, draft_token_text=" cat",
               draft_logprob=-0.75, target_logprob=-1.0, final_logprob=-1.0, acceptance_prob=0.75, u=0.125, exact=False),
        Verify(round=0, position=2, status="bonus", token_id=13, token_text=" sat", final_logprob=-0.5),
        RoundMetrics(round=0, drafted=2, tested=2, accepted=2, produced=3, draft_ms=0.75, verify_ms=4.0, sample_ms=0.5, round_ms=5.5,
                     alpha=0.8, acceptance_rolling=1.0, acceptance_cumulative=1.0, tau_cumulative=3.0, total_tokens=3,
                     tokens_per_s=30.0, baseline_tokens_per_s=20.0, baseline_estimated=False, speedup=1.5),
        Error(where="target", message="timeout, retrying", retryable=True, attempt=1, round=1),
        DraftToken(round=1, position=0, token_id=14, token_text=" on", logprob=-0.125),
        DraftToken(round=1, position=1, token_id=15, token_text=" mat", logprob=-2.0),
        Verify(round=1, position=0, status="rejected", token_id=16, token_text=" down", draft_token_id=14, draft_token_text=" on",
               draft_logprob=-0.125, target_logprob=-3.0, final_logprob=-0.5, acceptance_prob=0.0625, u=0.9),
        Verify(round=1, position=0, status="resampled", token_id=16, token_text=" down", draft_token_id=14, draft_token_text=" on",
               final_logprob=-0.5),
        RoundMetrics(round=1, drafted=2, tested=1, accepted=0, produced=1, total_tokens=4, tokens_per_s=25.0, speedup=1.25),
    ]


def finished() -> RunFinished:
    return RunFinished(status="completed", finish_reason="eos", rounds=2, drafted=4, tested=3, accepted=2, produced=4, wall_ms=12.5,
                       acceptance_rate=2 / 3, tau=2.0, alpha=0.8, tokens_per_s=25.0, baseline_tokens_per_s=20.0, speedup=1.25,
                       output_text=" the cat sat down", output_token_ids=[10, 12, 13, 16])


OUTPUT = [(" the", "accepted"), (" cat", "accepted"), (" sat", "bonus"), (" down", "resampled")]


def record(traces, **overrides):
    """Record the sample run; returns (recording, the logged events)."""
    from specviz.recording import open_run

    events = []
    with open_run(traces, started(**overrides)) as rec:
        events.append(rec.started)
        for ev in body():
            events.append(rec.log(ev))
        events.append(rec.finish(finished()) and rec.finished)
    return rec, events


def record_as(run_ids: list[str], *runs: tuple) -> None:
    """Record the sample run once per (traces, overrides) given, with these run ids in order."""
    from unittest import mock

    ids = iter(run_ids)
    with mock.patch("specviz.recording.new_run_id", lambda: next(ids)):
        for traces, overrides in runs:
            record(traces, **overrides)
