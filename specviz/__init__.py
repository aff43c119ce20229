"""specviz: event-sourced traces of speculative decoding."""

import os

from specviz._blas import preload_before_mlx

__version__ = "0.1.0"

# OpenBLAS must be loaded before mlx is; only code that imports mlx pays for it
# (see specviz/_blas.py for why and how).
preload_before_mlx()
# transformers (used by mlx-lm for tokenizers) advises installing PyTorch on import;
# specviz never needs torch, so the advice is noise on every command.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
