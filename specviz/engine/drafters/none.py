"""``none``: no drafter; the target decodes alone (``--method autoregressive``)."""

from __future__ import annotations

from specviz.engine.drafters.base import DrafterKind

KIND = DrafterKind(
    prefix="none",
    syntax="none",
    help="no drafter: the target decodes alone (--method autoregressive)",
    build=lambda spec, target: None,
    methods=("autoregressive",),
)
