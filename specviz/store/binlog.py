"""The binary live log both recording paths write (``_recorder.c``, ``pyrecorder.py``), and its reader.

    MAGIC  u32 len  header JSON      {"kinds": [[tag, [[field, code], ...]], ...]}
    u32 len  frame                   one per flush: the records logged since the last one
    ...

A record is one event: its kind's index in the header (one byte), then its fields in
the header's order, each by its code: ``i`` int64, ``f`` float64 (8 bytes little
endian), ``b`` bool (one byte), ``s`` UTF-8 (u32 length, bytes), ``o`` msgpack (u32
length, bytes: lists and maps); an upper-case code is the same with a presence byte
before it (0: None). ``run_id`` is not stored: it is the file's name.

The header names every field, so a reader decodes a log written by another version of
the event schema (fields it does not know are dropped, missing ones take defaults).
Appends are whole frames with ``O_APPEND``; a crash leaves at most one torn frame at the
end, which readers drop. Decoded events go through msgspec's validation, as the JSON
log's do, so damage shows up as a frame that does not decode: everything before it is
kept. JSON logs (one array per line, ``livelog.py``) are read as before; the two start
differently (``MAGIC`` vs ``[``).
"""

from __future__ import annotations

import struct

import msgspec

from specviz.events import AnyEvent
from specviz.store.layout import TraceError

MAGIC = b"SVZLOG\x00\x01"  # the last byte is the format's version
VERSION = MAGIC[-1]
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_HEADER = msgspec.json.Encoder()
_EVENTS = msgspec.convert
_MSGPACK = msgspec.msgpack.Decoder()
_HEADER_MAX = 1 << 20


class _Header(msgspec.Struct):
    kinds: list[tuple[str, list[tuple[str, str]]]]


class LogDamage(Exception):
    """A frame or header that does not decode."""


def header(kinds: list[tuple[str, list[tuple[str, str]]]]) -> bytes:
    body = _HEADER.encode({"kinds": kinds})
    return MAGIC + _U32.pack(len(body)) + body


def _value(code: str, buf: bytes, pos: int) -> tuple[object, int]:
    if code == "i":
        return _I64.unpack_from(buf, pos)[0], pos + 8
    if code == "f":
        return _F64.unpack_from(buf, pos)[0], pos + 8
    if code == "b":
        if buf[pos] > 1:
            raise LogDamage("not a bool")
        return buf[pos] == 1, pos + 1
    (n,) = _U32.unpack_from(buf, pos)
    end = pos + 4 + n
    if end > len(buf):
        raise LogDamage("value past the end of its frame")
    if code == "s":
        return buf[pos + 4:end].decode(), end
    if code == "o":
        return _MSGPACK.decode(buf[pos + 4:end]), end
    raise LogDamage(f"unknown field code {code!r}")


def _record(buf: bytes, pos: int, plan: list) -> tuple[dict, int]:
    tag, fields = plan[buf[pos]]
    pos += 1
    event = {"kind": tag}
    for name, code in fields:
        if code.isupper():
            present = buf[pos]
            pos += 1
            if present == 0:
                event[name] = None
                continue
            if present != 1:
                raise LogDamage("bad presence byte")
            code = code.lower()
        event[name], pos = _value(code, buf, pos)
    return event, pos


def _frame(payload: bytes, plan: list, run_id: str) -> list:
    records, pos = [], 0
    while pos < len(payload):
        record, pos = _record(payload, pos, plan)
        records.append(record)
    events = _EVENTS(records, list[AnyEvent])
    for ev in events:
        ev.run_id = run_id
    return events


def _check_magic(data: bytes) -> None:
    """Anything but this version's magic is not a log this reader may decode: another
    version's frames would be misread as damage (TraceError: nothing in it can be kept)."""
    if data[:len(MAGIC) - 1] != MAGIC[:len(data)][:len(MAGIC) - 1]:
        raise LogDamage("not a specviz binary log")
    if len(data) >= len(MAGIC) and data[len(MAGIC) - 1] != VERSION:
        raise TraceError(f"a binary log of format version {data[len(MAGIC) - 1]}; this specviz reads version {VERSION}"
                         " (a newer specviz wrote it?)")


class BinaryLogReader:
    """Decodes a binary log fed to it in pieces (``LogTail``) or whole (``decode``)."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.plan: list | None = None
        self.damaged = False

    def _header(self, data: bytes) -> int:
        _check_magic(data)
        if len(data) < len(MAGIC) + 4:
            return 0
        (n,) = _U32.unpack_from(data, len(MAGIC))
        if n > _HEADER_MAX:
            raise LogDamage("header too long")
        end = len(MAGIC) + 4 + n
        if len(data) < end:
            return 0
        self.plan = msgspec.json.decode(data[len(MAGIC) + 4:end], type=_Header).kinds
        return end

    def feed(self, data: bytes, frames: int | None = None) -> tuple[list, int]:
        """Events in the complete frames at the start of ``data`` (at most ``frames`` of
        them) and the bytes they took. After damage, nothing more is decoded (``damaged``
        turns True)."""
        events: list = []
        pos = 0
        try:
            if self.plan is None:
                pos = self._header(data)
                if self.plan is None:
                    return events, 0
            while not self.damaged and pos + 4 <= len(data) and frames != 0:
                (n,) = _U32.unpack_from(data, pos)
                if pos + 4 + n > len(data):
                    break
                events.extend(_frame(data[pos + 4:pos + 4 + n], self.plan, self.run_id))
                pos += 4 + n
                frames = None if frames is None else frames - 1
        # RecursionError: a list value nested deeper than msgspec decodes (damage or a
        # crafted file; the frames before it are still good)
        except (LogDamage, msgspec.MsgspecError, ValueError, IndexError, KeyError, TypeError, struct.error, RecursionError):
            self.damaged = True
        return events, pos


def decode(data: bytes, run_id: str) -> tuple[list, bool]:
    """Events in a whole binary log, and whether anything at the end had to be dropped."""
    reader = BinaryLogReader(run_id)
    events, used = reader.feed(data)
    return events, reader.damaged or used < len(data)


__all__ = ["MAGIC", "VERSION", "BinaryLogReader", "LogDamage", "decode", "header"]
