"""Which recording path is active: the compiled one (``_recorder.c``) or pure Python.

The package build compiles ``specviz/store/_recorder.c`` (hatch_build.py); where that
could not happen (no compiler) the pure-Python path records the same events into the same
Parquet tables, at a fraction of the speed. ``SPECVIZ_RECORDER=python`` forces the pure
Python path (tests compare the two). ``recording_path()`` says which one a new recording
takes; ``specviz.store.RECORDING_PATH`` which one the package loaded.
"""

from __future__ import annotations

import os

import msgspec

from specviz.events import Error, Event, RoundMetrics, RunFinished
from specviz.store import binlog
from specviz.store.columnar import LAYOUTS
from specviz.store.layout import TraceError

try:
    from specviz.store import _recorder
except ImportError:  # not built (no compiler when the package was installed)
    _recorder = None

COMPILED = _recorder is not None
_ROUND_END = (RoundMetrics, RunFinished, Error)
_POLICY = {"event": 0, "round": 1}
_ENCODE = msgspec.msgpack.Encoder().encode


def recording_path() -> str:
    """"compiled" or "python": what `open_run` uses now."""
    if os.environ.get("SPECVIZ_RECORDER", "").lower() == "python" or not COMPILED:
        return "python"
    return "compiled"


_KINDS = [
    (cls, layout.kind, cls in _ROUND_END, [(name, code, getattr(cls, name)) for name, code in zip(layout.fields, layout.codes)])
    for cls, layout in LAYOUTS.items()
]
_BASE = (Event.run_id, Event.seq, Event.t_mono_ns, Event.t_wall_ns)
HEADER = binlog.header([(layout.kind, list(zip(layout.fields, layout.codes))) for layout in LAYOUTS.values()])


def compiled_recorder(run_id: str, fd: int, path, *, policy, every: int, fsync: bool, wall_offset: int, chunk: int, on_chunk):
    """A `_recorder.Recorder` writing the binary log (binlog.py) to ``fd``."""
    return _recorder.Recorder(
        kinds=_KINDS, base=_BASE, run_id=run_id, fd=fd, path=str(path), policy=_POLICY.get(policy, 2), every=every,
        fsync=fsync, wall_offset=wall_offset, chunk=chunk, on_chunk=on_chunk, encode=_ENCODE, error=TraceError,
        header=HEADER,
    )


__all__ = ["COMPILED", "HEADER", "compiled_recorder", "recording_path"]
