"""What user-written SQL may do: read the trace views, within a time limit, stoppable at once.

``check(con, sql) -> list[duckdb.Statement]``
    Parses with DuckDB's own parser and passes each statement through an allow-list of
    statement *kinds*, never through text matching: SELECT (which DuckDB's parser also
    uses for FROM-first queries, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, UNPIVOT and
    PIVOT ... IN (...)), a whole-statement PIVOT without an IN list (DuckDB plans it as
    several statements: a temporary ENUM, the query, its removal, all on the caller's own
    connection), and EXPLAIN [ANALYZE] of an allowed statement. Everything else (COPY,
    CREATE, INSERT, UPDATE, DELETE, MERGE, DROP, ALTER, ATTACH, DETACH, INSTALL, LOAD,
    SET, RESET, PRAGMA, CALL, EXPORT, PREPARE, EXECUTE, transactions...) is refused
    with one line, before anything runs. Several statements are all checked first.
``run(con, statements, *, timeout, max_rows) -> (columns, types, rows)``
    Runs them in a worker thread while the caller's thread waits, so a timeout or a
    Ctrl-C (KeyboardInterrupt in the waiting thread) calls DuckDB's ``interrupt()``, which
    stops the query between two vectors: well under a second.

Defence in depth lives in ``specviz.sql.open_views``: no external access but the trace
files themselves, no temporary directory, configuration locked.
"""

from __future__ import annotations

import os
import re
import threading
import time

import duckdb

from specviz.store.layout import TraceError, printable

DEFAULT_TIMEOUT_S = 30.0
ALLOWED_KINDS = frozenset({"SELECT"})
# Keywords DuckDB accepts between EXPLAIN and the explained statement.
_EXPLAIN_MODIFIERS = frozenset({"ANALYZE", "ANALYSE", "VERBOSE"})
# A statement that starts with one of these is a PIVOT query; without an IN list DuckDB
# turns it into a MULTI statement (CREATE TYPE enum, SELECT, DROP TYPE).
_PIVOT_WORDS = frozenset({"PIVOT", "PIVOT_WIDER", "UNPIVOT", "PIVOT_LONGER"})


class QueryInterrupted(TraceError):
    """The user pressed Ctrl-C while a query ran; the query has been stopped."""


class QueryTimeout(TraceError):
    """A query ran past its time limit and was stopped."""


def one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _parse(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    try:
        return con.extract_statements(sql)
    except duckdb.Error as e:
        raise TraceError(f"malformed SQL: {one_line(e)}") from None


def _words(sql: str) -> list[tuple[int, str]]:
    """(position, text) of each token, comments left out."""
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(sql)]
    out = []
    for i, (pos, kind) in enumerate(tokens):
        if kind == duckdb.token_type.comment:
            continue
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        out.append((pos, sql[pos:end].strip()))
    return out


def _explained(sql: str) -> list[str]:
    """Texts that could be the statement an EXPLAIN explains.

    After EXPLAIN and its keyword modifiers an optional parenthesised option list may
    follow (``EXPLAIN (FORMAT json) ...``), or the parentheses may be the statement itself
    (``EXPLAIN (SELECT 1)``): both readings are returned and both must pass.
    """
    words = _words(sql)
    if not words or words[0][1].upper() != "EXPLAIN":
        return []
    i = 1
    while i < len(words) and words[i][1].upper() in _EXPLAIN_MODIFIERS:
        i += 1
    if i >= len(words):
        return []
    candidates = [sql[words[i][0]:]]
    if words[i][1] == "(":
        depth = 0
        for j in range(i, len(words)):
            depth += {"(": 1, ")": -1}.get(words[j][1], 0)
            if depth == 0:
                if j + 1 < len(words):
                    candidates.append(sql[words[j + 1][0]:])
                break
    return candidates


def _refuse(kind: str, inside: str = "") -> TraceError:
    where = f" (inside {inside})" if inside else ""
    what = "statements of this kind are" if kind == "UNNAMED" else f"{kind} statements are"
    return TraceError(f"only read-only queries are allowed; {what} refused{where}")


def _kind(statement) -> str:
    try:
        return statement.type.name
    except ValueError:
        # The parser knows the statement but the Python API has no name for its kind
        # (UPDATE EXTENSIONS in DuckDB 2.0): whatever it is, it is not on the list.
        return "UNNAMED"


def _check_one(con: duckdb.DuckDBPyConnection, statement, inside: str = "") -> None:
    kind = _kind(statement)
    if kind in ALLOWED_KINDS:
        return
    words = _words(statement.query)
    first = words[0][1].upper() if words else ""
    if kind == "EXPLAIN" or (kind == "MULTI" and first == "EXPLAIN"):
        _check_explained(con, statement.query)
        return
    if kind == "MULTI":
        if first in _PIVOT_WORDS:
            return
        raise TraceError(
            "refused: a PIVOT without an IN list must be the whole statement; "
            "inside WITH or a subquery, list the values (PIVOT ... ON col IN (...))"
        )
    raise _refuse(kind, inside)


def _check_explained(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    parsed = []
    for text in _explained(sql):
        try:
            statements = con.extract_statements(text)
        except duckdb.Error:
            continue  # not this reading; the other one is what DuckDB explains
        if len(statements) == 1:
            parsed.append(statements[0])
    if not parsed:
        raise TraceError("refused: EXPLAIN of something that is not a query")
    for statement in parsed:
        _check_one(con, statement, inside="EXPLAIN")


def check(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    """The statements in ``sql``, every one allowed; TraceError (one line) otherwise."""
    statements = _parse(con, sql)
    if not statements:
        raise TraceError("empty query")
    for statement in statements:
        _check_one(con, statement)
    return statements


def _execute(con, statements, max_rows, box: dict, done: threading.Event) -> None:
    try:
        for statement in statements[:-1]:
            con.execute(statement)
        cur = con.execute(statements[-1])
        box["rows"] = cur.fetchmany(max_rows) if max_rows is not None else cur.fetchall()
        box["description"] = cur.description or []
    except BaseException as e:  # handed to the waiting thread, which words it
        box["error"] = e
    finally:
        done.set()


def run(con: duckdb.DuckDBPyConnection, statements: list, *, timeout: float | None = DEFAULT_TIMEOUT_S,
        max_rows: int | None = None) -> tuple[list[str], list[str], list[tuple]]:
    """Run checked statements; the last one's columns, types and rows.

    timeout: seconds (None or 0: no limit). QueryTimeout past it, QueryInterrupted on
    Ctrl-C; either way DuckDB has stopped the query before this returns, so the
    connection is free again.
    """
    box: dict = {}
    # An Event, not Thread.join: a join interrupted by Ctrl-C can later report a live
    # thread as finished (CPython), and the connection would be closed under the query.
    done = threading.Event()
    worker = threading.Thread(target=_execute, args=(con, statements, max_rows, box, done), name="specviz-sql", daemon=True)
    t0 = time.monotonic()
    worker.start()
    try:
        finished = done.wait(timeout or None)
    except KeyboardInterrupt:
        _stop(con, done)
        raise QueryInterrupted(f"query interrupted after {time.monotonic() - t0:.1f} s") from None
    if not finished:
        _stop(con, done)
        raise QueryTimeout(f"query stopped at its time limit of {timeout:g} s") from None
    error = box.get("error")
    if isinstance(error, duckdb.PermissionException):
        raise stale_trace_error(con, error) or TraceError(
            f"refused: queries may read only the trace views ({one_line(error)})") from None
    if isinstance(error, duckdb.Error):
        raise TraceError(one_line(error)) from None  # DuckDB's own "Binder Error: ..." wording
    if error is not None:
        raise error
    description = box["description"]
    return [d[0] for d in description], [str(d[1]) for d in description], box["rows"]


class TracesChanged(TraceError):
    """A trace file of the connection's list was packed or removed after it was opened:
    the same query over a new listing will find its runs (see `specviz.sql.with_views`)."""


def stale_trace_error(con: duckdb.DuckDBPyConnection, error: duckdb.Error) -> TraceError | None:
    """The one line for a query that failed because a trace file of the connection's list
    is gone since it was opened (packed by a compaction); None for any other error."""
    gone = _vanished_trace(con, str(error)) if isinstance(error, duckdb.PermissionException) else None
    if gone is None:
        return None
    return TracesChanged(f"{printable(gone)} was packed or removed after the traces were opened "
                      "(`specviz compact`, or a recording's auto compaction): run the query again")


_CANNOT_ACCESS = re.compile(r'Cannot access file "(.+)/\*\*/\*\.parquet"')


def _vanished_trace(con: duckdb.DuckDBPyConnection, message: str) -> str | None:
    """The trace file a view still names but that is gone: DuckDB then looks for it as a
    directory of files, which the sandbox refuses. Only a file of the connection's own
    list counts (a path typed in a query is refused as any other)."""
    m = _CANNOT_ACCESS.search(message)
    if m is None or os.path.lexists(m.group(1)):
        return None
    try:
        allowed = con.execute("SELECT current_setting('allowed_paths')").fetchone()[0]
    except duckdb.Error:
        return None
    return m.group(1) if m.group(1) in allowed else None


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    # DuckDB clears the interrupt flag when a query starts, so one sent in the instant
    # before the worker's execute() began would be lost: repeat until it has stopped.
    for _ in range(100):
        con.interrupt()
        if done.wait(0.02):
            return
