"""Which recording path is active: the compiled one (``_recorder.c``) or pure Python.

The package build compiles ``specviz/store/_recorder.c`` (hatch_build.py); where that
could not happen (no compiler) the pure-Python path records the same events into the same
Parquet tables, at a fraction of the speed. ``SPECVIZ_RECORDER=python`` forces the pure
Python path (tests compare the two). ``recording_path()`` says which one a new recording
takes; ``specviz.store.RECORDING_PATH`` which one the package loaded.

Both paths take the same values and refuse the same ones, with the same one-line
TraceError at ``log()`` (the event is then not recorded): what one path records, the
other records too, into the same binary log (byte for byte) and the same Parquet table.
A value is taken only if every reader takes it back: int64 integers, doubles (NaN and
infinities included), UTF-8 text (no lone surrogates), a literal field's own values, and
lists and maps that decode to their field's type. `PyRecorder` is `_recorder.c` in Python.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec
import msgspec.inspect as mi

from specviz.events import Error, Event, RoundMetrics, RunFinished, TopToken
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
# A frame is written once it holds this much, whatever the flush policy: its length is a
# u32, and a policy of "close" must not hold a whole run in memory twice.
FRAME_MAX = 1 << 30


def recording_path() -> str:
    """"compiled" or "python": what `open_run` uses now."""
    if os.environ.get("SPECVIZ_RECORDER", "").lower() == "python" or not COMPILED:
        return "python"
    return "compiled"


_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


def _strict(t: mi.Type) -> object:
    """The type a list or map field's value must decode to, its integers int64."""
    if isinstance(t, mi.IntType):
        return _INT64
    if isinstance(t, (mi.FloatType, mi.StrType, mi.BoolType)):
        return {mi.FloatType: float, mi.StrType: str, mi.BoolType: bool}[type(t)]
    if isinstance(t, mi.ListType):
        return list[_strict(t.item_type)]
    if isinstance(t, mi.DictType):
        return dict[_strict(t.key_type), _strict(t.value_type)]
    if isinstance(t, mi.StructType) and t.array_like:  # TopToken: msgpack writes it as an array
        return tuple[tuple(_strict(f.type) for f in t.fields)]
    raise TypeError(f"no recorded layout for {t}")


def _object_check(t: mi.Type) -> tuple:
    """(decode, item type or None): a list or map field's value is taken only if its
    msgpack decodes back to the field's type (the log's reader decodes it so, and the
    Parquet column is built from it) and, for a list of structs (top-k), holds the structs
    themselves (a tuple encodes the same, but the column is built from attributes). Both
    are C calls: no Python code runs in the middle of the compiled recorder's log()."""
    item = t.item_type.cls if isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType) else None
    return msgspec.msgpack.Decoder(_strict(t)).decode, item


def _field_type(cls: type, name: str) -> mi.Type:
    t = next(f.type for f in mi.type_info(cls).fields if f.name == name)
    return next((x for x in t.types if not isinstance(x, mi.NoneType)), t) if isinstance(t, mi.UnionType) else t


def _c_code(cls: type, name: str, code: str) -> str:
    """The recorders' code for a field: the log's (binlog.py), but 't' for a top-k list
    (list[TopToken]), which both recorders hold as Arrow buffers, not Python lists. The log
    writes it as an 'o' field, so its header (HEADER) and bytes are those of 'o'."""
    t = _field_type(cls, name)
    if code == "o" and isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType) and t.item_type.cls is TopToken:
        return "t"
    return code


def _check(cls: type, name: str, code: str):
    """What the compiled recorder checks a field's value with beyond its code: a list or
    map field's `_object_check` (for a top-k list with TopToken's slots, which _recorder.c
    reads directly), a literal field's values; None for the others."""
    t = _field_type(cls, name)
    if code == "t":
        return (*_object_check(t), TopToken.id, TopToken.text, TopToken.logprob)
    if code == "o":
        return _object_check(t)
    if isinstance(t, mi.LiteralType):
        return tuple(sorted(t.values))
    return None


_KINDS = [
    (cls, layout.kind, cls in _ROUND_END,
     [(name, c, getattr(cls, name), _check(cls, name, c)) for name, c in ((n, _c_code(cls, n, code)) for n, code in zip(layout.fields, layout.codes))])
    for cls, layout in LAYOUTS.items()
]
_BASE = (Event.run_id, Event.seq, Event.t_mono_ns, Event.t_wall_ns)
HEADER = binlog.header([(layout.kind, list(zip(layout.fields, layout.codes))) for layout in LAYOUTS.values()])


def new_recorder(run_id: str, writer, *, policy, every: int, fsync: bool, wall_offset: int, chunk: int, on_chunk):
    """The recorder of the active path (`recording_path`) writing the binary log
    (binlog.py) through ``writer`` (a livelog.LogWriter): `_recorder.Recorder`, or
    `pyrecorder.PyRecorder` with the same interface."""
    if recording_path() == "python":
        from specviz.store.pyrecorder import PyRecorder

        return PyRecorder(run_id, writer, policy=policy, every=every, wall_offset=wall_offset, chunk=chunk, on_chunk=on_chunk)
    return _recorder.Recorder(
        kinds=_KINDS, base=_BASE, run_id=run_id, fd=writer.fd, path=str(writer.path), policy=_POLICY.get(policy, 2),
        every=every, fsync=fsync, wall_offset=wall_offset, chunk=chunk, on_chunk=on_chunk, encode=_ENCODE,
        error=TraceError, header=HEADER,
    )


__all__ = ["COMPILED", "FRAME_MAX", "HEADER", "new_recorder", "recording_path"]
