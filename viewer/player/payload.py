"""A folded run (``ReplayIndex``) as the plain, compact data the client-side player reads.

The player moves the scrub position in the browser, so it needs every fact with the
event index at which it became true, exactly as ``ReplayIndex`` holds them; it then
answers "the run after event N" with bisections, as ``ReplayState`` does in Python.

Compact because a 2,000-round run travels to the page once (and into a self-contained
HTML file): tables are column lists, token texts are interned in one string table
(a run repeats few distinct tokens), floats are rounded to what a tooltip shows.

Built column by column (attribute lists, then numpy for the exp and the rounding): the
open of a long run waits on this, and a value-by-value loop cost ~0.25 s at 2,000 rounds.

A run still recording grows at its end: ``PayloadBuilder`` keeps the columns and extends
them with what a longer read of the run added. Every table only grows, except the drafts
whose verdict was not known yet (the last round's), which are rebuilt; so what a player
holding an earlier version lacks is each column's tail past its ``stable`` length
(``PayloadBuilder.delta_since``), found without comparing anything. ``delta`` does the
same for any two payloads by comparison (a finished run's Parquet read after its log).
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Sequence

import msgspec
import numpy as np

from specviz.events import DraftToken, TopToken, Verify
from specviz.replay import ReplayIndex
from specviz.statuses import COMMITTED

VERSION = 1
# Draft / commit statuses as small integers (the player holds the same list).
STATUSES = ("accepted", "rejected", "resampled", "bonus", "pending", "skipped")
_STATUS = {s: i for i, s in enumerate(STATUSES)}
METRIC_FIELDS = ("round", "tested", "accepted", "produced", "draft_ms", "verify_ms", "sample_ms", "round_ms",
                 "acceptance_rolling", "acceptance_cumulative", "tau_cumulative", "total_tokens", "tokens_per_s",
                 "baseline_tokens_per_s", "speedup")
TOP_N = 5  # alternatives per token a tooltip lists
VERIFY_COLUMNS = ("seq", "round", "pos", "status", "text", "draft_text", "p", "q", "final_p", "acc", "u", "ent", "top",
                  "exact", "inexact")
DRAFT_COLUMNS = ("round", "pos", "text", "seq", "status", "verdict_at", "q", "ent", "top", "verify")
_TABLES = ("events", "verifies", "drafts", "commits", "metrics")  # dicts of columns
_ENCODER = msgspec.json.Encoder()


def _rounded(values: Iterable, digits: int) -> list:
    """Floats rounded for the wire; None for missing and non-finite ones (JSON has no NaN)."""
    a = np.fromiter((np.nan if v is None else v for v in values), dtype=float)
    out = np.round(a, digits).astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def _probabilities(logprobs: Iterable, digits: int) -> list:
    """exp(logprob), rounded; None where there is no logprob."""
    a = np.fromiter((np.nan if v is None else v for v in logprobs), dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.exp(a)
    out = np.round(p, digits).astype(object)
    out[~np.isfinite(p)] = None
    return out.tolist()


def _either(recorded: Sequence, derived: list) -> list:
    """A 1.1 field where it was recorded, else the value derived from the logprobs."""
    return [d if r is None else r for r, d in zip(recorded, derived)]


class _Strings:
    """Token texts interned: each distinct text sent once, referenced by number."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def intern(self, events: Iterable) -> None:
        # An event's strings get their numbers at that event, so a string table read from a
        # prefix of the run is a prefix of the table read from all of it (deltas stay small).
        # Gathered in event order first, then numbered in C (dict.fromkeys keeps the first
        # occurrence's place): a call per string was a third of a cold open's payload.
        texts: list[str] = []
        add, extend = texts.append, texts.extend
        for ev in events:
            if isinstance(ev, Verify):
                add(ev.token_text)
                add(ev.draft_token_text)
            elif not isinstance(ev, DraftToken):
                continue
            else:
                add(ev.token_text)
            extend([t.text for t in ev.top[:TOP_N]])
        ids = self.ids
        new = [t for t in dict.fromkeys(texts) if t not in ids]
        ids.update(zip(new, range(len(ids), len(ids) + len(new))))

    def tops(self, tops: Sequence[Sequence[TopToken]]) -> list[list]:
        """Each row's top alternatives as a flat [text id, probability, ...] list."""
        flat = [t for top in tops for t in top[:TOP_N]]
        ids = self.ids
        pairs: list = [None] * (2 * len(flat))
        pairs[0::2] = [ids[t.text] for t in flat]
        pairs[1::2] = _probabilities((t.logprob for t in flat), 4)
        out, at = [], 0
        for top in tops:
            n = 2 * min(len(top), TOP_N)
            out.append(pairs[at:at + n])
            at += n
        return out


def _run_header(index: ReplayIndex) -> dict:
    started = index.started
    return {} if started is None else {
        "run_id": started.run_id, "method": started.method, "drafter": started.drafter,
        "target": started.target_model or started.target, "k": started.k, "temperature": started.temperature,
        "prompt": started.prompt,
    }


class PayloadBuilder:
    """The player's payload of a run, extended as a longer read of the same run is folded.

    ``extend(index)`` adds what ``index`` holds beyond the previous call (the same run,
    folded further: ``specviz.replay.IndexBuilder``, or a new fold of a longer prefix);
    ``stable()`` names, per column, how many leading values will never change.
    """

    def __init__(self) -> None:
        self.strings = _Strings()
        self.type_no: dict[str, int] = {}
        self.verify_row: dict[int, int] = {}  # seq of a verify event -> its row in "verifies"
        self.draft_no: dict[int, int] = {}  # id() of a DraftNode (held by the index) -> its row in "drafts"
        self.undecided = 0  # the first draft whose verdict was not known at the last extend
        self.body: dict = {
            "version": VERSION, "statuses": STATUSES, "run": {}, "live": True, "finished_at": None,
            "events": {"type": [], "round": [], "t": []},
            "verifies": {k: [] for k in VERIFY_COLUMNS},
            "drafts": {k: [] for k in DRAFT_COLUMNS},
            "commits": {"seq": [], "verify": [], "draft": []},
            "round_base": [],
            "metrics": {"seq": [], **{f: [] for f in METRIC_FIELDS}},
            "spans": [], "errors": [], "strings": [], "event_types": [],
        }

    def extend(self, index: ReplayIndex) -> dict:
        """The payload of `index`, built from the previous one (its columns are extended in place)."""
        b = self.body
        n_events = len(b["events"]["round"])
        events = index.events[n_events:]
        self.strings.intern(events)
        b["run"], b["live"], b["finished_at"] = _run_header(index), index.live, index.finished_at
        ev = b["events"]
        ev["type"] += [self.type_no.setdefault(e.__struct_config__.tag, len(self.type_no)) for e in events]
        ev["round"] += index.event_round[n_events:]
        ev["t"] += _rounded(index.event_time[n_events:], 4)
        self._verifies(index, n_events)
        self._drafts(index)
        self._commits(index)
        self._metrics(index)
        b["round_base"] += [[r, base] for r, base in islice(index.round_base.items(), len(b["round_base"]), None)]
        b["errors"] += [[i, round(index.event_time[i], 4), e.where, e.message[:300], e.attempt, bool(e.retryable)]
                        for i, e in index.errors[len(b["errors"]):]]
        b["strings"] += list(self.strings.ids)[len(b["strings"]):]
        b["event_types"] += list(self.type_no)[len(b["event_types"]):]
        return b

    def _verifies(self, index: ReplayIndex, n_events: int) -> None:
        """Every verify event a draft's verdict or a commit refers to, once, in event order,
        with its numbers as probabilities (p and q from the 1.1 fields where recorded)."""
        seqs = {d.verdict_at for d in index.drafts[self.undecided:] if d.verify is not None and d.verdict_at >= n_events}
        seqs.update(index.commit_at[len(self.body["commits"]["seq"]):])
        rows = sorted(seqs)
        vs = [index.events[i] for i in rows]
        cols = self.body["verifies"]
        for i in rows:
            self.verify_row[i] = len(self.verify_row)
        s = self.strings
        p = _rounded(_either([v.target_p for v in vs], _probabilities((v.target_logprob for v in vs), 5)), 5)
        q = _rounded(_either([v.draft_q for v in vs], _probabilities((v.draft_logprob for v in vs), 5)), 5)
        new = {
            "seq": rows, "round": [v.round for v in vs], "pos": [v.position for v in vs],
            "status": [_STATUS[v.status] for v in vs], "text": [s.ids[v.token_text] for v in vs],
            "draft_text": [s.ids[v.draft_token_text] for v in vs], "p": p, "q": q,
            "final_p": _probabilities((v.final_logprob for v in vs), 5),
            "acc": _rounded((v.acceptance_prob for v in vs), 4), "u": _rounded((v.u for v in vs), 4),
            "ent": _rounded((v.target_entropy for v in vs), 3), "top": s.tops([v.top for v in vs]),
            "exact": [v.exact for v in vs], "inexact": [v.inexact_reason for v in vs],
        }
        for k, values in new.items():
            cols[k] += values

    def _drafts(self, index: ReplayIndex) -> None:
        """New drafts, and again every draft that was still undecided (its verdict may have come)."""
        start = self.undecided
        ds = index.drafts[start:]
        where, ids = self.verify_row, self.strings.ids
        new = {
            "round": [d.round for d in ds], "pos": [d.position for d in ds], "text": [ids[d.text] for d in ds],
            "seq": [d.seq for d in ds], "status": [_STATUS[d.status] for d in ds],
            "verdict_at": [d.verdict_at for d in ds], "q": _probabilities((d.logprob for d in ds), 5),
            "ent": _rounded((d.entropy for d in ds), 3), "top": self.strings.tops([d.top for d in ds]),
            "verify": [where.get(d.verdict_at, -1) if d.verify is not None else -1 for d in ds],
        }
        cols = self.body["drafts"]
        for k, values in new.items():
            del cols[k][start:]
            cols[k] += values
        self.undecided = next((start + i for i, d in enumerate(ds) if d.verdict_at is None), len(index.drafts))

    def _commits(self, index: ReplayIndex) -> None:
        cols = self.body["commits"]
        n = len(cols["seq"])
        new = index.commits[n:]
        for i in range(len(self.draft_no), len(index.drafts)):
            self.draft_no[id(index.drafts[i])] = i
        cols["seq"] += index.commit_at[n:]
        cols["verify"] += [self.verify_row[c.seq] for c in new]
        cols["draft"] += [self.draft_no.get(id(c.draft), -1) for c in new]

    def _metrics(self, index: ReplayIndex) -> None:
        cols = self.body["metrics"]
        n = len(cols["seq"])
        new = index.metrics[n:]
        cols["seq"] += index.metrics_at[n:]
        for f in METRIC_FIELDS:
            cols[f] += _rounded((getattr(m, f) for m in new), 4)
        spans = index.spans[n:]
        times = [_rounded(col, 5) for col in ([sp.draft[0] for sp in spans], [sp.draft[1] for sp in spans],
                                              [sp.verify[1] for sp in spans], [sp.sample[1] for sp in spans])]
        self.body["spans"] += [[sp.round, sp.seq, *t] for sp, t in zip(spans, zip(*times))]

    def stable(self) -> dict:
        """How many leading values of each column no later extend changes (the drafts
        still undecided are rebuilt; every other table only grows)."""
        out: dict = {}
        for key, value in self.body.items():
            if isinstance(value, dict) and key in _TABLES:
                out[key] = {k: self.undecided if key == "drafts" else len(v) for k, v in value.items()}
            elif isinstance(value, list):
                out[key] = len(value)
        return out

    def delta_since(self, stable: dict) -> dict:
        """What turns the payload as it was when `stable` was taken into the current one,
        in ``delta``'s form; it costs the tails, not the run."""
        out: dict = {}
        for key, value in self.body.items():
            keep = stable.get(key)
            if isinstance(value, dict) and keep is not None:
                out[key] = {"$d": {k: {"$keep": keep[k], "$tail": v[keep[k]:]} for k, v in value.items()}}
            elif isinstance(value, list) and keep is not None:
                out[key] = {"$keep": keep, "$tail": value[keep:]}
            else:
                out[key] = value
        return out


def payload(index: ReplayIndex) -> dict:
    """Everything the player draws, for every scrub position."""
    return PayloadBuilder().extend(index)


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


def apply_delta(old: dict, d: dict) -> dict:
    """The player's applyDelta (player.js) in Python, for checking deltas: a new payload,
    lists keeping a prefix of `old`'s and gaining a tail."""
    out = dict(old)
    for key, value in d.items():
        if isinstance(value, dict) and "$d" in value:
            out[key] = apply_delta(old[key], value["$d"])
        elif isinstance(value, dict) and "$keep" in value:
            out[key] = old[key][: value["$keep"]] + value["$tail"]
        else:
            out[key] = value
    return out


def encode_json(value) -> str:
    return _ENCODER.encode(value).decode()
