"""Two runs against each other, as plain data: their outputs aligned token by token, the
settings that make a comparison unfair, and their totals side by side.

No Streamlit here (the Compare page draws what these return), so each piece is tested
on recorded runs directly.
"""

from __future__ import annotations

import difflib
import html
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from specviz.replay import CommitNode, ReplayIndex

CONTEXT = 8  # identical tokens kept on each side of a difference; longer equal stretches fold
NOT_MEASURED = "not measured"


def show_token(text: str) -> str:
    """A token made visible: whitespace shown, control characters named."""
    if text == "":
        return "∅"
    return text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·")


@dataclass(frozen=True)
class DiffOp:
    """One stretch of the alignment: difflib's opcode over output indexes of A and B."""

    kind: str  # equal | replace (substitution) | delete (only in A) | insert (only in B)
    a: range
    b: range


def _key(c: CommitNode) -> tuple[int, str]:
    return c.verify.token_id, c.verify.token_text


def align(a: Sequence[CommitNode], b: Sequence[CommitNode]) -> list[DiffOp]:
    """Token-aligned diff of two outputs (ids and texts compared, so two tokenizers that
    happen to share ids but not texts still differ). No junk heuristic: repeated tokens
    such as spaces are exactly what must align."""
    sm = difflib.SequenceMatcher(None, [_key(c) for c in a], [_key(c) for c in b], autojunk=False)
    return [DiffOp(tag, range(i1, i2), range(j1, j2)) for tag, i1, i2, j1, j2 in sm.get_opcodes()]


def counts(ops: Sequence[DiffOp]) -> dict[str, int]:
    """Tokens in each kind of difference: substituted (A's side), deleted, inserted, and equal."""
    out = dict.fromkeys(("equal", "replace", "delete", "insert"), 0)
    for op in ops:
        out[op.kind] += max(len(op.a), len(op.b)) if op.kind == "replace" else len(op.a) or len(op.b)
    return out


def first_difference(ops: Sequence[DiffOp]) -> tuple[int, int] | None:
    """(A index, B index) where the outputs first differ; None when identical."""
    for op in ops:
        if op.kind != "equal":
            return op.a.start, op.b.start
    return None


def divergence_seq(index: ReplayIndex, at: int) -> int:
    """The event index at which a run commits output token `at` (its last event when the
    run ends before it): where a Replay link lands to show the divergence."""
    if at < len(index.commits):
        return index.commits[at].seq
    return index.n_events - 1


def _spans(commits: Sequence[CommitNode], rng: range, cls: str) -> str:
    text = html.escape("".join(commits[i].verify.token_text for i in rng))
    if cls == "same" or not rng:
        return text
    # A difference made only of whitespace would be invisible: show it.
    shown = text if text.strip() else html.escape("".join(show_token(commits[i].verify.token_text) for i in rng))
    return f'<span class="{cls}">{shown}</span>'


def _equal(a: Sequence[CommitNode], rng: range, first: bool, last: bool) -> str:
    """An identical stretch, folded to CONTEXT tokens around the differences."""
    keep_head = 0 if first else CONTEXT
    keep_tail = 0 if last else CONTEXT
    if len(rng) <= keep_head + keep_tail + CONTEXT:
        return _spans(a, rng, "same")
    head, tail = rng[:keep_head], rng[len(rng) - keep_tail:]
    folded = len(rng) - len(head) - len(tail)
    return (_spans(a, head, "same") + f'<span class="fold"> … {folded} identical tokens … </span>'
            + _spans(a, tail, "same"))


STYLE = (
    "<style>.specviz-diff{white-space:pre-wrap;line-height:1.7;font-family:monospace}"
    ".specviz-diff .a{background:#dbeafe;color:#1e3a8a;text-decoration:line-through;border-bottom:2px solid #2563eb}"
    ".specviz-diff .b{background:#ffedd5;color:#7c2d12;border-bottom:2px solid #ea580c}"
    ".specviz-diff .fold{color:#6b7280;font-style:italic}</style>"
)


def diff_html(a: Sequence[CommitNode], b: Sequence[CommitNode], ops: Sequence[DiffOp]) -> str:
    """One inline text: what both share in plain type, A's tokens (blue, struck through)
    followed by B's (orange) where they differ; long identical stretches fold."""
    parts = []
    for i, op in enumerate(ops):
        if op.kind == "equal":
            parts.append(_equal(a, op.a, first=i == 0, last=i == len(ops) - 1))
            continue
        parts.append(_spans(a, op.a, "a") + _spans(b, op.b, "b"))
    body = "".join(parts) or '<span class="fold">(no tokens)</span>'
    return f'{STYLE}<div class="specviz-diff">{body}</div>'


def mismatches(a: ReplayIndex, b: ReplayIndex) -> list[str]:
    """What differs in the runs' set-up such that their outputs cannot be compared fairly."""
    sa, sb = a.started, b.started
    if sa is None or sb is None:
        return ["a run has no run_started event: its prompt and target are unknown"]
    out = []
    if sa.prompt != sb.prompt or (sa.prompt_token_ids and sb.prompt_token_ids and sa.prompt_token_ids != sb.prompt_token_ids):
        out.append(f"the prompts differ: {sa.prompt[:60]!r} vs {sb.prompt[:60]!r}")
    ta, tb = sa.target_model or sa.target, sb.target_model or sb.target
    if ta != tb:
        out.append(f"the targets differ: {ta or '—'} vs {tb or '—'}")
    return out


def _mean_ms(index: ReplayIndex, phase: str) -> str:
    """A phase's mean per round, or why there is none: the mlx-lm method times only whole
    rounds (its draft and verify are one fused call), and autoregressive runs draft nothing."""
    if phase == "draft" and index.started is not None and index.started.method == "autoregressive":
        return "no drafts"
    ms = index.metric_array(f"{phase}_ms")
    ms = ms[~np.isnan(ms)]
    if not len(ms) or not ms.any():
        return NOT_MEASURED
    return f"{ms.mean():.1f} ms"


def _fmt(x: float | None, fmt: str) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def summary(index: ReplayIndex) -> dict[str, str]:
    """One run's set-up and totals as display strings (rows of the side-by-side table).

    A finished run reports its run_finished totals; a live one its latest round metrics."""
    s, m = index.started, (index.metrics[-1] if index.metrics else None)
    fin = index.events[index.finished_at] if index.finished_at is not None else None
    wall_s = fin.wall_ms / 1e3 if fin is not None and fin.wall_ms else (index.event_time[-1] if index.event_time else None)

    def pick(final: str, running: str):
        value = getattr(fin, final) if fin is not None else None
        return value if value is not None else (getattr(m, running) if m is not None else None)

    return {
        "status": fin.status if fin is not None else "recording",
        "method": s.method if s else "—",
        "drafter": (s.drafter or "—") if s else "—",
        "target": (s.target_model or s.target or "—") if s else "—",
        "K · T": f"{s.k} · {s.temperature:g}" if s else "—",
        "tokens": str(len(index.commits)),
        "wall time": _fmt(wall_s, "{:.2f} s"),
        "tokens/s": _fmt(pick("tokens_per_s", "tokens_per_s"), "{:.1f}"),
        "τ (tokens per verify)": _fmt(pick("tau", "tau_cumulative"), "{:.2f}"),
        "acceptance": _fmt(pick("acceptance_rate", "acceptance_cumulative"), "{:.0%}"),
        "speedup": _fmt(pick("speedup", "speedup"), "{:.2f}×"),
        "draft per round": _mean_ms(index, "draft"),
        "verify per round": _mean_ms(index, "verify"),
    }
