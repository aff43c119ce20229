"""Validated footers remembered between processes, outside the trace directory.

Opening a store means validating every file's footer (`footer`, `footer_batch`): about
0.4 ms a file, so 0.4 s before the first query over 1,000 runs, in every new process.
Published trace files never change in place (they are replaced by rename), so a verdict
holds while the file's identity does: device, inode, size, mtime and ctime (which no
user call can set back). The verdicts of one trace directory are kept in one msgpack
file in the user's cache directory, never in the trace directory itself, so reading
traces still writes nothing beside them and a read-only store works the same.

    SPECVIZ_CACHE_DIR   where the cache lives (default $XDG_CACHE_HOME/specviz or
                        ~/.cache/specviz); "off" turns it off.

The cache is a convenience, never a source of truth: a file that cannot be read,
decoded or written is ignored, and an entry is used only for a file whose identity
still matches. Its entries are decoded with the same typed structs as a footer, so a
damaged cache cannot hand out an ill-typed run; it is trusted as the user's own files
are (a hostile trace *file* cannot put a verdict in it: only validation does).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import msgspec

from specviz.store.footer import RunEntry, TraceFile

_FORMAT = 1
# Below this many files validation takes milliseconds: not worth a cache file per directory.
MIN_FILES = 64
# Directories remembered at most; the least recently saved are forgotten first.
MAX_DIRECTORIES = 256


class _Entry(msgspec.Struct, array_like=True):
    name: str  # relative to the trace directory
    identity: tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns
    schema_version: str
    runs: list[RunEntry]
    num_rows: int
    schema: int  # index into _Cache.schemas (a schema is ~5 KB and shared by most files)
    checked_by_duckdb: bool


class _Cache(msgspec.Struct):
    format: int
    validator: str  # _validator(): verdicts of other validation code are not reused
    root: str
    schemas: list[str]
    entries: list[_Entry]


_DECODER = msgspec.msgpack.Decoder(_Cache)
_VALIDATOR: list[str] = []
_ENCODER = msgspec.msgpack.Encoder()
# What this process last loaded or saved for each directory: saving again only when
# something changed keeps a polling viewer from rewriting the cache every few seconds.
_KNOWN: dict[str, frozenset] = {}


def identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _validator() -> str:
    """The code that decides a verdict, the types it decodes into and the Parquet readers,
    as one hash: a specviz that checks more (or decodes other fields) does not trust
    older verdicts."""
    if not _VALIDATOR:
        import duckdb
        import pyarrow

        from specviz import events
        from specviz.store import columnar, columns, footer, footer_batch, layout

        # The readers' versions too: a file one DuckDB read may not be read by the next.
        digest = hashlib.sha256(f"duckdb {duckdb.__version__} pyarrow {pyarrow.__version__}".encode())
        for module in (events, columns, columnar, footer, footer_batch, layout):
            digest.update(Path(module.__file__).read_bytes())
        _VALIDATOR.append(digest.hexdigest()[:32])
    return _VALIDATOR[0]


def cache_dir() -> Path | None:
    configured = os.environ.get("SPECVIZ_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "specviz"


def _cache_file(root: Path) -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    digest = hashlib.sha256(os.fsencode(str(root))).hexdigest()[:24]
    return where / "footers" / f"{digest}.msgpack"


def load(traces: Path) -> dict[tuple[str, tuple], TraceFile]:
    """(name relative to ``traces``, identity) -> the verdict remembered for that file
    (empty if nothing is remembered or the cache is unreadable)."""
    root = traces.resolve()
    path = _cache_file(root)
    if path is None:
        return {}
    try:
        cache = _DECODER.decode(path.read_bytes())
        if cache.format != _FORMAT or cache.validator != _validator() or cache.root != str(root):
            return {}
        out = {(e.name, tuple(e.identity)): _verdict(traces, e, cache.schemas) for e in cache.entries}
    except (OSError, msgspec.DecodeError, IndexError, ValueError):
        return {}
    _KNOWN[str(root)] = frozenset(out)
    return out


def _verdict(root: Path, e: _Entry, schemas: list[str]) -> TraceFile:
    if not 0 <= e.schema < len(schemas):
        raise IndexError("schema index out of range")
    return TraceFile(root / e.name, e.schema_version, e.runs, e.num_rows, schemas[e.schema], e.checked_by_duckdb)


def save(traces: Path, verdicts: dict[tuple[str, tuple], TraceFile]) -> None:
    """Remember ``verdicts`` (exactly these: files gone since are dropped) for ``traces``.

    Only good files are remembered: a bad one is checked again each time, so its
    message always names it as the caller does and a repaired file is seen at once."""
    root = traces.resolve()
    path = _cache_file(root)
    if path is None or len(verdicts) < MIN_FILES or _KNOWN.get(str(root)) == frozenset(verdicts):
        return
    schemas: dict[str, int] = {}
    entries = []
    for (name, ident), hit in verdicts.items():
        index = schemas.setdefault(hit.schema, len(schemas))
        entries.append(_Entry(name, ident, hit.schema_version, hit.runs, hit.num_rows, index, hit.checked_by_duckdb))
    data = _ENCODER.encode(_Cache(_FORMAT, _validator(), str(root), list(schemas), entries))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".footers-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # readers see the old cache or the new one, never half of one
        except BaseException:
            os.unlink(tmp)
            raise
        _forget_oldest(path.parent)
    except OSError:
        return  # an unwritable cache costs speed, nothing else
    _KNOWN[str(root)] = frozenset(verdicts)


def _forget_oldest(where: Path) -> None:
    caches = list(where.glob("*.msgpack"))
    if len(caches) > MAX_DIRECTORIES:
        caches.sort(key=lambda p: p.stat().st_mtime_ns)
        for old in caches[: len(caches) - MAX_DIRECTORIES]:
            old.unlink(missing_ok=True)


__all__ = ["MAX_DIRECTORIES", "MIN_FILES", "cache_dir", "identity", "load", "save"]
