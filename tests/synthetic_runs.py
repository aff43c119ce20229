"""Synthetic but rule-abiding traces for the viewer's tests and benchmark.

They follow the event model's rules exactly (a rejection emits `rejected` then
`resampled` at the same position, later drafts get no verify event, a round ends with
its metrics) so the viewer can be exercised without a model.
"""

from __future__ import annotations

import math
import random

from specviz.events import DraftToken, Error, RoundMetrics, RunFinished, RunStarted, TopToken, Verify

WORDS = (" the", " draft", " model", " tokens", " verify", " fast", " cloud", " edge", " and", " a",
         " speculative", " decoding", ".", ",", " is", " of", " target", " round", " bonus", " <b>")


def synthetic_events(
    rounds: int = 20,
    k: int = 4,
    seed: int = 0,
    run_id: str = "synthetic",
    finished: bool = True,
    method: str = "speculative",
    prompt: str = "Explain speculative decoding.",
    t0_ns: int = 1_000_000_000,
    wall0_ns: int = 1_700_000_000_000_000_000,
    errors_every: int = 0,
) -> list:
    """A run of `rounds` rounds with `k` drafts each (every token a bonus when autoregressive)."""
    rng = random.Random(seed)
    auto = method == "autoregressive"
    seq = 0
    now = t0_ns
    events: list = []

    def emit(ev):
        nonlocal seq
        ev.run_id, ev.seq, ev.t_mono_ns, ev.t_wall_ns = run_id, seq, now, wall0_ns + (now - t0_ns)
        seq += 1
        events.append(ev)

    def top(word: str, lp: float) -> list[TopToken]:
        alts = rng.sample(WORDS, 3)
        return [TopToken(WORDS.index(word), word, lp)] + [TopToken(WORDS.index(w), w, lp - 1.0 - i) for i, w in enumerate(alts)]

    emit(RunStarted(prompt=prompt, drafter="none" if auto else "ngram:3", target="bundled",
                    k=0 if auto else k, temperature=0.7, max_tokens=rounds * (k + 1),
                    method=method, acceptance_rule="none" if auto else "rejection-sampling"))
    total = accepted_total = tested_total = 0
    rolling: list[tuple[int, int]] = []
    for r in range(rounds):
        if errors_every and r and r % errors_every == 0:
            now += 3_000_000
            emit(Error(where="verify", message=f"timeout in round {r}", retryable=True, attempt=1, round=r))
        draft_ms = verify_ms = 0.0
        accepted = tested = produced = 0
        if auto:
            w = rng.choice(WORDS)
            verify_ms = 20 + rng.random() * 10
            now += int(verify_ms * 1e6)
            emit(Verify(round=r, position=0, status="bonus", token_id=WORDS.index(w), token_text=w,
                        target_logprob=-0.3, final_logprob=-0.3, target_entropy=1.0, top=top(w, -0.3)))
            produced = 1
        else:
            drafts = []
            for p in range(k):
                w = rng.choice(WORDS)
                ent = rng.random() * 3
                ms = 2 + rng.random() * 3
                draft_ms += ms
                now += int(ms * 1e6)
                lp = -ent / 2
                drafts.append((w, ent, lp))
                emit(DraftToken(round=r, position=p, token_id=WORDS.index(w), token_text=w,
                                logprob=lp, entropy=ent, top=top(w, lp), draft_ms=ms))
            verify_ms = 25 + rng.random() * 15
            now += int(verify_ms * 1e6)
            for p, (w, ent, lp) in enumerate(drafts):
                prob = max(0.02, min(1.0, 1.1 - ent / 3 + rng.random() * 0.2))
                u = rng.random()
                tested += 1
                common = dict(round=r, position=p, draft_token_id=WORDS.index(w), draft_token_text=w,
                              draft_logprob=lp, target_logprob=lp + math.log(prob), acceptance_prob=prob,
                              target_entropy=ent * 0.8, u=u)
                if u < prob:
                    accepted += 1
                    produced += 1
                    emit(Verify(status="accepted", token_id=WORDS.index(w), token_text=w,
                                final_logprob=lp, top=top(w, lp), **common))
                    continue
                alt = rng.choice([x for x in WORDS if x != w])
                tops = top(alt, -0.5)
                emit(Verify(status="rejected", token_id=WORDS.index(alt), token_text=alt, final_logprob=-0.5,
                            top=tops, **common))
                emit(Verify(round=r, position=p, status="resampled", token_id=WORDS.index(alt), token_text=alt,
                            draft_token_id=WORDS.index(w), draft_token_text=w, final_logprob=-0.5, top=tops))
                produced += 1
                break
            else:
                b = rng.choice(WORDS)
                emit(Verify(round=r, position=k, status="bonus", token_id=WORDS.index(b), token_text=b,
                            target_logprob=-0.2, final_logprob=-0.2, target_entropy=0.5, top=top(b, -0.2)))
                produced += 1
        sample_ms = 0.5 + rng.random()
        now += int(sample_ms * 1e6)
        total += produced
        accepted_total += accepted
        tested_total += tested
        rolling = (rolling + [(accepted, tested)])[-50:]
        round_ms = draft_ms + verify_ms + sample_ms
        elapsed_s = (now - t0_ns) / 1e9
        tps = total / elapsed_s if elapsed_s else 0.0
        base = 1000 / (25 + 7.5)
        emit(RoundMetrics(
            round=r, drafted=0 if auto else k, tested=tested, accepted=accepted, produced=produced,
            draft_ms=draft_ms, verify_ms=verify_ms, sample_ms=sample_ms, round_ms=round_ms,
            acceptance_rolling=(sum(a for a, _ in rolling) / max(1, sum(t for _, t in rolling))) if not auto else None,
            acceptance_cumulative=accepted_total / tested_total if tested_total else None,
            tau_cumulative=total / (r + 1), total_tokens=total, tokens_per_s=tps,
            baseline_tokens_per_s=base, speedup=tps / base,
        ))
    if finished:
        elapsed_ms = (now - t0_ns) / 1e6
        text = "".join(e.token_text for e in events if isinstance(e, Verify) and e.status != "rejected")
        emit(RunFinished(status="completed", finish_reason="max_tokens", rounds=rounds, drafted=0 if auto else rounds * k,
                         tested=tested_total, accepted=accepted_total, produced=total, wall_ms=elapsed_ms,
                         acceptance_rate=accepted_total / tested_total if tested_total else None,
                         tau=total / max(1, rounds), tokens_per_s=total / (elapsed_ms / 1e3),
                         output_text=text))
    return events


def record_synthetic(traces, *, finish: bool = True, upto: int | None = None, flush="round", **kw):
    """Write a synthetic run through the recording API; returns its run id, or with
    finish=False the open Recording (a live run) after `upto` events."""
    from specviz.recording import open_run

    events = synthetic_events(finished=True, **kw)
    rec = open_run(traces, events[0], flush=flush)
    body = events[1:-1] if upto is None else events[1:upto]
    for ev in body:
        rec.log(ev)
    if not finish:
        rec.flush()
        return rec
    rec.finish(events[-1])
    return rec.run_id
