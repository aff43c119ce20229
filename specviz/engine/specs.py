"""A target + drafter pair built together from their specs. Target specs (``bundled``,
``mlx:<repo>``, ``openai:<url>``) are parsed and built by the target registry
(``specviz.targets.registry``), drafter specs by ``specviz.engine.drafters``. Models are
loaded once per process and shared (``specviz.models.loading``)."""

from __future__ import annotations

from typing import Any

from specviz.engine.drafters import build_drafter, kind_of, parse_drafter
from specviz.targets import registry
from specviz.targets.registry import DEFAULT_TARGET, BuildContext

DEFAULT_DRAFTER = "ngram"


def build_target(spec: str, *, target_model: str | None = None, tokenizer_source: str = "bundled", options: Any = None):
    """A target through the registry, not yet connected."""
    return registry.build_target(spec, BuildContext(target_model, tokenizer_source, options))


def build(target_spec: str = DEFAULT_TARGET, drafter_spec: str = DEFAULT_DRAFTER, *, target_model: str | None = None,
          target_options: Any = None):
    """(target, drafter) from specs. A target without a tokenizer of its own (a server) gets
    the shared vocabulary from an ``mlx:`` drafter's tokenizer, else the bundled model's."""
    d = parse_drafter(drafter_spec)
    tokenizer_source = kind_of(d).tokenizer_source(d) or "bundled"
    target = build_target(target_spec, target_model=target_model, tokenizer_source=tokenizer_source, options=target_options)
    return target, build_drafter(drafter_spec, target)


__all__ = ["build_target", "build", "DEFAULT_DRAFTER"]
