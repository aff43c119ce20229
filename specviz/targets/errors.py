"""Exceptions a remote target raises. The engine ends the run as ``failed`` on any of them.

Messages are written for the person running ``specviz record``: what the server did, which
round and position, and what to try. They never contain the API key (see ``secrets.scrub``).
"""

from __future__ import annotations

from specviz.targets.base import TargetError


class TargetUnavailable(TargetError):
    """Retries ran out (timeouts, 429, 5xx, connection errors) or the server refused the request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # HTTP status of the last reply, None for timeouts and the like


class MalformedResponse(TargetError):
    """The server's reply is not the JSON shape of an OpenAI ``/v1/completions`` response."""


class InconsistentLogprobs(TargetError):
    """Logprobs are missing or contradict themselves or the text (untrusted input failed a check)."""


class TokenMappingError(InconsistentLogprobs):
    """A token the server returned cannot be mapped to exactly one id of the shared vocabulary."""


__all__ = ["TargetError", "TargetUnavailable", "MalformedResponse", "InconsistentLogprobs", "TokenMappingError"]
