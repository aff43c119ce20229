"""Every kind of target, by the prefix of its ``--target`` spec; parsing and building go here.

A kind is one registration line naming its builder as ``"module:function"`` (the entry-point
syntax): the module is imported only when a target of that kind is built, so parsing specs,
``--help`` and listings never load MLX or an HTTP client. The builder gets the parsed
``TargetSpec`` and a ``BuildContext`` and returns a ``specviz.targets.base.Target``.

Adding a target = one module with a ``build(spec, context)`` function, plus::

    register(TargetKind("toy", "toy:<name>", "a toy target", "mypackage.toy_target:build"))
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from specviz.targets.base import Target, TargetError

DEFAULT_TARGET = "bundled"


@dataclass(frozen=True)
class TargetKind:
    name: str  # the spec's prefix: "openai" in "openai:<base URL>"
    usage: str  # how a spec of this kind is written, for help and errors
    help: str  # one line for ``specviz models`` and --help
    builder: str  # "module:function" returning a Target
    source: str = "required"  # "none": the spec is the bare name; "required": "name:<source>"
    pattern: str = ""  # a regular expression the source must match (fully)
    example: str = ""  # shown when the source does not match


@dataclass(frozen=True)
class TargetSpec:
    kind: str
    source: str  # what follows "kind:" ("" for bare kinds)
    text: str  # the spec as given (stripped)


@dataclass(frozen=True)
class BuildContext:
    target_model: str | None = None  # --target-model: the model name to ask a server for
    # Where a target without its own tokenizer (a server) gets the shared vocabulary: the
    # mlx: drafter's model source when there is one, else the bundled model.
    tokenizer_source: str = "bundled"
    options: Any = None  # kind-specific options, e.g. specviz.targets.TargetOptions for openai:


_KINDS: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> TargetKind:
    """Add (or replace) a kind of target."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds() -> list[TargetKind]:
    return list(_KINDS.values())


def usage() -> str:
    """The accepted spec forms, e.g. ``bundled, mlx:<repo or path> or openai:<base URL>``."""
    forms = [k.usage for k in _KINDS.values()]
    return ", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else "".join(forms)


def parse_target(spec: str) -> TargetSpec:
    text = (spec or "").strip()
    name, sep, source = text.partition(":")
    kind = _KINDS.get(name)
    if kind is None or (kind.source == "none") == bool(sep) or (sep and not source):
        raise TargetError(f"bad target {text!r}: use {usage()}")
    if kind.pattern and not re.fullmatch(kind.pattern, source):
        raise TargetError(f"bad target {text!r}: {kind.usage} {kind.example}".rstrip())
    return TargetSpec(kind.name, source, text)


def build_target(spec: str | TargetSpec, context: BuildContext = BuildContext()) -> Target:
    """A target from its spec; not yet connected (call ``connect()`` before using it)."""
    parsed = parse_target(spec) if isinstance(spec, str) else spec
    module, _, function = _KINDS[parsed.kind].builder.partition(":")
    return getattr(importlib.import_module(module), function)(parsed, context)


register(TargetKind("bundled", "bundled", "the bundled SmolLM2-135M-Instruct, in process",
                    "specviz.targets.local:build", source="none"))
register(TargetKind("mlx", "mlx:<repo or path>", "an MLX-LM model directory or Hugging Face repo, in process",
                    "specviz.targets.local:build"))
register(TargetKind("openai", "openai:<base URL>", "an OpenAI-compatible /v1/completions server",
                    "specviz.targets.openai_target:build", pattern=r"https?://\S+",
                    example="needs an http(s) URL, e.g. openai:http://127.0.0.1:8080/v1"))

__all__ = ["DEFAULT_TARGET", "TargetKind", "TargetSpec", "BuildContext", "register", "unregister", "kinds", "usage",
           "parse_target", "build_target"]
