"""The drafter registry: parsing, validation, construction and help text, all from the
``DrafterKind`` each drafter module declares. Adding a drafter is adding its module and one
``register(module.KIND)`` line (see ``specviz/engine/drafters/__init__.py``).

Spec grammar: ``kind[:arg][+option[:value]]...``, e.g. ``ngram:3``, ``layerskip:8+lora:adapters/x``,
``nasd:4+top_k_filler:5+stop_if_unknown``. ``+`` separates options because ``,`` already
separates drafters in ``specviz sweep --drafter a,b``.
"""

from __future__ import annotations

from typing import Any

from specviz.engine.drafters.base import DrafterKind, DrafterSpec
from specviz.engine.errors import EngineError

_KINDS: dict[str, DrafterKind] = {}


def register(kind: DrafterKind) -> DrafterKind:
    """Make ``kind`` parseable and buildable; a prefix registered twice replaces the first
    (so a test or plugin can override a built-in)."""
    _KINDS[kind.prefix] = kind
    return kind


def kinds() -> list[DrafterKind]:
    return list(_KINDS.values())


def kind_of(spec: DrafterSpec | str) -> DrafterKind:
    d = parse_drafter(spec) if isinstance(spec, str) else spec
    return _KINDS[d.kind]


def parse_drafter(spec: str) -> DrafterSpec:
    """``spec`` validated into its canonical ``DrafterSpec``; ``EngineError`` with the
    accepted syntax when it is not one."""
    text = (spec or "").strip() or "none"
    head, *mods = text.split("+")
    prefix, sep, arg = head.partition(":")
    kind = _KINDS.get(prefix)
    if kind is None:
        raise EngineError(f"bad drafter {text!r}: use {syntax_summary()}")
    try:
        canonical = kind.parse_arg(arg if sep else None)
        options = tuple(_parse_option(kind, mod) for mod in mods)
    except (EngineError, ValueError) as exc:  # ValueError: a kind's int()/float() on a bad value
        raise EngineError(f"bad drafter {text!r}: {exc}") from exc
    return DrafterSpec(kind.prefix, canonical, options)


def _parse_option(kind: DrafterKind, mod: str) -> tuple[str, str]:
    name, _, value = mod.partition(":")
    if name not in kind.options:
        accepted = ", ".join(f"+{o}" for o in kind.options) or "none"
        raise EngineError(f"{kind.prefix} has no option {name!r} (accepted: {accepted})")
    return name, kind.parse_option(name, value)


def build_drafter(spec: str | DrafterSpec, target: Any):
    """The drafter for ``spec`` over ``target`` (None for ``none``), after the kind's check."""
    d = parse_drafter(spec) if isinstance(spec, str) else spec
    kind = _KINDS[d.kind]
    kind.check(d, target)
    return kind.build(d, target)


def check_method(spec: str, method: str) -> None:
    """Raise unless the drafter ``spec`` can serve ``method``. Specs no kind owns (drafter
    objects handed to the Engine directly) are taken on trust."""
    try:
        d = parse_drafter(spec)
    except EngineError:
        return
    kind = _KINDS[d.kind]
    if method not in kind.methods:
        able = ", ".join(k.syntax for k in _KINDS.values() if method in k.methods) or "none"
        raise EngineError(f"--method {method} needs a drafter that supports it ({able}); {d.text} does not")


def syntax_summary() -> str:
    """``ngram[:N], layerskip:N, ...`` for one-line help."""
    return ", ".join(k.syntax for k in _KINDS.values())


def help_lines() -> list[str]:
    """One line per kind (and per option) for ``specviz models`` and the README."""
    lines = []
    for k in _KINDS.values():
        lines.append(f"{k.syntax:<24} {k.help}")
        lines += [f"{'  +' + name:<24} {text}" for name, text in k.options.items()]
    return lines


__all__ = ["register", "kinds", "kind_of", "parse_drafter", "build_drafter", "check_method", "syntax_summary", "help_lines"]
