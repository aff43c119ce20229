"""Remote targets: OpenAI-compatible ``/v1/completions`` servers as speculative-decoding verifiers."""

from specviz.targets.capabilities import Capabilities, TargetOptions
from specviz.targets.errors import (
    InconsistentLogprobs,
    MalformedResponse,
    TargetError,
    TargetUnavailable,
    TokenMappingError,
)
from specviz.targets.logprob_checks import Position
from specviz.targets.openai_target import OpenAITarget, RemoteVerification
from specviz.targets.transport import RetryPolicy

__all__ = [
    "Capabilities",
    "TargetOptions",
    "InconsistentLogprobs",
    "MalformedResponse",
    "TargetError",
    "TargetUnavailable",
    "TokenMappingError",
    "Position",
    "OpenAITarget",
    "RemoteVerification",
    "RetryPolicy",
]
