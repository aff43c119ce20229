"""specviz: event-sourced traces of speculative decoding."""

import os

from specviz._blas import preload_openblas

__version__ = "0.1.0"

# Must run before anything imports mlx (see specviz/_blas.py for why and how).
preload_openblas()
# transformers (used by mlx-lm for tokenizers) advises installing PyTorch on import;
# specviz never needs torch, so the advice is noise on every command.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
