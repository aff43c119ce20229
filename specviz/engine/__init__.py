"""The live generation engine: drafters, targets, the speculative loop, metrics, recording.

    from specviz.engine import Engine, RunOptions
    engine = Engine.from_specs(target="bundled", drafter="ngram")
    result = engine.record("Explain speculative decoding.", RunOptions(k=4), traces="traces")

Modules: ``sampling`` (transforms, seeded draws), ``rejection`` (Leviathan / top-k /
exact-match decisions), ``drafters`` (ngram, layerskip, mlx), ``local`` (MLX target, KV
caches trimmed on rejection), ``target`` (the
Target protocol), ``loop`` (the round generator), ``metrics``, ``specs``, ``run``.
"""

from specviz.engine.local import EngineError
from specviz.engine.loop import EngineConfig, Round, generate_rounds
from specviz.engine.metrics import RoundCounts, RunMetrics, leviathan_speedup
from specviz.engine.run import METHODS, Engine, RunOptions, RunResult
from specviz.engine.sampling import SamplingParams
from specviz.engine.specs import DEFAULT_DRAFTER, DEFAULT_TARGET, parse_drafter, parse_target
from specviz.engine.target import Scores, ScoreRequest, Target, TargetError

__all__ = [
    "Engine",
    "RunOptions",
    "RunResult",
    "METHODS",
    "EngineError",
    "EngineConfig",
    "Round",
    "generate_rounds",
    "RoundCounts",
    "RunMetrics",
    "leviathan_speedup",
    "SamplingParams",
    "DEFAULT_DRAFTER",
    "DEFAULT_TARGET",
    "parse_drafter",
    "parse_target",
    "Scores",
    "ScoreRequest",
    "Target",
    "TargetError",
]
