"""The live generation engine: drafters, the speculative loop, recording runs.

    from specviz.engine import Engine, RunOptions
    engine = Engine.from_specs(target="bundled", drafter="ngram")
    result = engine.record("Explain speculative decoding.", RunOptions(k=4), traces="traces")

Modules: ``sampling`` (transforms, seeded draws), ``rejection`` (Leviathan / top-k /
exact-match decisions), ``drafters`` (the drafter registry, one module per kind), ``local``
(the early-exit model), ``loop`` (the round generator), ``specs`` (a target and drafter
built from their specs), ``run``, ``errors``. Targets (the ``Target`` interface, the local
and remote targets, their registry) live in ``specviz.targets``; the run totals in
``specviz.totals``; ``SamplingParams`` in ``specviz.sampling_params``.

Names are loaded on first use (PEP 562): the drafter registry, which the CLI reads for its
help text, lives under this package and must not pull MLX in with it.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Engine": "run", "RunOptions": "run", "RunResult": "run",
    "EngineError": "errors",
    "EngineConfig": "loop", "Round": "loop", "generate_rounds": "loop",
    "DEFAULT_DRAFTER": "specs",
    "parse_drafter": "drafters",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'specviz.engine' has no attribute {name!r}")
    return getattr(import_module(f"specviz.engine.{module}"), name)


__all__ = list(_EXPORTS)
