"""Drafters: who proposes the K tokens a round verifies.

One module per kind, each declaring a ``DrafterKind`` (spec prefix, help, argument and option
parsing, checks, constructor) registered below; parsing, validation, ``specviz models`` and
``--help`` text come from the registry. Adding a drafter = adding its module + one line here.
"""

from specviz.engine.drafters import layerskip, mlx_model, nasd, ngram, none
from specviz.engine.drafters.base import Draft, DraftContext, DraftedToken, Drafter, DrafterKind, DrafterSpec
from specviz.engine.drafters.ngram import NgramDrafter, lookup
from specviz.engine.drafters.registry import (
    build_drafter, check_method, help_lines, kind_of, kinds, parse_drafter, register, syntax_summary,
)

register(ngram.KIND)
register(nasd.KIND)
register(layerskip.KIND)
register(mlx_model.KIND)
register(none.KIND)

__all__ = [
    "Draft", "DraftContext", "DraftedToken", "Drafter", "DrafterKind", "DrafterSpec", "NgramDrafter", "lookup",
    "register", "kinds", "kind_of", "parse_drafter", "build_drafter", "check_method", "syntax_summary", "help_lines",
]
