"""The one exception family of the library.

Every layer raises a subclass of `SpecvizError` (the store `TraceError`, the engine
`EngineError`, targets `TargetError`, models `ModelError`) carrying a one-line message a
user can act on. The CLI translates this family, and nothing else, into
`click.ClickException` at one place (`recorder.cli`); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class SpecvizError(Exception):
    """A failure the user can act on; ``str(e)`` is one line."""


__all__ = ["SpecvizError"]
