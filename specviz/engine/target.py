"""Moved to ``specviz.targets.base`` (the target interface lives with the targets); these
names stay importable from here for code written against the old path."""

from specviz.targets.base import (  # noqa: F401
    RULE_FOR_CAPABILITY,
    Capability,
    Emit,
    Scores,
    ScoreRequest,
    Target,
    TargetError,
)

__all__ = ["Capability", "RULE_FOR_CAPABILITY", "Emit", "ScoreRequest", "Scores", "Target", "TargetError"]
