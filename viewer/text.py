"""Token wording shared by the tree's hover, the coloured text and the compare page.

Token texts come from traces, which may be hostile: everything put into HTML or into a
Plotly hover label (which renders a subset of HTML) is escaped here, in one place.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

from specviz.events import TopToken
from specviz.replay import PENDING, SKIPPED, CommitNode, DraftNode
from specviz.statuses import HEX_COLOURS

# The seed viewer's palette; "not tested" is deliberately unlike every verdict colour.
COLORS = {
    **HEX_COLOURS,
    PENDING: "#9ca3af",
    SKIPPED: "#d1d5db",
}
LABELS = {SKIPPED: "not tested", PENDING: "pending"}


def label(status: str) -> str:
    return LABELS.get(status, status)


def show_token(text: str) -> str:
    """A token made visible: whitespace shown, control characters named."""
    if text == "":
        return "∅"
    return text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·")


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _tops(top: Sequence[TopToken], n: int = 5) -> str:
    return ", ".join(f"{show_token(t.text)} {math.exp(t.logprob):.0%}" for t in list(top)[:n]) or "—"


def detail_lines(draft: DraftNode | None, commit: CommitNode | None, status: str) -> list[str]:
    """The facts behind one token, as plain (unescaped) lines."""
    v = commit.verify if commit is not None else (draft.verify if draft is not None else None)
    token = commit.verify.token_text if commit is not None else (draft.text if draft else "")
    rnd = v.round if v is not None else draft.round
    pos = v.position if v is not None else draft.position
    lines = [f"{show_token(token)}  [{label(status)}]", f"round {rnd} · position {pos}"]
    if draft is not None and commit is not None and commit.verify.status == "resampled":
        lines.append(f"replaces draft {show_token(draft.text)}")
    draft_lp = v.draft_logprob if v is not None and v.draft_logprob is not None else (draft.logprob if draft else None)
    lines.append(f"draft logprob {_num(draft_lp)} · target logprob {_num(v.target_logprob if v else None)}")
    lines.append(f"acceptance prob {_num(v.acceptance_prob if v else None, '{:.0%}')}")
    ent = draft.entropy if draft is not None else None
    lines.append(f"entropy draft {_num(ent, '{:.2f}')} · target {_num(v.target_entropy if v else None, '{:.2f}')} nats")
    if draft is not None and draft.top:
        lines.append(f"draft top: {_tops(draft.top)}")
    if v is not None and v.top:
        lines.append(f"target top: {_tops(v.top)}")
    return lines


def hover(draft: DraftNode | None, commit: CommitNode | None, status: str, memo: dict | None = None) -> str:
    """Plotly hover text: escaped lines joined by <br> (memoised per node and status)."""
    if memo is None:
        return "<br>".join(html.escape(line) for line in detail_lines(draft, commit, status))
    key = ("hover", id(commit) if commit is not None else id(draft), status)
    text = memo.get(key)
    if text is None:
        text = memo[key] = hover(draft, commit, status)
    return text


def commit_span(c: CommitNode) -> str:
    tip = html.escape("\n".join(detail_lines(c.draft, c, c.verify.status)), quote=True)
    return f'<span title="{tip}" style="color:{COLORS[c.verify.status]}">{html.escape(c.verify.token_text)}</span>'


def commit_spans(memo: dict, commits: Sequence[CommitNode]) -> list[str]:
    """Per-commit spans, memoised in `memo` (a ReplayIndex's, shared between sessions): a
    commit never changes once made, so a scrub step formats only tokens it has not seen."""
    cache = memo.setdefault("commit_spans", {})
    out = []
    for c in commits:
        span = cache.get(c.index)
        if span is None:
            span = cache[c.index] = commit_span(c)  # same value from any thread: no lock needed
        out.append(span)
    return out


def colored_html(commits: Sequence[CommitNode], pending: Sequence[DraftNode] = (), mark_at: int | None = None,
                 memo: dict | None = None, last: int | None = None) -> str:
    """The output as spans coloured by how each token was produced; `title` gives the details.

    Pending drafts (proposed, not yet verified) trail in grey. `mark_at` puts a divergence
    marker before that output index (the compare page). `last` keeps only the last tokens
    (long runs: the page stays light and the scrub step cheap), with a note of the rest.
    """
    hidden = max(0, len(commits) - last) if last else 0
    shown = commits[hidden:]
    parts = commit_spans(memo, shown) if memo is not None else [commit_span(c) for c in shown]
    if mark_at is not None and hidden <= mark_at <= len(commits):
        marker = '<span style="background:#fde047;color:#000;font-weight:bold" title="first divergence">▶</span>'
        parts = parts[: mark_at - hidden] + [marker] + parts[mark_at - hidden:]
    parts = list(parts)
    for d in pending:
        tip = html.escape("\n".join(detail_lines(d, None, PENDING)), quote=True)
        parts.append(f'<span title="{tip}" style="color:{COLORS[PENDING]};font-style:italic">{html.escape(d.text)}</span>')
    if hidden:
        parts.insert(0, f'<span style="color:#9ca3af">… {hidden} earlier tokens (scrub back to see them) … </span>')
    body = "".join(parts) or '<span style="color:#9ca3af">(no tokens yet)</span>'
    return f'<div class="specviz-text" style="white-space:pre-wrap;line-height:1.6;font-family:monospace">{body}</div>'


def first_divergence(a: Sequence[CommitNode], b: Sequence[CommitNode]) -> int | None:
    """Output index of the first token that differs (by id or text); None if identical.

    When one output is a prefix of the other they diverge where the shorter one ends.
    """
    for i, (x, y) in enumerate(zip(a, b)):
        if x.verify.token_id != y.verify.token_id or x.verify.token_text != y.verify.token_text:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))
