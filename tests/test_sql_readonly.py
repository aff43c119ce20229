"""`specviz.sql.query` runs reads over the trace views and nothing else.

Every statement kind DuckDB's parser knows is tried, bare, under EXPLAIN and under
EXPLAIN ANALYZE, against real trace files that must stay byte-identical; runaway queries
are stopped by the time limit and by Ctrl-C (a real SIGINT, in-process and to a real
`specviz sql` process); two viewer sessions cannot change what the other sees.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
import store_sample

from specviz.sql import VIEWS, QueryInterrupted, QueryTimeout, connect, query
from specviz.store import TraceError

RUNAWAY = {
    "count over a huge range": "SELECT count(*) FROM range(1000000000000)",
    "unbounded recursive CTE": "WITH RECURSIVE t(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM t) SELECT count(*) FROM t",
    "rows streamed to the caller": "SELECT * FROM range(1000000000000)",
}


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sql")
    store_sample.record(tmp_path / "traces")
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    os.symlink(secret, tmp_path / "traces" / "link.csv")
    return tmp_path / "traces"


@pytest.fixture(scope="module")
def trace_file(traces) -> Path:
    (path,) = traces.rglob("*.parquet")
    return path


def _snapshot(root: Path) -> list:
    """Every file under the test's directory with a hash of its bytes: 'byte-identical'."""
    return sorted((str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in root.parent.rglob("*") if p.is_file())


# One statement per kind of write or state change, {trace} being a real trace file.
WRITES = {
    "COPY": "COPY (SELECT 'pwned' AS x) TO '{trace}' (FORMAT csv, USE_TMP_FILE false)",
    "COPY_TO_DIR": "COPY runs TO '{root}/out.csv'",
    "CREATE": "CREATE TABLE t AS SELECT * FROM runs",
    "CREATE_VIEW": "CREATE OR REPLACE VIEW runs AS SELECT 'pwned' AS run_id",
    "CREATE_TEMP": "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE_SECRET": "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
    "CREATE_MACRO": "CREATE MACRO m(x) AS x",
    "CREATE_TYPE": "CREATE TYPE e AS ENUM ('a')",
    "INSERT": "INSERT INTO runs SELECT * FROM runs",
    "INSERT_CTE": "WITH t AS (SELECT * FROM runs) INSERT INTO runs SELECT * FROM t",
    "UPDATE": "UPDATE runs SET k = 1",
    "DELETE": "DELETE FROM runs",
    "TRUNCATE": "TRUNCATE runs",
    "MERGE_INTO": "MERGE INTO runs USING runs r2 ON true WHEN MATCHED THEN DELETE",
    "DROP": "DROP VIEW runs",
    "ALTER": "ALTER TABLE runs RENAME TO r",
    "COMMENT": "COMMENT ON TABLE runs IS 'x'",
    "ATTACH": "ATTACH '{root}/x.db' AS x",
    "ATTACH_TRACE": "ATTACH '{trace}' AS x",
    "DETACH": "DETACH memory",
    "USE": "USE memory",
    "INSTALL": "INSTALL httpfs",
    "LOAD": "LOAD httpfs",
    "UPDATE_EXTENSIONS": "UPDATE EXTENSIONS",
    "SET": "SET enable_external_access = true",
    "SET_TEMP": "SET temp_directory = '{root}'",
    "RESET": "RESET threads",
    "SET_VARIABLE": "SET VARIABLE x = 1",
    "PRAGMA": "PRAGMA database_list",
    "PRAGMA_PROFILE": "PRAGMA enable_profiling",
    "IMPORT": "IMPORT DATABASE '{root}'",
    "EXPORT": "EXPORT DATABASE '{root}/export'",
    "COPY_DATABASE": "COPY FROM DATABASE memory TO x",
    "CALL": "CALL pragma_table_info('runs')",
    "CHECKPOINT": "CHECKPOINT",
    "VACUUM": "VACUUM",
    "ANALYZE": "ANALYZE",
    "PREPARE": "PREPARE p AS SELECT 1",
    "EXECUTE": "EXECUTE p",
    "DEALLOCATE": "DEALLOCATE p",
    "TRANSACTION": "BEGIN TRANSACTION",
}

# One allowed statement per read form (each with a result to check).
READS = {
    "SELECT": ("SELECT count(*) FROM runs", [(1,)]),
    "WITH": ("WITH t AS (SELECT status FROM tokens) SELECT count(*) FROM t", [(4,)]),
    "FROM-first": ("FROM tokens SELECT count(*)", [(4,)]),
    "VALUES": ("VALUES (1, 'a')", [(1, "a")]),
    "TABLE": ("SELECT count(*) FROM (TABLE errors)", [(1,)]),
    "DESCRIBE": ("SELECT count(*) > 5 FROM (DESCRIBE runs)", [(True,)]),
    "SHOW": ("SELECT count(*) FROM (SHOW TABLES)", [(2 + len(VIEWS),)]),  # runs, events and the views
    "SUMMARIZE": ("SELECT count(*) > 5 FROM (SUMMARIZE runs)", [(True,)]),
    "PIVOT": ("PIVOT tokens ON status USING count(*) GROUP BY run_id", None),
    "PIVOT IN": ("PIVOT (SELECT status FROM tokens) ON status IN ('accepted', 'bonus') USING count(*)", [(2, 1)]),
    "UNPIVOT": ("UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b INTO NAME n VALUE v", [("a", 1), ("b", 2)]),
    "EXPLAIN": ("EXPLAIN SELECT count(*) FROM events", None),
    "EXPLAIN ANALYZE": ("EXPLAIN ANALYZE SELECT count(*) FROM events", None),
    "EXPLAIN (FORMAT json)": ("EXPLAIN (FORMAT json) SELECT 1", None),
    "EXPLAIN PIVOT": ("EXPLAIN ANALYZE PIVOT tokens ON status USING count(*)", None),
    "several statements": ("SELECT 1; SELECT count(*) FROM drafts", [(4,)]),
}

# StatementType members no SQL text parses to (the API's own plans and relations), and
# the kinds DuckDB folds into another one (ANALYZE is VACUUM, CREATE_FUNC is CREATE...).
NOT_FROM_TEXT = {"INVALID", "LOGICAL_PLAN", "RELATION", "ANALYZE", "COPY_DATABASE", "CREATE_FUNC", "EXTENSION",
                 "VARIABLE_SET"}


def _kinds(sql: str) -> set[str]:
    out = set()
    for s in duckdb.connect().extract_statements(sql):
        try:
            out.add(s.type.name)
        except ValueError:
            out.add("UNNAMED")
    return out


def test_every_statement_kind_duckdb_parses_is_tried():
    tried = set().union(*(_kinds(sql.format(trace="t", root="r")) for sql in WRITES.values()))
    tried |= set().union(*(_kinds(sql) for sql, _ in READS.values()))
    every = {m.name for m in duckdb.StatementType} | {"UNNAMED"}
    assert every - NOT_FROM_TEXT <= tried, f"no example of {sorted(every - NOT_FROM_TEXT - tried)}"


def _refused(con, traces, trace_file, sql):
    before = _snapshot(traces)
    with pytest.raises(TraceError) as err:
        query(con, sql.format(root=traces.parent, trace=trace_file))
    message = str(err.value)
    assert "\n" not in message and ("refused" in message or "malformed" in message), message
    assert _snapshot(traces) == before
    assert query(con, "SELECT count(*) FROM runs").rows == [(1,)]  # the views survive
    assert query(con, "SELECT count(DISTINCT token_text) FROM tokens").rows == [(4,)]
    return message


@pytest.mark.parametrize("prefix", ["", "EXPLAIN ", "EXPLAIN ANALYZE ", "EXPLAIN (ANALYZE, FORMAT json) ",
                                    "EXPLAIN /* c */ ANALYZE\n-- c\n"])
@pytest.mark.parametrize("name", WRITES)
def test_writes_are_refused_bare_and_under_explain(traces, trace_file, prefix, name):
    con = connect(traces)
    message = _refused(con, traces, trace_file, prefix + WRITES[name])
    if prefix and "malformed" not in message:
        assert "(inside EXPLAIN)" in message or "EXPLAIN of something" in message


def test_the_issue_attack_leaves_the_trace_intact(traces, trace_file):
    con = connect(traces)
    data = trace_file.read_bytes()
    sql = f"explain analyze copy (select 'pwned' as x) to '{trace_file}' (format csv, use_tmp_file false)"
    with pytest.raises(TraceError, match="COPY statements are refused"):
        query(con, sql)
    assert trace_file.read_bytes() == data


OTHER = {
    "SELECT 1; DROP VIEW runs": "DROP statements are refused",
    "WITH t AS (SELECT 1) PIVOT runs ON k USING count(*)": "PIVOT without an IN list must be the whole statement",
    "SELECT * FROM query('COPY (SELECT 1) TO ''{trace}''')": "Expected a single SELECT",
    "SELECT * FROM enable_logging(storage = 'file', storage_path = '{root}/log')": "configuration has been locked",
    "SELECT * FROM enable_profiling()": "configuration has been locked",
    "SELECT * FROM read_csv('/etc/passwd')": "refused: queries may read only",
    "SELECT * FROM read_text('/etc/hostname')": "refused: queries may read only",
    "SELECT * FROM read_csv('{root}/secret.csv')": "refused: queries may read only",
    "SELECT * FROM read_csv('{root}/traces/link.csv')": "refused: queries may read only",
    "SELECT * FROM read_parquet('{root}/traces/**/*.parquet')": "refused: queries may read only",
    "SELECT * FROM glob('{root}/*')": "refused: queries may read only",
    "SELEC * FROM runs": "malformed SQL",
    "SELECT * FROM no_such_view": "Catalog Error: Table with name no_such_view does not exist",
    "": "empty query",
    "-- only a comment": "empty query",
}


@pytest.mark.parametrize("sql", OTHER)
def test_other_escapes_get_one_clear_line(traces, trace_file, sql):
    con = connect(traces)
    before = _snapshot(traces)
    with pytest.raises(TraceError, match=OTHER[sql]) as err:
        query(con, sql.format(root=traces.parent, trace=trace_file))
    assert "\n" not in str(err.value)
    assert _snapshot(traces) == before
    assert query(con, "SELECT count(*) FROM runs").rows == [(1,)]


@pytest.mark.parametrize("name", READS)
def test_reads_are_allowed(traces, name):
    con = connect(traces)
    sql, rows = READS[name]
    result = query(con, sql)
    assert result.rows if rows is None else result.rows == rows
    if name == "PIVOT":
        assert set(result.columns) == {"run_id", "accepted", "bonus", "resampled"}


def test_no_temporary_directory(traces, tmp_path, monkeypatch):
    # DuckDB's default temp directory is <cwd>/.tmp, which it also adds to the allow-list.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "planted.csv").write_text("a\n1\n")
    con = connect(traces)
    assert query(con, "SELECT current_setting('temp_directory')").rows == [("",)]
    assert query(con, "SELECT current_setting('allow_persistent_secrets')").rows == [(False,)]
    for sql in ("SELECT * FROM read_csv('.tmp/planted.csv')", f"SELECT * FROM read_csv('{tmp_path}/.tmp/planted.csv')"):
        with pytest.raises(TraceError, match="refused"):
            query(con, sql)
    # A sort that DuckDB would rather spill: it runs in memory, and nothing is written.
    assert query(con, "SELECT count(*) FROM (SELECT * FROM range(3000000) ORDER BY random())").rows == [(3000000,)]
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == ["planted.csv"]


def test_single_file_connection(traces, trace_file):
    con = connect(trace_file)
    assert query(con, "SELECT count(*) FROM tokens").rows == [(4,)]
    with pytest.raises(TraceError, match="refused"):
        query(con, f"SELECT * FROM read_csv('{traces}/link.csv')")


@pytest.mark.parametrize("name", RUNAWAY)
def test_runaway_queries_stop_at_the_time_limit(traces, name):
    con = connect(traces)
    t0 = time.monotonic()
    with pytest.raises(QueryTimeout, match="time limit of 1 s"):
        query(con, RUNAWAY[name], timeout=1.0)
    assert time.monotonic() - t0 < 2.0
    assert query(con, "SELECT count(*) FROM runs").rows == [(1,)]  # the connection is usable again


def test_ctrl_c_stops_a_running_query_in_process(traces):
    con = connect(traces)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(QueryInterrupted, match="query interrupted after 1"):
        query(con, RUNAWAY["unbounded recursive CTE"], timeout=60)
    assert time.monotonic() - t0 < 2.0
    assert query(con, "SELECT count(*) FROM runs").rows == [(1,)]


def _specviz(traces, *args, **kwargs) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from recorder.cli import main; main()", "--traces", str(traces), "sql", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_specviz_sql_stops_on_sigint_within_a_second(traces):
    # How long start-up takes here (imports, opening the views) under the current load,
    # so the signal lands while the query runs, not during start-up.
    t0 = time.monotonic()
    quick = _specviz(traces, "SELECT 1")
    assert quick.wait(120) == 0, quick.stderr.read()
    startup = time.monotonic() - t0
    proc = _specviz(traces, RUNAWAY["count over a huge range"])
    time.sleep(2 * startup + 1.0)
    assert proc.poll() is None, proc.stderr.read()
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(10)
    stopped = time.monotonic() - sent
    err = proc.stderr.read()
    assert err.startswith("Error: query interrupted after") and err.count("\n") == 1, err
    assert proc.returncode == 130 and proc.stdout.read() == ""
    assert stopped < 1.0, f"stopped {stopped:.2f} s after SIGINT"


def test_specviz_sql_timeout_option(traces):
    t0 = time.monotonic()
    proc = _specviz(traces, "--timeout", "1", RUNAWAY["unbounded recursive CTE"])
    _, err = proc.communicate(timeout=120)
    assert err == "Error: query stopped at its time limit of 1 s\n" and proc.returncode == 1
    assert time.monotonic() - t0 < 60


def _sql_page(traces) -> "AppTest":
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parent.parent / "viewer" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60)
    at.session_state["traces_dir"] = str(traces)
    at.run()
    at.switch_page("views/sql.py").run()
    assert not at.exception, at.exception
    return at


def _page_query(at, sql: str):
    at.text_area(key="sql_text").input(sql).run()
    at.button(key="sql_run").click().run()
    assert not at.exception, at.exception
    return at


def test_two_viewer_sessions_cannot_affect_each_other(traces):
    a, b = _sql_page(traces), _sql_page(traces)
    _page_query(a, "CREATE OR REPLACE VIEW tokens AS SELECT 'fake' AS token_text")
    assert any("CREATE statements are refused" in c.value for c in a.code)
    # Past the sandbox too: even a statement run directly on session A's connection
    # changes only session A's private database.
    con_a = a.session_state["_sql_connection"][1]
    con_b = b.session_state["_sql_connection"][1]
    assert con_a is not con_b
    con_a.execute("CREATE OR REPLACE VIEW tokens AS SELECT 'fake' AS token_text")
    con_a.execute("CREATE OR REPLACE TABLE runs AS SELECT 'pwned' AS run_id, 4 AS k")
    sql = "SELECT (SELECT min(token_text) FROM tokens) AS t, (SELECT min(run_id) FROM runs) AS r"
    assert list(_page_query(a, sql).dataframe[0].value.iloc[0]) == ["fake", "pwned"]
    row = list(_page_query(b, sql).dataframe[0].value.iloc[0])
    assert row[0] == " cat" and row[1] != "pwned" and len(row[1]) == 16


def test_viewer_sql_page_time_limit(traces):
    at = _sql_page(traces)
    at.number_input(key="sql_timeout").set_value(1.0)
    t0 = time.monotonic()
    _page_query(at, RUNAWAY["count over a huge range"])
    assert time.monotonic() - t0 < 30
    assert any("time limit of 1 s" in c.value for c in at.code)
    _page_query(at, "SELECT count(*) AS n FROM runs")
    assert list(at.dataframe[0].value["n"]) == [1]
