"""Targets: the ``Target`` interface (``base``), the in-process target (``local``), the
OpenAI-compatible remote target (``openai_target`` and its helpers) and the registry of
``--target`` kinds (``registry``).

The names below load their module on first use (PEP 562), so importing the registry or the
interface does not pay for the HTTP client (``openai``) or MLX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Target": "base", "BaseTarget": "base", "Scores": "base", "ScoreRequest": "base",
    "TargetError": "base", "RULE_FOR_CAPABILITY": "base",
    "Capabilities": "capabilities", "TargetOptions": "capabilities",
    "InconsistentLogprobs": "errors", "MalformedResponse": "errors", "TargetUnavailable": "errors",
    "TokenMappingError": "errors",
    "Position": "logprob_checks",
    "OpenAITarget": "openai_target", "RemoteVerification": "openai_target",
    "RetryPolicy": "transport",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'specviz.targets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"specviz.targets.{_EXPORTS[name]}"), name)


__all__ = list(_EXPORTS)
