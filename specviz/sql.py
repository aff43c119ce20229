"""Read-only DuckDB SQL over a trace directory (or one trace file).

    from specviz.sql import connect, query
    con = connect("traces")          # runs (table) + views events drafts verifications rounds tokens errors
    result = query(con, "SELECT k, avg(acceptance_rate) FROM runs GROUP BY k")
    result.columns, result.rows                  # or con.sql(...) for trusted, internal queries

``connect(source) -> duckdb.DuckDBPyConnection``
    source: a trace directory, a Parquet trace file, or a list of both. Opening only
    reads (abandoned logs stay as they are until `specviz recover`); bad files are
    skipped and `open_views` returns them as problems, except that a lone file that is
    bad is a TraceError. Every call makes a new private in-memory
    database, so nothing one caller does is seen by another. It cannot reach anything
    but the trace files: ``enable_external_access=false`` with only those files allowed,
    no temporary directory, no extension loading, and ``lock_configuration=true``.
    ``find_traces`` + ``connect_traces`` split the same in two: the validated file list
    (shareable, read-only) and a connection over it (one per user or session).
``query(con, sql, *, max_rows=None, timeout=30.0) -> QueryResult``
    runs user-written SQL after `specviz.sql_sandbox.check` has passed every statement
    (SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT, UNPIVOT, EXPLAIN [ANALYZE]
    of those); CREATE, INSERT, COPY, ATTACH, SET, PRAGMA, INSTALL... get a one-line
    TraceError, as do malformed SQL and reading other files. Stopped by DuckDB's
    ``interrupt()`` at ``timeout`` seconds (QueryTimeout) or on Ctrl-C (QueryInterrupted).

The views are documented column by column in README.md ("The trace store"); columns are only ever added.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import duckdb
import msgspec

from specviz.store.catalog import Listing, RunSummary, scan_sources
from specviz.store.layout import names_a_file
from specviz.store.columns import COLUMNS, WALL_OFFSET, empty_relation_sql
from specviz.store.footer import TraceFile
from specviz.store.layout import TraceError, real_path
from specviz.sql_sandbox import DEFAULT_TIMEOUT_S, QueryInterrupted, QueryTimeout, TracesChanged, check, one_line, run, stale_trace_error
from specviz.store.recovery import Problem
from specviz.sql_views import RUN_FINISHED_COLUMNS, RUN_STARTED_COLUMNS, shared_views

T = TypeVar("T")

_RUN_ROW_TYPES = {
    "run_id": "VARCHAR",
    "status": "VARCHAR",
    "started_ns": "BIGINT",
    "finished_ns": "BIGINT",
    "n_events": "BIGINT",
    **{f: COLUMNS[f].sql_type for f in RUN_STARTED_COLUMNS + RUN_FINISHED_COLUMNS},
}
_RUNS = (
    "SELECT s.run_id, s.status, make_timestamp(s.started_ns // 1000) AS started_at, "
    "make_timestamp(s.finished_ns // 1000) AS finished_at, "
    "strftime(make_timestamp(s.started_ns // 1000), '%Y-%m-%d') AS date, s.n_events, "
    + ", ".join(f's."{c}"' for c in RUN_STARTED_COLUMNS + RUN_FINISHED_COLUMNS)
    + " FROM (SELECT unnest(from_json($1::JSON, $2)) AS s)"
)
_JSON = msgspec.json.Encoder()


def _run_rows(summaries: list[RunSummary]) -> str:
    """The runs table's rows as JSON, from the run_started/run_finished copies in footers.

    Equal to joining the two events of each run, without scanning a row group, so a
    query over runs stays fast however many events the runs hold. (JSON into DuckDB
    rather than an Arrow table: building one from Python makes pyarrow import pandas,
    seconds per command without cached bytecode.)
    """
    rows = []
    for s in summaries:
        st, fin = s.started, s.finished
        row = {"run_id": s.run_id, "status": s.status, "started_ns": st.t_wall_ns}
        row.update({f: getattr(st, f) for f in RUN_STARTED_COLUMNS})
        if fin is not None:
            row.update(finished_ns=fin.t_wall_ns, n_events=fin.seq + 1)
            row.update({f: getattr(fin, f) for f in RUN_FINISHED_COLUMNS})
        rows.append(row)
    return _JSON.encode(rows).decode()


# Per configuration (everything but the prompt and the repeat), over its completed runs: the
# medians, and 95 % percentile-bootstrap intervals of them from 1,000 two-level (cluster)
# resamples: draw the configuration's prompts with replacement, then within each drawn prompt
# its repeats with replacement. Resampling runs alone would treat a prompt's repeats as
# independent prompts, and intervals came out too narrow whenever prompts differ more than
# repeats do (80 % coverage of a 95 % interval in the test's simulation). Draws come from
# chained hashes of (configuration, resample, draw[, repeat draw]), so a query gives the
# same interval every time and needs no random state. Chained, and scaled from the high 32
# bits: DuckDB's several-argument hash(cfg, b, j) mixes too little (`% 8` drew the same
# prompt for j = 0 and 1 in every resample, and only 4 distinct prompts of 8).
_CONFIG = "target, target_model, method, drafter, k, temperature, top_p, top_k, max_tokens"
BOOTSTRAP_RESAMPLES = 1000
_SPEEDUPS = f"""
WITH c AS (
  SELECT *, dense_rank() OVER (ORDER BY {_CONFIG}) AS cfg,
         dense_rank() OVER (PARTITION BY {_CONFIG} ORDER BY prompt_token_ids) - 1 AS pi,
         row_number() OVER (PARTITION BY {_CONFIG}, prompt_token_ids ORDER BY run_id) - 1 AS ri,
         count(*) OVER (PARTITION BY {_CONFIG}, prompt_token_ids) AS m
  FROM runs WHERE status = 'completed'
),
p AS (SELECT DISTINCT cfg, pi, m FROM c),
np AS (SELECT cfg, count(*) AS np FROM p GROUP BY cfg),
prompt_draws AS (
  SELECT cfg, b, h, ((h >> 32) * np >> 32)::BIGINT AS pi
  FROM (SELECT cfg, np, b, hash(xor(hash(xor(hash(cfg), b::UBIGINT)), j::UBIGINT)) AS h
        FROM (SELECT cfg, np, b, unnest(range(np)) AS j FROM np, range({BOOTSTRAP_RESAMPLES}) AS bs(b)))
),
draws AS (
  SELECT cfg, b, pi, ((hash(xor(h, l::UBIGINT)) >> 32) * m >> 32)::BIGINT AS ri
  FROM (SELECT d.cfg, d.b, d.h, d.pi, p.m, unnest(range(p.m)) AS l FROM prompt_draws d JOIN p USING (cfg, pi))
),
boot AS (
  SELECT d.cfg, d.b, median(c.tokens_per_s) AS tps, median(c.speedup) AS speedup
  FROM draws d JOIN c USING (cfg, pi, ri) GROUP BY d.cfg, d.b
),
ci AS (
  SELECT cfg, quantile_cont(tps, 0.025) AS tps_lo, quantile_cont(tps, 0.975) AS tps_hi,
         quantile_cont(speedup, 0.025) AS sp_lo, quantile_cont(speedup, 0.975) AS sp_hi
  FROM boot GROUP BY cfg
)
SELECT {_CONFIG},
       count(*) AS runs, count(DISTINCT prompt_token_ids) AS prompts, count(speedup) AS runs_with_speedup,
       median(tokens_per_s) AS tokens_per_s, any_value(ci.tps_lo) AS tokens_per_s_ci_low, any_value(ci.tps_hi) AS tokens_per_s_ci_high,
       median(speedup) AS speedup, any_value(ci.sp_lo) AS speedup_ci_low, any_value(ci.sp_hi) AS speedup_ci_high,
       string_agg(DISTINCT baseline_kind, ',' ORDER BY baseline_kind) FILTER (WHERE speedup IS NOT NULL) AS baseline_kinds
FROM c JOIN ci USING (cfg)
GROUP BY ALL ORDER BY ALL
"""

VIEWS: dict[str, str] = {
    **shared_views(),
    # DuckDB only: specviz.spark renders the shared views, not this one (hash, FILTER, ...)
    "speedups": _SPEEDUPS,
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _events_sql(files: list[TraceFile], excluded: dict[Path, frozenset[str]] | None = None) -> str:
    # The typed empty relation first fixes column order and types and supplies columns
    # older files lack (schema minors only add columns). Files with one schema are one
    # scan; union_by_name instead would open every footer at every bind. A file with runs
    # listed from elsewhere (``excluded``) is its own scan, without those runs.
    excluded = excluded or {}
    groups: dict[str, list[Path]] = {}
    for f in files:
        if f.path not in excluded:
            groups.setdefault(f.schema, []).append(f.path)
    parts = [f"({empty_relation_sql()})"]
    for paths in groups.values():
        listed = "[" + ", ".join(_quote(str(p)) for p in paths) + "]"
        parts.append(f"(SELECT * FROM read_parquet({listed}))")
    for path, run_ids in sorted(excluded.items()):
        left_out = ", ".join(_quote(r) for r in sorted(run_ids))
        parts.append(f"(SELECT * FROM read_parquet({_quote(str(path))}) WHERE run_id NOT IN ({left_out}))")
    union = " UNION ALL BY NAME ".join(parts)
    # Files keep one wall-clock anchor per run (store/columnar.py); the view puts every
    # event's t_wall_ns back, and files with per-event wall clocks keep theirs.
    return (f'SELECT * EXCLUDE ("{WALL_OFFSET}") REPLACE (coalesce(t_wall_ns, t_mono_ns + "{WALL_OFFSET}") AS t_wall_ns) '
            f"FROM ({union})")


@dataclass
class Traces:
    """What a connection is built over: validated trace files, their runs, files skipped."""

    files: list[TraceFile]
    summaries: list[RunSummary]
    problems: list[Problem] = field(default_factory=list)
    excluded: dict[Path, frozenset[str]] = field(default_factory=dict)  # runs read from another file


@dataclass
class Opened:
    """What `open_views` found: the connection plus files skipped as unreadable."""

    con: duckdb.DuckDBPyConnection
    files: list[TraceFile]
    problems: list[Problem] = field(default_factory=list)


def _duckdb_reads(con: duckdb.DuckDBPyConnection, paths: list[str]) -> bool:
    try:
        con.execute("SELECT count(*) FROM read_parquet($1)", [paths]).fetchall()
        return True
    except duckdb.Error:
        return False


def _readable_by_duckdb(files: list[TraceFile], problems: list[Problem]) -> list[TraceFile]:
    """The files DuckDB's own footer reader accepts (it is stricter than pyarrow's about
    damaged bytes): one bad file must not make the events view fail for every run.
    One count per schema group; only a group that fails is tried file by file."""
    good = [f for f in files if f.checked_by_duckdb]  # read by DuckDB in the listing already
    groups: dict[str, list[TraceFile]] = {}
    for f in files:
        if not f.checked_by_duckdb:
            groups.setdefault(f.schema, []).append(f)
    if not groups:
        return good
    with duckdb.connect(":memory:", config={"autoload_known_extensions": False}) as con:
        con.execute("SET enable_progress_bar = false")
        for group in groups.values():
            if _duckdb_reads(con, [str(f.path) for f in group]):
                good.extend(group)
                continue
            for f in group:
                if _duckdb_reads(con, [str(f.path)]):
                    good.append(f)
                else:
                    problems.append(Problem(f.path, "DuckDB cannot read this file (damaged footer or pages); left out of the views"))
    return good


def _sources(source) -> list[Path]:
    items = source if isinstance(source, (list, tuple)) else [source]
    # A path that is not there (a run file a compaction packed) is looked up as written:
    # `moved.find_moved` keeps to the store the path names, which following links would leave.
    return [real_path(s) if os.path.lexists(s) else Path(s).absolute() for s in items]


def find_traces(source: str | os.PathLike | list) -> Traces:
    """The trace files `connect` would use (footers validated; no row read), reading only.

    Read-only once built, so one can back many connections (the viewer gives each
    session its own connection over a shared `Traces`).
    """
    sources = _sources(source)
    # One path that does not exist is an empty trace directory (nothing recorded yet); one
    # named as a file is a file (perhaps a run file a compaction packed: its run from the pack).
    named = isinstance(source, (list, tuple)) or sources[0].exists() or names_a_file(sources[0])
    listing = scan_sources(sources) if named else Listing()
    problems = list(listing.problems)
    if len(sources) == 1 and not sources[0].is_dir() and problems and not listing.files:
        raise TraceError(str(problems[0]))  # the one file asked for is bad: say so, once
    served, excluded = listing.served()
    files = _readable_by_duckdb(served, problems)
    paths = {f.path for f in files}
    summaries = [s for s in listing.runs if not s.live and s.path in paths]
    return Traces(files, summaries, problems, {p: r for p, r in excluded.items() if p in paths})


def connect_traces(traces: Traces, *, label: str = "traces") -> duckdb.DuckDBPyConnection:
    """A new, private, locked-down in-memory connection with the trace views over ``traces``.

    Nothing outside the trace files is reachable, and no path is writable through a
    statement the sandbox lets run: external access off with only the validated files
    themselves allowed (a directory allow-list would also admit a symlink inside it that
    points anywhere), no temporary directory (queries that outgrow memory fail instead
    of spilling), no extension loading, and the configuration locked last so no query
    can loosen any of it. DuckDB's allow-list does not tell reads from writes, which is
    why every statement is also checked by `sql_sandbox.check` before it runs.
    """
    allowed = [str(f.path) for f in traces.files]
    con = duckdb.connect(
        ":memory:",
        # No persistent secrets either: they are loaded from ~/.duckdb at start-up, and a
        # query could then list them (redacted, but named) with duckdb_secrets().
        config={"autoload_known_extensions": False, "autoinstall_known_extensions": False,
                "allow_persistent_secrets": False},
    )
    try:
        # Order matters: the allow-list can only be set while external access is still on,
        # and the lock comes last.
        if allowed:
            con.execute("SET allowed_paths = $1", [allowed])
        con.execute("SET temp_directory = ''")
        con.execute("SET enable_progress_bar = false")  # it would draw on the user's terminal
        con.execute("SET parquet_metadata_cache = true")
        con.execute(f"CREATE TABLE runs AS {_RUNS}", [_run_rows(traces.summaries), _JSON.encode([_RUN_ROW_TYPES]).decode()])
        con.execute("SET enable_external_access = false")
        # The views over events are created against a typed empty stand-in, then events is
        # replaced by the real scan: binding a scan of 1,000 files costs ~15 ms each time,
        # and views are bound again at every query anyway.
        con.execute(f'CREATE VIEW events AS SELECT * EXCLUDE ("{WALL_OFFSET}") FROM ({empty_relation_sql()})')
        for name, sql in VIEWS.items():
            con.execute(f"CREATE VIEW {name} AS {sql}")
        con.execute(f"CREATE OR REPLACE VIEW events AS {_events_sql(traces.files, traces.excluded)}")
        con.execute("SET lock_configuration = true")
    except duckdb.Error as e:
        # A listed file packed since the listing: binding the events view meets it gone
        stale = stale_trace_error(con, e)
        con.close()
        raise stale or TraceError(f"cannot open traces in {label}: {one_line(e)}") from None
    return con


def open_views(source: str | os.PathLike | list) -> Opened:
    """`connect`, also returning the files used and the problems met (bad files skipped)."""
    traces = find_traces(source)
    con = connect_traces(traces, label=", ".join(map(str, _sources(source))))
    return Opened(con, traces.files, traces.problems)


def with_views(source: str | os.PathLike | list, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[Opened, T]:
    """``fn(con)`` over newly opened views (closed after), and once more over a new listing
    when trace files were packed while it ran (a recording compacts as it goes)."""
    for attempt in (0, 1):
        try:
            opened = open_views(source)  # a file packed between listing and views: again
        except TracesChanged:
            if attempt:
                raise
            continue
        try:
            return opened, fn(opened.con)
        except TracesChanged:
            if attempt:
                raise
        finally:
            opened.con.close()
    raise AssertionError("unreachable")


def connect(source: str | os.PathLike | list) -> duckdb.DuckDBPyConnection:
    """A locked-down DuckDB connection with the trace views; see the module docstring."""
    return open_views(source).con


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple]


def query(con: duckdb.DuckDBPyConnection, sql: str, *, max_rows: int | None = None,
          timeout: float | None = DEFAULT_TIMEOUT_S) -> QueryResult:
    """Run read-only statements written by a user; the last one's result.

    Refused, malformed, failed, timed-out (QueryTimeout) and Ctrl-C'd (QueryInterrupted)
    queries raise TraceError with one line; see `specviz.sql_sandbox`.
    """
    statements = check(con, sql)
    return QueryResult(*run(con, statements, timeout=timeout, max_rows=max_rows))


__all__ = ["connect", "open_views", "with_views", "TracesChanged", "find_traces", "connect_traces", "query", "QueryResult", "Opened", "Traces",
           "QueryInterrupted", "QueryTimeout", "DEFAULT_TIMEOUT_S", "VIEWS"]
