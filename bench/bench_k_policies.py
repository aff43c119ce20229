"""K policies replayed exactly on recorded greedy n-gram runs: how much any per-round K
choice could gain over the best fixed K, and what policies using the signals the engine has
for free at the start of a round get of it.

    uv run python bench/bench_k_policies.py --store DIR --record [--set tuning|held-out]   # record once
    uv run python bench/bench_k_policies.py --store DIR [--bounds] [--per-token 0.1]

Greedy n-gram runs are deterministic given their output, so a run at any K, under any
policy, is re-enacted from the recorded ids (as `specviz analyze`'s what-if replay does):
each round the real lookup proposes up to 16 tokens, the policy picks K, the prefix that
equals the recorded output is accepted, plus one token. Time per round is a line fitted to
the store's own rounds (verify ms against tokens scored, plus median draft and other ms), so
every policy is charged by one cost model and timing noise does not enter. ``--record``
records one of bench_adaptive.py's prompt sets at K = 1, 4, 16 (64 tokens).

What a policy sees at the start of a round (all free in the engine: the lookup costs
~0.1 ms and the target's probabilities come with every verify): the matched n-gram order n
and how far the match extends back; the proposal; the target's probability of the last
output token (``conf``, recorded as the verify events' final logprob; greedy, so it is the
target's top-1 probability there) and the lowest of the last three; momentum (did the last
round accept everything it drafted, and the run of accepted tokens since the last
rejection); how many earlier occurrences the matched n-gram has and whether all of them
were followed by the token the lookup proposes (``agree``).

Policies: every fixed K; the engine's ``-k auto`` (engine/adaptive.py, fed the modelled
times); the same survival rule with its statistics kept per feature bin instead of per
momentum only (``auto by ...``, learnt online within the run, nothing fitted beforehand);
per-bin Beta estimates of P(first drafted token accepted) and P(next accepted | previous
accepted) with the stop rule "draft token i while P(tokens 1..i accepted) ≥ ρ · v" (ρ the
run's tokens per ms so far, v its measured ms per scored token: the one-step optimum for
tokens per ms), bins by n × conf × momentum; K by n-gram order, K by match length
(SuffixDecoding's rule); the per-round oracle (drafts exactly what will be accepted) and a
first-token oracle (knows only whether the first drafted token is accepted: K = 8 or 0).
``--bounds`` adds what no online policy can beat with these features: the best static map
from feature bins to K, fitted on the evaluated prompts themselves (coordinate ascent), over
the set and prompt by prompt.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from specviz.engine.adaptive import AdaptiveK  # noqa: E402
from specviz.engine.drafters.ngram import lookup_match  # noqa: E402
from specviz.sql import connect  # noqa: E402

WIDTH = 16
GRID = (1, 2, 3, 4, 6, 8, 12, 16)
STATIC_KS = (0, 1, 2, 3, 4, 6, 8, 12, 16)
CONF_CUT = 0.5  # the target's p of the last token: "sure" from here (set before any replay; not tuned)


def record(store: str, max_tokens: int, prompts: dict[str, str]) -> None:
    from specviz.engine import Engine, RunOptions

    engine = Engine.from_specs("bundled", "ngram:3")
    for k in (1, 4, 16):
        for prompt in prompts.values():
            engine.record(prompt, RunOptions(k=k, max_tokens=max_tokens, baseline="none"), traces=store)


def load(con) -> list[tuple[list[int], list[int], int, list[float]]]:
    """(prompt ids, output ids, max_tokens, the target's logprob of each output token) per
    prompt, from its K = 16 run (every K produced the same tokens: greedy)."""
    runs = con.execute("SELECT run_id, prompt_token_ids, output_token_ids, max_tokens FROM runs WHERE method = "
                       "'speculative' AND temperature = 0 ORDER BY prompt, k DESC").fetchall()
    out, seen = [], set()
    for run_id, ids, ids_out, max_tokens in runs:
        if tuple(ids) in seen:
            continue
        seen.add(tuple(ids))
        lps = [lp for (lp,) in con.execute("SELECT logprob FROM tokens WHERE run_id = ? ORDER BY token_index",
                                           [run_id]).fetchall()]
        assert len(lps) == len(ids_out), run_id
        out.append((list(ids), list(ids_out), max_tokens, lps))
    return out


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


def followers(ctx: list[int], n: int) -> list[int]:
    """The token after every earlier occurrence of the context's last n tokens."""
    arr = np.asarray(ctx)
    windows = np.lib.stride_tricks.sliding_window_view(arr[:-1], n)
    hits = np.flatnonzero((windows == arr[-n:]).all(axis=1)) + n
    return arr[hits[hits < arr.size]].tolist()


def features(prompt, out, lps, pos, last, run) -> dict:
    ctx = prompt + out[:pos]
    m = lookup_match(ctx, 3)
    full = ctx[m[1]:m[1] + WIDTH] if m else []
    nxt = followers(ctx, m[0]) if m else []
    return dict(n=m[0] if m else 0, length=match_length(ctx, m[1], m[0]) if m else 0, full=full, pos=pos, out=out,
                conf=math.exp(lps[pos - 1]) if pos else 0.0, conf3=math.exp(min(lps[max(0, pos - 3):pos] or [0.0])),
                momentum=last is not None and last[0] == last[1], run=run, occ=len(nxt),
                agree=all(t == full[0] for t in nxt) if full else False)


def simulate(prompt, out, lps, max_tokens, policy, cost) -> float:
    """Milliseconds the run takes under a policy (choose(features) -> K; observe(...) after)."""
    pos, ms, last, run = 0, 0.0, None, 0
    while pos < len(out):
        f = features(prompt, out, lps, pos, last, run)
        draft = f["full"][:max(0, min(policy.choose(f), max_tokens - pos - 1))]
        a = 0
        while a < len(draft) and pos + a < len(out) and draft[a] == out[pos + a]:
            a += 1
        ms += cost(len(draft))
        policy.observe(f, len(draft), a, cost(len(draft)))
        if draft:
            last, run = (len(draft), a), run + a if a == len(draft) else 0
        pos += min(a + 1, len(out) - pos)
    return ms


def accepted_run(f) -> int:
    a = 0
    while a < len(f["full"]) and f["pos"] + a < len(f["out"]) and f["full"][a] == f["out"][f["pos"] + a]:
        a += 1
    return a


class Fixed:
    def __init__(self, choose):
        self.choose = choose

    def observe(self, *args) -> None:
        return None


BINS = {  # feature bins, each a key of the features a round starts with
    "n": lambda f: min(f["n"], 3),
    "momentum": lambda f: f["momentum"],
    "n+momentum": lambda f: (min(f["n"], 3), f["momentum"]),
    "n+agree": lambda f: (min(f["n"], 3), f["agree"]),
    "n+agree+momentum": lambda f: (min(f["n"], 3), f["agree"], f["momentum"]),
    "conf+momentum": lambda f: (f["conf"] >= CONF_CUT, f["momentum"]),
    "n+conf": lambda f: (min(f["n"], 3), f["conf"] >= CONF_CUT),
    "n+conf+momentum": lambda f: (min(f["n"], 3), f["conf"] >= CONF_CUT, f["momentum"]),
    "n+agree+conf+momentum": lambda f: (min(f["n"], 3), f["agree"], f["conf"] >= CONF_CUT, f["momentum"]),
}


class Keyed:
    """The engine's survival rule (engine/adaptive.py) with its per-position statistics kept
    per feature bin (the engine keeps them per momentum only)."""

    def __init__(self, key, parts):
        self.p, self.key = AdaptiveK(WIDTH), key
        self.p.regimes = defaultdict(type(self.p.regimes[True]))
        _, _, self.other, self.draft = parts

    def choose(self, f) -> int:
        self.p.copying = self.key(f)  # the regime this round's statistics go to
        return self.p.choose()

    def observe(self, f, d, a, ms) -> None:
        self.p.copying = self.key(f)
        draft = self.draft if d else 0.0
        self.p.observe(WIDTH, d, min(d, a + 1), a, draft, ms - self.other - draft, ms)


class Engine(Keyed):
    """``-k auto`` as the engine runs it: statistics per momentum, set by observe()."""

    def choose(self, f) -> int:
        return self.p.choose()

    def observe(self, f, d, a, ms) -> None:
        draft = self.draft if d else 0.0
        self.p.observe(WIDTH, d, min(d, a + 1), a, draft, ms - self.other - draft, ms)


class BetaStop:
    """P(first drafted token accepted | bin) and P(next accepted | previous accepted, bin),
    Beta(1, 1) plus what the run has seen; draft token i while the chance all of 1..i are
    accepted is at least ρ · v (ρ the run's tokens per ms, v its ms per scored token)."""

    def __init__(self, key):
        self.key, self.counts = key, defaultdict(lambda: [0, 0])
        self.verify, self.produced, self.ms, self.rounds = AdaptiveK(WIDTH).verify, 0, 0.0, 0  # its cost line

    def choose(self, f) -> int:
        if self.rounds < 2:
            return 4  # the engine's warm-up: no costs known yet
        bar, b, survive, k = self.produced / self.ms * self.verify.line()[1], self.key(f), 1.0, 0
        for i in range(len(f["full"])):
            tested, accepted = self.counts[(b, min(i, 1))]
            survive *= (accepted + 1) / (tested + 2)
            if survive < bar:
                break
            k = i + 1
        return k

    def observe(self, f, d, a, ms) -> None:
        self.rounds, self.produced, self.ms = self.rounds + 1, self.produced + a + 1, self.ms + ms
        self.verify.add(d + 1, ms)
        for i in range(min(d, a + 1)):
            c = self.counts[(self.key(f), min(i, 1))]
            c[0], c[1] = c[0] + 1, c[1] + (i < a)


def policies(parts):
    out = {f"K={k}": (lambda k=k: Fixed(lambda f: k)) for k in GRID}
    out["auto (engine)"] = lambda: Engine(None, parts)
    for name in ("n", "n+momentum", "n+agree", "n+agree+momentum", "conf+momentum", "n+conf+momentum",
                 "n+agree+conf+momentum"):
        out[f"auto by {name}"] = lambda name=name: Keyed(BINS[name], parts)
    out["Beta bins n+conf+momentum, stop at rho*v"] = lambda: BetaStop(BINS["n+conf+momentum"])
    for k1, k2 in ((1, 8), (2, 8), (2, 16)):
        out[f"by order {k1}/{k2}"] = lambda k1=k1, k2=k2: Fixed(lambda f: (0, k1, k2, k2)[f["n"]])
    for c in (2, 3):
        out[f"{c} x match length"] = lambda c=c: Fixed(lambda f: int(min(WIDTH, c * f["length"])) if f["n"] else 0)
    out["first-token oracle (K = 8 or 0)"] = lambda: Fixed(lambda f: 8 if accepted_run(f) else 0)
    out["oracle per round"] = lambda: Fixed(accepted_run)
    return out


def static_bound(runs, key, cost) -> tuple[float, dict]:
    """Tokens per ms of the best map from bins to K for these runs (coordinate ascent, 3 sweeps)."""
    tokens = sum(len(o) for _, o, _, _ in runs)
    table = [[features(p, o, lp, pos, None, 0) for pos in range(len(o))] for p, o, _, lp in runs]
    bins = sorted({key({**f, "momentum": m}) for rows in table for f in rows if f["full"] for m in (0, 1)}, key=str)

    def rate(ks: dict) -> float:
        ms = 0.0
        for (_, out, max_tokens, _), rows in zip(runs, table):
            pos, last = 0, None
            while pos < len(out):
                f = {**rows[pos], "momentum": last is not None and last[0] == last[1]}
                d = min(ks[key(f)], len(f["full"]), max_tokens - pos - 1) if f["full"] else 0
                a = min(accepted_run(f), d)
                ms += cost(d)
                last = (d, a) if d else last
                pos += min(a + 1, len(out) - pos)
        return tokens / ms

    best = {b: 2 for b in bins}
    top = rate(best)
    for _ in range(3):
        for b in bins:
            for k in STATIC_KS:
                trial = {**best, b: k}
                r = rate(trial)
                if r > top + 1e-12:
                    top, best = r, trial
    return top, best


def bounds(runs, cost, best_rate) -> None:
    tokens = sum(len(o) for _, o, _, _ in runs)
    per_prompt_k = sum(min(simulate(p, o, lp, mt, Fixed(lambda f, k=k: k), cost) for k in GRID) for p, o, mt, lp in runs)
    print(f"  {'best fixed K per prompt (hindsight)':44s} {tokens / per_prompt_k * 1e3 / best_rate:.3f}x")
    for name in ("n", "n+agree+momentum", "n+conf+momentum", "n+agree+conf+momentum"):
        whole, _ = static_bound(runs, BINS[name], cost)
        each = tokens / sum(len(r[1]) / static_bound([r], BINS[name], cost)[0] for r in runs)
        print(f"  best static map {name:28s} {whole * 1e3 / best_rate:.3f}x over the set, "
              f"{each * 1e3 / best_rate:.3f}x prompt by prompt (both fitted on these prompts)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--set", default="tuning", help="with --record: bench_adaptive.py's prompt set to record")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--per-token", type=float, help="instead of the fitted slope: each scored token costs this "
                    "share of a one-token forward (the fit is noisy on a loaded machine)")
    ap.add_argument("--bounds", action="store_true", help="also the best static feature-to-K maps (slow)")
    args = ap.parse_args()
    if args.record:
        from bench_adaptive import SETS
        record(args.store, args.max_tokens, SETS[args.set])
    con = connect(args.store)
    runs = load(con)
    cost, parts = cost_model(con, args.per_token)
    tokens = sum(len(o) for _, o, _, _ in runs)
    rate = {name: tokens / sum(simulate(p, o, lp, mt, make(), cost) for p, o, mt, lp in runs) * 1e3
            for name, make in policies(parts).items()}
    best = max((n for n in rate if n.startswith("K=")), key=rate.get)
    grid = max(("K=2", "K=4", "K=8", "K=16"), key=rate.get)
    print(f"{len(runs)} prompts, {tokens} tokens; modelled tokens/s, against the best fixed K ({best}) and the "
          f"best of the live grid 2,4,8,16 ({grid}):")
    for name, r in rate.items():
        print(f"  {name:44s} {r:7.3f}  {r / rate[best]:.3f}x  {r / rate[grid]:.3f}x")
    if args.bounds:
        bounds(runs, cost, rate[best])


if __name__ == "__main__":
    main()
