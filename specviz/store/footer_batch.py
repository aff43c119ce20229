"""Validating a directory's footers in one pass: DuckDB reads them all, Python checks them.

Opening 1,000 traces one pyarrow footer parse at a time costs about a second, which is
most of a cold `specviz sql`. Here DuckDB's own footer reader (in C++, and the stricter
of the two about damaged bytes) reads every footer in three table-function scans: the
key-value metadata, the row counts, and a fingerprint of each file's Parquet schema.
Python then checks the metadata of each file as `footer.trace_file` does, and checks
the columns once per distinct fingerprint, on one file that has it, with pyarrow as the
per-file path does (`footer.checked_schema`), and has pyarrow parse every footer as well
(its reader refuses some damaged footers DuckDB's takes, and a file's verdict must not
depend on which other files were validated with it).

Only plain files take this path: regular files, not links, in a directory under the
traces root that is not a link itself. Anything else, any file of a fingerprint whose
representative fails, any file the batch does not return, and every file when DuckDB
refuses the batch (one damaged footer fails it) is left to `inspect_file`, which gives
each bad file its own problem.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from specviz.store.footer import KEY_RUNS, KEY_VERSION, TraceFile, checked_schema, trace_file
from specviz.store.layout import TraceError, open_regular

_ARROW_SCHEMA = "ARROW:schema"  # pyarrow derives column types from it: such files go one by one
_MIN_BATCH = 8  # below this the per-file path is as fast

_KV = (
    "SELECT file_name, key, value FROM parquet_kv_metadata($1) "
    f"WHERE key IN ('{KEY_VERSION}'::BLOB, '{KEY_RUNS}'::BLOB, '{_ARROW_SCHEMA}'::BLOB)"
)
_ROWS = "SELECT file_name, num_rows FROM parquet_file_metadata($1)"
_FINGERPRINT = (
    "SELECT file_name, bit_xor(hash(column_id, name, type, type_length, repetition_type, num_children, "
    "converted_type, scale, precision, field_id, logical_type)), count(*) FROM parquet_schema($1) GROUP BY ALL"
)


def plain_files(paths: list[Path], root: Path) -> list[Path]:
    """The paths that are regular files (not links) in link-free directories under ``root``."""
    real_root = root.resolve()
    dirs: dict[Path, bool] = {}
    plain = []
    for path in paths:
        parent = path.parent
        if parent not in dirs:
            dirs[parent] = not parent.is_symlink() and parent.resolve().is_relative_to(real_root)
        try:
            if dirs[parent] and stat.S_ISREG(os.lstat(path).st_mode):
                plain.append(path)
        except OSError:
            pass
    return plain


def _read_footers(paths: list[Path]) -> tuple[dict, dict, dict] | None:
    names = [str(p) for p in paths]
    try:
        with duckdb.connect(":memory:", config={"autoload_known_extensions": False}) as con:
            con.execute("SET enable_progress_bar = false")
            # Each metadata function runs on one thread: the key-value scan runs on a
            # second cursor beside the other two (DuckDB lets go of the GIL meanwhile).
            with ThreadPoolExecutor(1) as pool:
                kv_rows = pool.submit(_fetch, con.cursor(), _KV, names)
                rows = dict(con.execute(_ROWS, [names]).fetchall())
                prints = {name: (h, n) for name, h, n in con.execute(_FINGERPRINT, [names]).fetchall()}
                kv: dict[str, dict[str, str]] = {}
                for name, key, value in kv_rows.result():
                    kv.setdefault(name, {})[key.decode(errors="replace")] = value.decode(errors="replace")
    except (duckdb.Error, UnicodeError, OverflowError):
        return None
    return kv, rows, prints


def _fetch(cursor: duckdb.DuckDBPyConnection, sql: str, names: list[str]) -> list[tuple]:
    with cursor:
        return cursor.execute(sql, [names]).fetchall()


def inspect_many(paths: list[Path], root: Path) -> dict[Path, TraceFile | TraceError]:
    """Footers of plain files under ``root``, validated in bulk: a TraceFile, or the file's
    TraceError when its metadata is bad. Paths missing from the result take the per-file path."""
    plain = plain_files(paths, root)
    if len(plain) < _MIN_BATCH:
        return {}
    footers = _read_footers(plain)
    if footers is None:
        return {}
    kv, rows, prints = footers
    schemas: dict[tuple, str | None] = {}  # fingerprint -> the checked schema, None if it failed
    out: dict[Path, TraceFile | TraceError] = {}
    for path in plain:
        name = str(path)
        meta, fingerprint = kv.get(name, {}), prints.get(name)
        if name not in rows or fingerprint is None or _ARROW_SCHEMA in meta:
            continue
        if fingerprint not in schemas:
            schemas[fingerprint] = _checked_schema(path, root)
        schema = schemas[fingerprint]
        if schema is None or not _pyarrow_reads_footer(path, root):
            continue  # the per-file path says what is wrong
        try:
            out[path] = trace_file(path, meta, rows[name], schema, checked_by_duckdb=True)
        except TraceError as e:
            out[path] = e
    return out


def _pyarrow_reads_footer(path: Path, root: Path) -> bool:
    """pyarrow's thrift reader refuses some damaged footers DuckDB's takes (a bit flip
    outside the schema: the fingerprint is a good file's). The rows are read with pyarrow,
    and a file's verdict must not depend on which files were new with it, so every file's
    footer is parsed by both (~0.3 ms; only for footers not yet validated)."""
    try:
        with open_regular(path, root) as f:
            pq.read_metadata(f)
        return True
    except Exception:  # pyarrow's errors for bad bytes vary; the per-file path words them
        return False


def _checked_schema(path: Path, root: Path) -> str | None:
    try:
        return checked_schema(path, root)
    except TraceError:
        return None


__all__ = ["inspect_many", "plain_files"]
