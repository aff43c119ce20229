"""The recording hot path in pure Python: `_recorder.c`'s Recorder, behaviour for behaviour.

Used where the extension was not built (no C compiler) and with ``SPECVIZ_RECORDER=python``.
It stamps, checks and logs each event exactly as the compiled path does (hotpath.py says
which values are taken), writes the same binary log (binlog.py) and keeps the same
columns, as Python lists (columnar.RunColumns) instead of C buffers. Several times slower;
tests/test_recorder_paths.py holds the two paths to the same files and the same errors.
"""

from __future__ import annotations

import struct
import time

from specviz.store.columnar import LAYOUTS, RunColumns
from specviz.store.hotpath import _ENCODE, _KINDS, _POLICY, FRAME_MAX, HEADER
from specviz.store.layout import TraceError

_I64 = struct.Struct("<q").pack
_F64 = struct.Struct("<d").pack
_U32 = struct.Struct("<I").pack
_EMPTY = {list: b"\x01\x00\x00\x00\x90", dict: b"\x01\x00\x00\x00\x80"}  # msgpack [] and {}, length first


def _not(kind: str, name: str, want: str) -> TraceError:
    return TraceError(f"{kind} events: field {name} holds a value that is not {want}")


def _put_int(kind, name, check):
    def put(v, out: bytearray):
        if not isinstance(v, int) or not -(2**63) <= v < 2**63:  # bool is an int, as in C
            raise _not(kind, name, "int64")
        v = int(v)
        out += _I64(v)
        return v
    return put


def _put_float(kind, name, check):
    def put(v, out: bytearray):
        if not isinstance(v, (float, int)):
            raise _not(kind, name, "double")
        try:
            x = float(v)
        except OverflowError:
            raise _not(kind, name, "double") from None
        out += _F64(x)
        return x
    return put


def _put_bool(kind, name, check):
    def put(v, out: bytearray):
        if isinstance(v, bool):
            out.append(v)
            return v
        raise _not(kind, name, "bool")
    return put


def _put_str(kind, name, check):
    def put(v, out: bytearray):
        if not isinstance(v, str):
            raise _not(kind, name, "string")
        try:
            data = v.encode()
        except UnicodeEncodeError:  # a lone surrogate
            raise _not(kind, name, "string") from None
        if check is not None and v not in check:
            raise _not(kind, name, f"one of {check!r}")
        out += _U32(len(data))
        out += data
        return v
    return put


def _top_item_fits(t) -> bool:
    """Whether pyarrow takes a TopToken's values into int64 / string / double (_recorder.c
    top_item): the decode takes a plain Enum member for its value and an int logprob of
    any size, which pyarrow refuses (the run then failed at its next chunk)."""
    i, x = t.id, t.logprob
    return (isinstance(i, int) and not isinstance(i, bool) and isinstance(t.text, str)
            and (isinstance(x, float) or (isinstance(x, int) and not isinstance(x, bool) and -(2**53) <= x <= 2**53)))


def _put_top(kind, name, check):
    """A top-k list, checked as _recorder.c put_top checks it: the engine's own values (an
    exact list of exact TopTokens holding an exact int in int64, str and float) without the
    decode, which takes them whenever they encode; anything else as an 'o' field, less
    what pyarrow refuses. An empty dict is refused (it is no list; the 'o' path took it)."""
    decode, item = check[:2]

    def plain(t) -> bool:
        return type(t) is item and type(t.id) is int and type(t.text) is str and type(t.logprob) is float and -(2**63) <= t.id < 2**63

    def fits(v, data: bytes) -> None:
        decode(data)
        if not all(type(x) is item and _top_item_fits(x) for x in v):
            raise ValueError("not a list of TopTokens that pyarrow takes")

    def put(v, out: bytearray):
        if type(v) is list and not v:
            out += _EMPTY[list]
        else:  # the engine's own values need no decode: they fit whenever they encode
            out += _msgpack(kind, name, v, _encoded if type(v) is list and all(map(plain, v)) else fits)
        return v
    return put


def _encoded(v, data: bytes) -> None:
    """``fits`` for values that fit once they encode (a lone surrogate does not)."""


def _msgpack(kind: str, name: str, v, fits) -> bytes:
    """A list or map value as the log holds it (u32 length, msgpack), once ``fits(v,
    msgpack)`` has passed: it raises for a value of the wrong type."""
    try:
        data = _ENCODE(v)
        fits(v, data)
    except Exception:
        raise _not(kind, name, "a list or map of the field's type") from None
    return _U32(len(data)) + data


def _put_object(kind, name, check):
    decode, item = check

    def fits(v, data: bytes) -> None:
        decode(data)
        if item is not None and not all(type(x) is item for x in v):
            raise ValueError(f"not a list of {item.__name__}")

    def put(v, out: bytearray):
        empty = _EMPTY.get(type(v))
        if empty is not None and not v:
            out += empty
        else:
            out += _msgpack(kind, name, v, fits)
        return v
    return put


def _optional(put):
    def put_optional(v, out: bytearray):
        if v is None:
            out.append(0)
            return None
        out.append(1)
        return put(v, out)
    return put_optional


_PUT = {"i": _put_int, "f": _put_float, "b": _put_bool, "s": _put_str, "o": _put_object, "t": _put_top}


def _putter(kind: str, name: str, code: str, check):
    put = _PUT[code.lower()](kind, name, check)
    return _optional(put) if code.isupper() else put


class PyRecorder:
    """`_recorder.Recorder`'s interface (log, flush, take, close, n) over a LogWriter."""

    def __init__(self, run_id: str, writer, *, policy, every: int, wall_offset: int, chunk: int, on_chunk):
        self.run_id = run_id
        self.n = 0
        self._writer = writer
        self._policy = _POLICY.get(policy, 2)
        self._every = every
        self._wall_offset = wall_offset
        self._chunk = chunk
        self._on_chunk = on_chunk
        self._columns = RunColumns(run_id)
        self._kinds = {
            cls: (i, tag, round_end, LAYOUTS[cls].get, self._columns.adders[cls][1],
                  [_putter(tag, name, code, check) for name, code, _, check in cols])
            for i, (cls, tag, round_end, cols) in enumerate(_KINDS)
        }
        self._log = bytearray(HEADER) + bytes(4)  # the header goes out with the first frame
        self._frame = len(HEADER)
        self._pending = 0
        self._in_chunk = 0
        self._closed = False

    def _stamp(self, tag: str, ev) -> None:
        ev.seq = self.n
        ev.run_id = self.run_id
        for name in ("t_mono_ns", "t_wall_ns"):
            if not isinstance(getattr(ev, name), int):
                raise _not(tag, name, "int64")
        if not ev.t_mono_ns:
            ev.t_mono_ns = time.monotonic_ns()
        if not ev.t_wall_ns:
            ev.t_wall_ns = ev.t_mono_ns + self._wall_offset

    def log(self, ev):
        kind = self._kinds.get(type(ev))
        if kind is None:
            raise TraceError(f"not an event: {type(ev).__name__}")
        index, tag, round_end, get, extend, puts = kind
        self._stamp(tag, ev)
        record = bytearray((index,))
        values = [put(v, record) for put, v in zip(puts, get(ev))]
        if len(self._log) + len(record) - self._frame - 4 >= 2**32:
            raise TraceError(f"{tag} events: one event of {len(record)} bytes is more than the log can hold")
        self._log += record
        extend(values)
        self.n += 1
        self._pending += 1
        if (self._policy == 0 or self._pending >= self._every or (self._policy == 1 and round_end)
                or len(self._log) - self._frame > FRAME_MAX):
            self.flush()
        self._in_chunk += 1
        if self._in_chunk >= self._chunk:
            self._in_chunk = 0
            self._on_chunk()
        return ev

    def flush(self) -> None:
        """Write the buffered frame; on failure it stays buffered and the next flush retries."""
        if not self._pending:
            return
        if self._closed:
            raise TraceError(f"run {self.run_id} is already finished")
        struct.pack_into("<I", self._log, self._frame, len(self._log) - self._frame - 4)
        self._writer.write(self._log)
        self._log = bytearray(4)
        self._frame = 0
        self._pending = 0

    def take(self) -> list:
        """Each kind's values since the last take() (columnar.python_arrays reads them)."""
        return self._columns.take()

    def close(self) -> None:
        self._closed = True


__all__ = ["PyRecorder"]
