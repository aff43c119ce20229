"""specviz: event-sourced traces of speculative decoding."""

__version__ = "0.1.0"
