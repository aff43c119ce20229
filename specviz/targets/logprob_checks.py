"""Reading a server's logprobs as untrusted input: parse both wire formats, then check them.

Two formats reach ``/v1/completions``:

* legacy (OpenAI, vLLM, SGLang, llama.cpp, Cerebras): ``{"tokens": [...],
  "token_logprobs": [...], "top_logprobs": [{token: logprob}, ...], "text_offset": [...]}``.
  OpenAI's rule is that the sampled token is always among its own alternatives, so it
  must be there ("strict" membership).
* chat-style (mlx_lm.server): ``{"content": [{"id", "token"?, "logprob",
  "top_logprobs": [{"id", "token", "logprob"}]}]}``. Here the sampled token may fall
  outside the top-k, so it must be there only when it ranks above the weakest
  alternative. mlx_lm.server 0.32 with ``top_logprobs`` > 0 reports the first (unsorted)
  alternative instead of the sampled token; the sampled tokens are then read off the text
  (``sampled_from_text``), and where that is impossible the text check fails the round.

Each failed check raises ``InconsistentLogprobs`` naming the position and what disagreed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from specviz.events import TopToken
from specviz.targets.errors import InconsistentLogprobs, MalformedResponse, TokenMappingError
from specviz.targets.sampled_from_text import sampled_from_text
from specviz.targets.token_map import TokenMapper

# Servers round logprobs (float32 on the wire, JSON float formatting); 1e-3 nats is far
# below anything a shifted or swapped value would show.
LOGPROB_TOL = 1e-3


@dataclass(frozen=True)
class Position:
    """One scored position: the token there, its target logprob, and the target's top-k."""

    token_id: int
    logprob: float | None  # None only for the first echoed prompt token (nothing before it)
    top: tuple[TopToken, ...] = ()  # sorted by logprob, best first; () when not requested


@dataclass(frozen=True)
class _Raw:
    token: str | None
    token_id: int | None
    logprob: Any
    top: list[tuple[str | None, int | None, Any]]


def _is_logprob(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value <= LOGPROB_TOL


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise InconsistentLogprobs(f"logprobs.{key} is missing or not a list")
    return value


def _legacy(lp: dict[str, Any]) -> list[_Raw]:
    tokens = _list(lp, "tokens")
    logprobs = _list(lp, "token_logprobs")
    lengths = {"tokens": len(tokens), "token_logprobs": len(logprobs)}
    tops: list[Any] = [None] * len(tokens)
    if lp.get("top_logprobs") is not None:
        tops = _list(lp, "top_logprobs")
        lengths["top_logprobs"] = len(tops)
    if lp.get("text_offset") is not None:
        lengths["text_offset"] = len(_list(lp, "text_offset"))
    if len(set(lengths.values())) > 1:
        raise InconsistentLogprobs(f"logprobs lists differ in length: {lengths}")
    raws = []
    for token, logprob, top in zip(tokens, logprobs, tops):
        if not isinstance(token, str) or not (top is None or isinstance(top, dict)):
            raise InconsistentLogprobs(f"malformed legacy logprobs entry: token {token!r}, top {top!r}")
        alternatives = [(name, None, value) for name, value in (top or {}).items()]
        raws.append(_Raw(token, None, logprob, alternatives))
    return raws


def _content(lp: dict[str, Any]) -> list[_Raw]:
    raws = []
    for entry in _list(lp, "content"):
        if not isinstance(entry, dict):
            raise InconsistentLogprobs(f"malformed logprobs.content entry: {entry!r}")
        top = entry.get("top_logprobs") or []
        if not isinstance(top, list) or not all(isinstance(alt, dict) for alt in top):
            raise InconsistentLogprobs(f"malformed top_logprobs: {top!r}")
        alternatives = [(alt.get("token"), alt.get("id"), alt.get("logprob")) for alt in top]
        raws.append(_Raw(entry.get("token"), entry.get("id"), entry.get("logprob"), alternatives))
    return raws


def parse_logprobs(choice: dict[str, Any]) -> tuple[list[_Raw], bool]:
    """The raw positions of a choice and whether the format promises strict membership."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise InconsistentLogprobs("the server returned no logprobs (does it support them?)")
    if "content" in lp:
        return _content(lp), False
    return _legacy(lp), True


def _names(raw: _Raw, token_id: int, mapper: TokenMapper) -> bool:
    if raw.token_id is not None:
        return raw.token_id == token_id
    return raw.token is not None and mapper.names(raw.token, token_id)


def _check_position(label: str, raw: _Raw, token_id: int, mapper: TokenMapper, strict: bool) -> Position:
    where = f"{label} (token {mapper.piece(token_id)!r})"
    if not _is_logprob(raw.logprob):
        raise InconsistentLogprobs(f"{where}: logprob {raw.logprob!r} is not a finite number <= 0")
    top: list[TopToken] = []
    own: float | None = None
    # Legacy top-k dicts are keyed by text; several byte tokens share the text U+FFFD, so an
    # entry under such a name may belong to any of them and proves nothing either way.
    unknowable = raw.token_id is None and raw.token is not None and mapper.ambiguous(raw.token)
    for name, alt_id, value in raw.top:
        if not _is_logprob(value):
            raise InconsistentLogprobs(f"{where}: top-k logprob {value!r} is not a finite number <= 0")
        if unknowable and name == raw.token:
            continue
        if (name is not None and name == raw.token) or (alt_id is not None and alt_id == raw.token_id):
            own = float(value)  # the entry the server itself names like the sampled token
            top.append(TopToken(token_id, mapper.piece(token_id), float(value)))
            continue
        try:
            resolved = mapper.resolve(name, alt_id)
        except TokenMappingError:
            # An alternative no single id names (e.g. a lone UTF-8 byte shown as U+FFFD) is
            # left out of the top-k; the sampled token itself is never guessed.
            continue
        if resolved == token_id:
            own = float(value)
        top.append(TopToken(resolved, mapper.piece(resolved), float(value)))
    top.sort(key=lambda t: -t.logprob)
    logprob = float(raw.logprob)
    if own is not None and abs(own - logprob) > LOGPROB_TOL:
        raise InconsistentLogprobs(
            f"{where}: logprob {logprob:.4f} disagrees with its own top-k entry {own:.4f}"
        )
    if own is None and raw.top and not unknowable:
        weakest = min(float(v) for _, _, v in raw.top)
        if strict or logprob > weakest + LOGPROB_TOL:
            raise InconsistentLogprobs(
                f"{where}: the sampled token (logprob {logprob:.4f}) is absent from its own top-k "
                f"alternatives {[name if name is not None else alt_id for name, alt_id, _ in raw.top]}"
            )
    return Position(token_id, logprob, tuple(top))


def check_generated(
    choice: dict[str, Any],
    mapper: TokenMapper,
    *,
    max_tokens: int,
    eos_ids: frozenset[int] = frozenset(),
) -> list[Position]:
    """Positions of a plain completion (no echo), each checked, and the text checked too.

    [] when the server stopped at once and left its EOS out of the logprobs (llama.cpp)."""
    if _stopped_at_once(choice):
        return []
    raws, strict = parse_logprobs(choice)
    text = choice.get("text")
    if not isinstance(text, str):
        raise MalformedResponse("the choice has no text")
    if not 1 <= len(raws) <= max_tokens:
        raise InconsistentLogprobs(f"{len(raws)} logprob positions for a request of max_tokens={max_tokens}")
    if choice.get("finish_reason") == "length" and len(raws) != max_tokens:
        raise InconsistentLogprobs(
            f"finish_reason is 'length' but there are {len(raws)} positions, not {max_tokens}"
        )
    ids = [mapper.resolve(r.token, r.token_id) for r in raws]
    if not strict and raws[0].top and not _spells(ids, text, mapper, eos_ids):
        # mlx_lm.server's mislabelled top-k replies (see sampled_from_text): read the sampled
        # tokens off the text; the result is checked like any other reply below.
        reading = sampled_from_text(raws, text, mapper, eos_ids)
        if reading is not None:
            raws = [_Raw(None, t, lp, r.top) for r, (t, lp) in zip(raws, reading)]
            ids = [t for t, _ in reading]
    _check_text(ids, text, mapper, eos_ids)
    return [_check_position(f"position {i}", r, t, mapper, strict) for i, (r, t) in enumerate(zip(raws, ids))]


def _stopped_at_once(choice: dict[str, Any]) -> bool:
    """An empty completion that ended by itself, with no position in its logprobs."""
    if choice.get("text") != "" or choice.get("finish_reason") == "length":
        return False
    lp = choice.get("logprobs")
    return lp is None or (isinstance(lp, dict) and not lp.get("tokens") and not lp.get("content"))


def _spells(ids: list[int], text: str, mapper: TokenMapper, eos_ids: frozenset[int]) -> bool:
    # Servers leave a final EOS out of the text (mlx_lm.server, vLLM), so compare without it.
    visible = ids[:-1] if ids and ids[-1] in eos_ids else ids
    decoded = mapper.decode(visible)
    joined = "".join(mapper.piece(i) for i in visible)
    # mlx_lm's BPE streaming detokenizer drops one leading space of a completion; the ids,
    # not the text, are what specviz keeps, so that presentation difference is allowed.
    return text in (decoded, joined) or " " + text in (decoded, joined)


def _check_text(ids: list[int], text: str, mapper: TokenMapper, eos_ids: frozenset[int]) -> None:
    if not _spells(ids, text, mapper, eos_ids):
        raise InconsistentLogprobs(
            f"the tokens in the logprobs spell {mapper.decode(ids)!r} but the returned text is "
            f"{text!r}: the server reported other tokens than it sampled (mlx_lm.server does "
            "this when top_logprobs > 0 and the sampled token is outside its top-k; use "
            "--target-top-logprobs 0)"
        )


def check_echoed(
    choice: dict[str, Any],
    mapper: TokenMapper,
    *,
    prompt_ids: list[int],
    bos_id: int | None = None,
    draft_start: int = 0,
    eos_ids: frozenset[int] = frozenset(),
) -> tuple[list[Position], list[Position]]:
    """(prompt positions, generated positions) of an ``echo`` request, aligned and checked.

    Alignment is checked against the prompt ids we sent: a server that re-tokenized the
    prompt differently, or shifted its prompt logprobs by a position, fails here.
    Messages name draft positions from ``draft_start`` (the context length) on.
    """
    raws, strict = parse_logprobs(choice)
    # A server may put its BOS in front of a text prompt; it is not part of what we scored.
    skip = int(bool(raws) and bos_id is not None and prompt_ids[:1] != [bos_id] and _names(raws[0], bos_id, mapper))
    if len(raws) < skip + len(prompt_ids):
        raise InconsistentLogprobs(f"{len(raws) - skip} echoed positions for a prompt of {len(prompt_ids)} tokens")
    # Prompt positions are checked against the ids sent, not resolved: a piece many ids
    # share (a lone UTF-8 byte) is then no ambiguity.
    first = next((i for i, t in enumerate(prompt_ids) if not _names(raws[skip + i], t, mapper)), None)
    if first is not None:
        server = [raws[skip + i].token if raws[skip + i].token is not None else raws[skip + i].token_id
                  for i in range(first, min(first + 3, len(prompt_ids)))]
        raise InconsistentLogprobs(
            f"the echoed prompt does not align with the prompt sent: first difference at prompt "
            f"position {first} of {len(prompt_ids)} (server {server!r}, "
            f"sent {mapper.decode(prompt_ids[first:first + 3])!r})"
        )
    if len(raws) - skip - len(prompt_ids) > 1:
        raise InconsistentLogprobs(f"{len(raws) - skip - len(prompt_ids)} generated positions for max_tokens=1")
    generated = [mapper.resolve(r.token, r.token_id) for r in raws[skip + len(prompt_ids):]]
    head = [bos_id] if skip else []
    ids = head + list(prompt_ids) + generated
    text = choice.get("text")
    if isinstance(text, str) and not _spells(list(prompt_ids) + generated, text, mapper, eos_ids):
        # e.g. llama-cpp-python's server: the generated token is in the text, not the logprobs
        raise InconsistentLogprobs(
            f"the echoed tokens spell {mapper.decode(list(prompt_ids) + generated)[-40:]!r} at the end but "
            f"the returned text ends {text[-40:]!r}"
        )
    positions = []
    for i, (raw, token_id) in enumerate(zip(raws, ids)):
        if i == 0 and raw.logprob is None:
            positions.append(Position(token_id, None))  # nothing precedes the first token
            continue
        j = i - skip - draft_start
        label = f"position {j}" if j >= 0 else f"context token {i - skip} of {draft_start}"
        position = _check_position(label, raw, token_id, mapper, strict)
        if j >= 0 and not position.top:
            # rejection-sampling-topk resamples from these alternatives; without them the
            # server cannot score drafts, only echo them.
            raise InconsistentLogprobs(f"{label}: the server sent no top-k alternatives to score with")
        positions.append(position)
    body = positions[skip:]
    return body[: len(prompt_ids)], body[len(prompt_ids) :]
