"""Where the viewer gets runs from: the trace store, behind Streamlit's caches.

Everything here goes through the store's public API (``specviz.store``) and SQL
connection factory (``specviz.sql``), so the viewer reads exactly what ``specviz runs``,
``specviz import`` and ``specviz sql`` read, with the same validation and guarantees.

Caching: a run is keyed by its source and a *version* (the sizes and mtimes of its files),
so a live run being appended to is re-read on the next refresh while a finished one is
folded once and shared by every session (``st.cache_resource``: the index is read-only
after it is built, and large enough that copying it per rerun would cost more than the
scrub step itself).
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from specviz.replay import ReplayIndex, build_index

# Key numbers first, so they stay on screen next to the id; long text (prompt) last but one.
RUN_COLUMNS = ("run_id", "status", "acceptance_rate", "speedup", "produced", "tokens_per_s", "tau", "method",
               "drafter", "k", "temperature", "prompt", "target", "rounds", "started", "live")
INTEGER_COLUMNS = ("k", "produced", "rounds")  # nullable integers: a missing value must not make K 4.0
PUBLISH_RETRY_S = 0.2


class ViewerError(Exception):
    """Anything wrong with a run or file, worded for the page (shown with st.error)."""


def _store():
    import specviz.store as store

    return store


def trace_error_types() -> tuple[type[BaseException], ...]:
    return (_store().TraceError, ViewerError)


def sources(traces: str) -> list[Path]:
    """What the viewer was launched on: one directory or file, or several joined by
    os.pathsep (`specviz view A.parquet DIR ...`)."""
    return [Path(p) for p in traces.split(os.pathsep) if p] or [Path(traces)]


def _where(traces: str):
    """The source as the store's readers take it: a path, or a list of paths."""
    paths = sources(traces)
    return paths[0] if len(paths) == 1 else paths


def _files_of(traces: str, pattern: str | None = "run-*") -> list[Path]:
    """The file sources (for one the store moved since, the file holding its run now), and in each
    directory source its files matching ``pattern`` (none for None)."""
    files = []
    for p in sources(traces):
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            if pattern is not None:
                files += list(p.glob(f"date=*/{pattern}.parquet")) + list(p.glob(f"_live/{pattern}"))
        elif (moved := _store().find_moved(p)) is not None:
            files.append(moved.now)
    return files


def moved_notes(traces: str) -> list[str]:
    """One line for each run file (or live log) the viewer was launched on that the store
    has moved since: packed, or finished (its run is read from where it is now)."""
    paths = sources(traces)
    return _store().moved_notes(paths) if not all(os.path.lexists(p) for p in paths) else []


_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Source:
    """Where a run's events come from: the traces directory, or one opened file."""

    path: str  # the directory or the file
    run_id: str  # a full id or unique prefix

    def version(self) -> tuple:
        """Changes whenever the run's files do (sizes and mtimes): the cache key's moving part."""
        # The id comes from a link (a URL anyone can type) and goes into a glob: only the
        # hex digits a run id or its prefix can hold (as store.resolve reads it) name run
        # files in a directory; files opened as sources are theirs whatever the id.
        prefix = self.run_id.strip().lower()
        pattern = f"run-{prefix}*" if prefix and not prefix.strip(_HEX) else None
        out = []
        for f in sorted(_files_of(self.path, pattern)):
            try:
                s = f.stat()
            except OSError:
                continue
            out.append((str(f), s.st_size, s.st_mtime_ns))
        return tuple(out)


def _row(run) -> dict:
    """A listed run (store.RunSummary) as a flat dict for tables and filters."""
    started, finished = run.started, run.finished
    return {
        "run_id": run.run_id,
        "status": run.status,
        "live": run.live,
        "started": dt.datetime.fromtimestamp(started.t_wall_ns / 1e9) if started.t_wall_ns else None,
        "prompt": started.prompt,
        "drafter": started.drafter,
        "target": started.target_model or started.target,
        "k": started.k,
        "temperature": started.temperature,
        "method": started.method,
        "rounds": finished.rounds if finished else None,
        "produced": finished.produced if finished else None,
        "acceptance_rate": finished.acceptance_rate if finished else None,
        "speedup": finished.speedup if finished else None,
        "tokens_per_s": finished.tokens_per_s if finished else None,
        "tau": finished.tau if finished else None,
    }


@dataclass(frozen=True)
class _FileRun:
    """A run read from an opened file, shaped like the store's RunSummary for _row."""

    run_id: str
    status: str
    live: bool
    started: object
    finished: object


@st.cache_data(max_entries=32, show_spinner=False)
def _file_rows(path: str, version: tuple) -> list[dict]:
    from specviz.events import RunFinished, RunStarted

    if not path.endswith(".jsonl"):  # a Parquet trace, of one run or several (an export, a pack)
        listing = _store().scan_sources([path])  # a run file packed since it was opened: from its pack
        if listing.problems and not listing.runs:
            raise _store().TraceError(str(listing.problems[0]))
        return [_row(run) for run in listing.runs]
    runs: dict[str, list] = {}
    for ev in _store().read_events(path):
        runs.setdefault(ev.run_id, []).append(ev)
    rows = []
    for run_id, events in runs.items():
        started = next((e for e in events if isinstance(e, RunStarted)), None)
        if started is None:
            rows.append({"run_id": run_id, "status": "no run_started event", "live": False})
            continue
        finished = next((e for e in reversed(events) if isinstance(e, RunFinished)), None)
        status = finished.status if finished is not None else "recording"
        rows.append(_row(_FileRun(run_id, status, finished is None, started, finished)))
    return rows


def file_rows(path: str) -> list[dict]:
    """The runs of an opened trace file as table rows (their real settings and totals).
    Raises TraceError / ViewerError (the file may have changed since it was opened)."""
    try:
        return _file_rows(path, Source(path, "").version())
    except trace_error_types():
        raise
    except Exception as exc:
        raise ViewerError(f"could not read {path}: {type(exc).__name__}: {exc}") from exc


@st.cache_data(ttl=2, max_entries=8, show_spinner=False)
def _scan(traces_dir: str) -> tuple[list[dict], list[tuple[str, str]]]:
    """Rows of every run (finished and live) and the unreadable files, read only: a
    trace directory, or one trace file given at launch. Re-listed at most every 2 s."""
    from specviz.store.layout import names_a_file

    store, paths = _store(), sources(traces_dir)
    if len(paths) == 1 and paths[0].is_dir():
        listing = store.scan(paths[0])
    elif any(p.is_dir() or names_a_file(p) for p in paths):
        listing = store.scan_sources(paths)  # a file gone is a problem listed; a packed run file, its run
    else:
        return [], []  # a trace directory not made yet: nothing recorded
    return [_row(r) for r in listing.runs], [(str(p.path), p.message) for p in listing.problems]


def list_runs(traces_dir: str) -> list[dict]:
    """Every run in the directory (or the launch file), finished and live."""
    return _scan(traces_dir)[0]


def list_problems(traces_dir: str) -> list[tuple[str, str]]:
    """(file, what is wrong with it) for every file the listing could not read."""
    return _scan(traces_dir)[1]


# Imported on a reader's first Parquet read (pyarrow's dataset layer brings pandas):
# about a second of CPU that would otherwise land on the first run someone opens.
HEAVY_IMPORTS = ("pyarrow.dataset", "pyarrow.parquet", "pyarrow.compute", "pandas", "specviz.replay",
                 "viewer.player.payload")


@st.cache_resource(show_spinner=False)
def warm_imports() -> threading.Thread:
    """Import HEAVY_IMPORTS once per server process, in the background (the entry file
    calls this on every run; the thread starts on the first). A page that needs one of
    them meanwhile waits on Python's import lock for the same import, never a second."""
    thread = threading.Thread(target=lambda: [importlib.import_module(m) for m in HEAVY_IMPORTS],
                              name="specviz-warm-imports", daemon=True)
    thread.start()
    return thread


def without_gc(fn, *args):
    """fn(*args) with Python's cyclic collector paused. Reading, folding and encoding a run
    allocate ~10^5 objects that all stay alive; the collector would rescan them every few
    thousand allocations (about half of a 2,000-round run's read)."""
    if not gc.isenabled():
        return fn(*args)
    gc.disable()
    try:
        return fn(*args)
    finally:
        gc.enable()


def _read_and_fold(source: Source) -> ReplayIndex:
    events = _store().read_events(_where(source.path), source.run_id)
    if not events:
        raise ViewerError(f"run {source.run_id} has no events")
    return build_index(events)


@st.cache_resource(show_spinner=False)
def _sources_read() -> set[Source]:
    """The runs _load_index has read (in any version), shared by every session."""
    return set()


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_index(source: Source, version: tuple) -> ReplayIndex:
    index = without_gc(_read_and_fold, source)
    _sources_read().add(source)
    return index


def read_before(source: Source) -> bool:
    """Whether this server has read the run before (in any version: a live run that keeps
    changing counts as read). A page can show a run not yet read in two steps."""
    return source in _sources_read()


def load_index(source: Source) -> ReplayIndex:
    """The folded run. Raises TraceError / ViewerError with a message for the page."""
    try:
        try:
            return _load_index(source, source.version())
        except trace_error_types():
            # A finishing run moves from its log to its Parquet file; a read that straddles
            # the move can find neither (and a page that stopped on that error would stay
            # stopped). Once more, a moment later, with the files' new version.
            time.sleep(PUBLISH_RETRY_S)
            return _load_index(source, source.version())
    except trace_error_types():
        raise
    except Exception as exc:  # a hostile file must not take the page down with a traceback
        raise ViewerError(f"could not read run {source.run_id} from {source.path}: {type(exc).__name__}: {exc}") from exc


def open_file(path: str | os.PathLike) -> tuple[str, list[str]]:
    """Validate a trace file the way `specviz import` does; returns (path, its run ids).

    Parquet traces: footer, run metadata and every run's rows checked by
    ``store.check_file`` in one read of the file, so a file whose footer is fine but whose
    rows are not fails here, with a message, not later in a panel (a 64-run pack read
    run by run took seconds). A run file since packed (or a live log since finished) is its run
    where it is now. A
    live ``.jsonl`` log is decoded.
    """
    store = _store()
    p = Path(path)
    moved = None if p.is_file() else store.find_moved(p)
    if not p.is_file() and moved is None:
        raise ViewerError(f"no such file: {p}")
    try:
        if moved is not None:
            store.check_file(moved.now, [moved.run_id])
            ids = [moved.run_id]
        elif p.suffix == ".jsonl":
            ids = sorted({e.run_id for e in store.read_events(str(p))})
        else:
            ids = list(store.check_file(p).run_ids)
    except trace_error_types():
        raise
    except Exception as exc:
        raise ViewerError(f"{p.name} is not a readable trace: {type(exc).__name__}: {exc}") from exc
    if not ids:
        raise ViewerError(f"{p.name} holds no runs")
    return str(p), ids


def _dir_version(traces_dir: str) -> tuple:
    """The published trace files and their mtimes: SQL views are built over a file list."""
    files = sorted(f for f in _files_of(traces_dir, "*") if f.suffix == ".parquet")  # run files and packs
    out = []
    for f in files:
        try:
            out.append((f.name, f.stat().st_mtime_ns))
        except OSError:  # published or recovered away between glob and stat
            continue
    return tuple(out)


SQL_TIMEOUT_S = 30.0  # the SQL page's default; `specviz sql --timeout` has the same default


def traces_version(traces_dir: str) -> tuple:
    """Changes whenever a run is published: a cache key for anything derived from the store."""
    return _dir_version(traces_dir)


@st.cache_resource(max_entries=4, show_spinner=False)
def _trace_files(traces_dir: str, version: tuple):
    from specviz.sql import find_traces

    return find_traces(_where(traces_dir))


def new_sql_connection(traces_dir: str):
    """A new locked-down DuckDB connection over the directory's current trace files, for
    the caller alone (and to close): e.g. DESCRIBE for the schema browser."""
    from specviz.sql import connect_traces

    return connect_traces(_trace_files(traces_dir, _dir_version(traces_dir)), label=traces_dir)


def _once_more_if_changed(traces_dir: str, attempt):
    """``attempt()``, and once more when it fails with a TraceError and the directory
    changed meanwhile: a recording packs files as it goes, and a connection opened before
    names files that are gone."""
    for again in (False, True):
        version = _dir_version(traces_dir)
        try:
            return attempt()
        except trace_error_types():
            if again or _dir_version(traces_dir) == version:
                raise


def on_current_files(traces_dir: str, fn):
    """``fn(con)`` on a new connection over the directory's current trace files (closed
    after), once more over the files there are now if they changed while it failed."""
    def attempt():
        con = new_sql_connection(traces_dir)
        try:
            return fn(con)
        finally:
            con.close()

    return _once_more_if_changed(traces_dir, attempt)


def session_sql_connection(traces_dir: str):
    """This browser session's own locked-down DuckDB connection over ``traces_dir``.

    The validated file list is shared by every session (read-only); the connection
    is not: each session has a private in-memory database, so nothing one visitor
    runs can change what another sees. Rebuilt when runs are published.
    """
    key = (traces_dir, _dir_version(traces_dir))
    held = st.session_state.get("_sql_connection")
    if held is not None and held[0] == key:
        return held[1]
    if held is not None:
        held[1].close()
    con = new_sql_connection(traces_dir)
    st.session_state["_sql_connection"] = (key, con)
    return con


def run_sql(traces_dir: str, query: str, *, timeout: float = SQL_TIMEOUT_S, max_rows: int = 100_000):
    """A user query through ``specviz.sql.query`` on this session's connection, as a
    pandas DataFrame: the same refusals as `specviz sql`, stopped after ``timeout``
    seconds (raises ``specviz.sql.QueryTimeout``, a TraceError, with one line).

    The last result is kept per session, so widget reruns do not re-run the query.
    """
    import pandas as pd

    from specviz.sql import query as sql_query

    session_sql_connection(traces_dir)
    memo_key = (st.session_state["_sql_connection"][0], query, timeout, max_rows)
    memo = st.session_state.get("_sql_result")
    if memo is not None and memo[0] == memo_key:
        return memo[1]

    def attempt():
        result = sql_query(session_sql_connection(traces_dir), query, max_rows=max_rows, timeout=timeout)
        return st.session_state["_sql_connection"][0], result

    key, result = _once_more_if_changed(traces_dir, attempt)
    memo_key = (key, query, timeout, max_rows)
    df = pd.DataFrame.from_records(result.rows, columns=result.columns)
    st.session_state["_sql_result"] = (memo_key, df)
    return df
