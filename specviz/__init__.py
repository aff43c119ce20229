"""specviz: event-sourced traces of speculative decoding."""

from specviz._blas import preload_openblas

__version__ = "0.1.0"

# Must run before anything imports mlx (see specviz/_blas.py for why and how).
preload_openblas()
