"""The engine's user-facing error, in a module of its own so light modules (the drafter
registry behind ``--help``) can raise it without importing MLX."""


from specviz.errors import SpecvizError


class EngineError(SpecvizError):
    """A user-facing engine problem (bad spec, vocabulary mismatch, unsupported model)."""


__all__ = ["EngineError"]
