"""K policies replayed exactly on recorded greedy n-gram runs: how much any per-round K
choice could gain over the best fixed K, and what simple policies get of it.

    uv run python bench/bench_k_policies.py --store DIR [--record]

Greedy n-gram runs are deterministic given their output, so a run at any K, under any
policy, is re-enacted from the recorded ids (as `specviz analyze`'s what-if replay does):
each round the real lookup proposes up to 16 tokens, the policy picks K, the prefix that
equals the recorded output is accepted, plus one token. Time per round is a line fitted
to the store's own rounds (verify ms against tokens scored, plus median draft and other
ms), so every policy is charged by one cost model and timing noise does not enter.
``--record`` first records bench_adaptive.py's 8 prompts at K = 1, 4, 16 (64 tokens).

Policies: every fixed K; the engine's ``-k auto`` (engine/adaptive.py, fed the modelled
times); K by the matched n-gram order (n = 1 / n ≥ 2, grid); K proportional to the match's
length (SuffixDecoding's rule, grid); and the per-round oracle that drafts exactly the
tokens that will be accepted (the ceiling of any policy using this drafter).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from specviz.engine.adaptive import AdaptiveK  # noqa: E402
from specviz.engine.drafters.ngram import lookup_match  # noqa: E402
from specviz.sql import connect  # noqa: E402

WIDTH = 16


def record(store: str, max_tokens: int) -> None:
    from bench_adaptive import PROMPTS
    from specviz.engine import Engine, RunOptions

    engine = Engine.from_specs("bundled", "ngram:3")
    for k in (1, 4, 16):
        for prompt in PROMPTS.values():
            engine.record(prompt, RunOptions(k=k, max_tokens=max_tokens, baseline=False), traces=store)


def cost_model(con, per_token: float | None = None):
    r = con.execute("SELECT drafted + 1 AS x, verify_ms, round_ms - draft_ms - verify_ms AS other, draft_ms "
                    "FROM rounds").fetchnumpy()
    xs = np.unique(r["x"])
    ys = np.array([np.median(r["verify_ms"][r["x"] == v]) for v in xs])
    w = np.sqrt([(r["x"] == v).sum() for v in xs])
    v0, v1 = np.linalg.lstsq(np.vstack([np.ones_like(xs), xs]).T * w[:, None], ys * w, rcond=None)[0]
    other, draft = float(np.median(r["other"])), float(np.median(r["draft_ms"][r["x"] > 1]))
    if per_token is not None:  # what-if: another slope, as a share of the one-token forward
        v0, v1 = (v0 + v1) / (1 + per_token), (v0 + v1) * per_token / (1 + per_token)
    print(f"cost per round: verify {v0:.1f} + {v1:.2f} ms per token scored, draft {draft:.2f} ms, other {other:.2f} ms")
    return lambda d: v0 + v1 * (d + 1) + other + (draft if d else 0.0), (v0, v1, other, draft)


def match_length(ctx: list[int], begin: int, n: int, cap: int = 64) -> int:
    """How far back the matched n-gram keeps matching: the longest L with ctx[-L:] == ctx[begin-L:begin]."""
    length = n
    while length < cap and begin - length - 1 >= 0 and ctx[-length - 1] == ctx[begin - length - 1]:
        length += 1
    return length


def simulate(prompt, out, max_tokens, choose, observe, cost) -> float:
    """Milliseconds the run takes under a policy: choose(features) -> K; observe(...) after."""
    pos, ms = 0, 0.0
    while pos < len(out):
        ctx = prompt + out[:pos]
        m = lookup_match(ctx, 3)
        full = ctx[m[1]:m[1] + WIDTH] if m else []
        f = dict(n=m[0] if m else 0, length=match_length(ctx, m[1], m[0]) if m else 0, full=full, pos=pos, out=out)
        draft = full[:max(0, min(choose(f), max_tokens - pos - 1))]
        a = 0
        while a < len(draft) and pos + a < len(out) and draft[a] == out[pos + a]:
            a += 1
        ms += cost(len(draft))
        observe(len(draft), a, cost(len(draft)))
        pos += min(a + 1, len(out) - pos)
    return ms


def oracle(f) -> int:
    a = 0
    while a < len(f["full"]) and f["pos"] + a < len(f["out"]) and f["full"][a] == f["out"][f["pos"] + a]:
        a += 1
    return a


def policies(parts):
    _, _, other, draft = parts
    out = {f"K={k}": lambda k=k: (lambda f: k, lambda *a: None) for k in (1, 2, 3, 4, 6, 8, 12, 16)}

    def auto():
        p = AdaptiveK(WIDTH)
        return (lambda f: p.choose(),
                lambda d, a, ms: p.observe(WIDTH, d, min(d, a + 1), a, draft if d else 0.0,
                                           ms - other - (draft if d else 0.0), ms))
    out["auto (engine)"] = auto
    for k1 in (0, 1, 2, 4):
        for k2 in (4, 8, 16):
            out[f"by order {k1}/{k2}"] = lambda k1=k1, k2=k2: (lambda f: (0, k1, k2, k2)[f["n"]], lambda *a: None)
    for c in (1, 2, 3, 4):
        out[f"{c} x match length"] = lambda c=c: (lambda f: int(min(WIDTH, c * f["length"])) if f["n"] else 0,
                                                  lambda *a: None)
    out["oracle per round"] = lambda: (oracle, lambda *a: None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--per-token", type=float, help="instead of the fitted slope: each scored token costs this "
                    "share of a one-token forward (the fit is noisy on a loaded machine)")
    args = ap.parse_args()
    if args.record:
        record(args.store, args.max_tokens)
    con = connect(args.store)
    runs = {}
    for prompt, ids, out, mt in con.execute("SELECT prompt, prompt_token_ids, output_token_ids, max_tokens FROM runs "
                                            "WHERE method = 'speculative' AND temperature = 0").fetchall():
        runs.setdefault(prompt, (list(ids), list(out), mt))
    cost, parts = cost_model(con, args.per_token)
    tokens = sum(len(o) for _, o, _ in runs.values())
    rate = {}
    for name, make in policies(parts).items():
        ms = sum(simulate(ids, out, mt, *make(), cost) for ids, out, mt in runs.values())
        rate[name] = tokens / ms * 1e3
    best = max((n for n in rate if n.startswith("K=")), key=rate.get)
    print(f"{len(runs)} prompts, {tokens} tokens; modelled tokens/s, and against the best fixed K ({best}):")
    for name, r in rate.items():
        print(f"  {name:22s} {r:7.3f}  {r / rate[best]:.3f}x")


if __name__ == "__main__":
    main()
