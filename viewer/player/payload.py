"""A folded run (``ReplayIndex``) as the plain, compact data the client-side player reads.

The player moves the scrub position in the browser, so it needs every fact with the
event index at which it became true, exactly as ``ReplayIndex`` holds them; it then
answers "the run after event N" with bisections, as ``ReplayState`` does in Python.

Compact because a 2,000-round run travels to the page once (and into a self-contained
HTML file): tables are column lists, token texts are interned in one string table
(a run repeats few distinct tokens), floats are rounded to what a tooltip shows.

A run still recording grows at its end, so the payload of a longer read of it keeps the
shorter one's columns as prefixes (strings are interned in event order for that) except
for the last round's undecided drafts: ``delta`` sends only each column's changed tail.
"""

from __future__ import annotations

import math
from typing import Sequence

import msgspec

from specviz.events import DraftToken, TopToken, Verify
from specviz.replay import ReplayIndex

VERSION = 1
# Draft / commit statuses as small integers (the player holds the same list).
STATUSES = ("accepted", "rejected", "resampled", "bonus", "pending", "skipped")
_STATUS = {s: i for i, s in enumerate(STATUSES)}
METRIC_FIELDS = ("round", "tested", "accepted", "produced", "draft_ms", "verify_ms", "sample_ms", "round_ms",
                 "acceptance_rolling", "acceptance_cumulative", "tau_cumulative", "total_tokens", "tokens_per_s",
                 "baseline_tokens_per_s", "speedup")
_ENCODER = msgspec.json.Encoder()


def _r(x: float | None, digits: int = 4) -> float | None:
    """Rounded for the wire; None for missing and non-finite values (JSON has no NaN)."""
    if x is None or not math.isfinite(x):
        return None
    return round(x, digits)


class _Strings:
    """Token texts interned: each distinct text sent once, referenced by number."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        i = self.ids.get(text)
        if i is None:
            i = self.ids[text] = len(self.ids)
        return i

    def tops(self, top: Sequence[TopToken], n: int = 5) -> list:
        """Top alternatives as a flat [text id, probability, ...] list."""
        out: list = []
        for t in list(top)[:n]:
            out += [self(t.text), _r(math.exp(t.logprob), 4)]
        return out


def _exp(lp: float | None) -> float | None:
    return None if lp is None else _r(math.exp(lp), 5)


def _verifies(index: ReplayIndex, s: _Strings) -> tuple[dict, dict[int, int]]:
    """Every verify event that a draft or a commit refers to, once, with its numbers as
    probabilities: p, q and the final token's p (p/q from the 1.1 fields when recorded)."""
    cols: dict[str, list] = {k: [] for k in ("seq", "round", "pos", "status", "text", "draft_text", "p", "q", "final_p",
                                              "acc", "u", "ent", "top", "exact", "inexact")}
    where: dict[int, int] = {}
    seen: list[tuple[int, Verify]] = [(d.verdict_at, d.verify) for d in index.drafts if d.verify is not None]
    seen += [(c.seq, c.verify) for c in index.commits]
    for seq, v in sorted(seen, key=lambda x: x[0]):
        if seq in where:
            continue
        where[seq] = len(cols["seq"])
        p = v.target_p if v.target_p is not None else _exp(v.target_logprob)
        q = v.draft_q if v.draft_q is not None else _exp(v.draft_logprob)
        for key, value in (("seq", seq), ("round", v.round), ("pos", v.position), ("status", _STATUS[v.status]), ("text", s(v.token_text)),
                           ("draft_text", s(v.draft_token_text)), ("p", _r(p, 5)), ("q", _r(q, 5)),
                           ("final_p", _exp(v.final_logprob)), ("acc", _r(v.acceptance_prob)), ("u", _r(v.u)),
                           ("ent", _r(v.target_entropy, 3)), ("top", s.tops(v.top)), ("exact", v.exact),
                           ("inexact", v.inexact_reason)):
            cols[key].append(value)
    return cols, where


def _drafts(index: ReplayIndex, s: _Strings, verify_at: dict[int, int]) -> dict:
    cols: dict[str, list] = {k: [] for k in ("round", "pos", "text", "seq", "status", "verdict_at", "q", "ent", "top",
                                              "verify")}
    for d in index.drafts:
        for key, value in (("round", d.round), ("pos", d.position), ("text", s(d.text)), ("seq", d.seq),
                           ("status", _STATUS[d.status]), ("verdict_at", d.verdict_at), ("q", _exp(d.logprob)),
                           ("ent", _r(d.entropy, 3)), ("top", s.tops(d.top)),
                           ("verify", verify_at.get(d.verdict_at, -1) if d.verify is not None else -1)):
            cols[key].append(value)
    return cols


def _draft_numbers(index: ReplayIndex) -> dict[int, int]:
    return {id(d): i for i, d in enumerate(index.drafts)}


def _intern_in_event_order(index: ReplayIndex, s: _Strings) -> None:
    # An event's strings get their numbers at that event, so a string table read from a
    # prefix of the run is a prefix of the table read from all of it (deltas stay small).
    for ev in index.events:
        if isinstance(ev, DraftToken):
            s(ev.token_text)
            s.tops(ev.top)
        elif isinstance(ev, Verify):
            s(ev.token_text)
            s(ev.draft_token_text)
            s.tops(ev.top)


def payload(index: ReplayIndex) -> dict:
    """Everything the player draws, for every scrub position."""
    s = _Strings()
    _intern_in_event_order(index, s)
    verifies, verify_at = _verifies(index, s)
    draft_no = _draft_numbers(index)
    started = index.started
    run = {} if started is None else {
        "run_id": started.run_id, "method": started.method, "drafter": started.drafter,
        "target": started.target_model or started.target, "k": started.k, "temperature": started.temperature,
        "prompt": started.prompt,
    }
    events = index.events
    type_no: dict[str, int] = {}
    out = {
        "version": VERSION,
        "statuses": STATUSES,
        "run": run,
        "live": index.live,
        "finished_at": index.finished_at,
        "events": {
            "type": [type_no.setdefault(ev.__struct_config__.tag, len(type_no)) for ev in events],
            "round": index.event_round,
            "t": [_r(t, 4) for t in index.event_time],
        },
        "verifies": verifies,
        "drafts": _drafts(index, s, verify_at),
        "commits": {
            "seq": [c.seq for c in index.commits],
            "verify": [verify_at[c.seq] for c in index.commits],
            "draft": [draft_no.get(id(c.draft), -1) for c in index.commits],
        },
        "round_base": [[r, b] for r, b in index.round_base.items()],
        "metrics": {"seq": index.metrics_at, **{f: [_r(getattr(m, f), 4) for m in index.metrics] for f in METRIC_FIELDS}},
        "spans": [[sp.round, sp.seq, _r(sp.draft[0], 5), _r(sp.draft[1], 5), _r(sp.verify[1], 5), _r(sp.sample[1], 5)]
                  for sp in index.spans],
        "errors": [[i, _r(index.event_time[i], 4), e.where, e.message[:300], e.attempt, bool(e.retryable)]
                   for i, e in index.errors],
        "strings": list(s.ids),
    }
    out["event_types"] = list(type_no)
    return out


def encode(index: ReplayIndex) -> str:
    """The payload as JSON text (what the component and the HTML export carry)."""
    return _ENCODER.encode(payload(index)).decode()


def _common_prefix(old: list, new: list) -> int:
    """How many leading items two lists share (compared in C, by slices: prefix equality is
    monotone, so a bisection finds the first difference)."""
    n = min(len(old), len(new))
    if old[:n] == new[:n]:
        return n
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def delta(old: dict, new: dict) -> dict:
    """What turns payload `old` into `new`: every list as [kept prefix length, new tail],
    nested dicts likewise, anything else whole. The player applies it (player.js)."""
    out: dict = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            out[key] = {"$d": delta(before, value)}
        elif isinstance(value, list) and isinstance(before, list):
            keep = _common_prefix(before, value)
            out[key] = {"$keep": keep, "$tail": value[keep:]}
        else:
            out[key] = value
    return out


def encode_json(value) -> str:
    return _ENCODER.encode(value).decode()
