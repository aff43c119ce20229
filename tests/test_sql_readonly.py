"""`specviz.sql.query` runs reads over the trace views and nothing else."""

from __future__ import annotations

import os

import pytest
import store_sample

from specviz.sql import connect, query
from specviz.store import TraceError


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sql")
    store_sample.record(tmp_path / "traces")
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    os.symlink(secret, tmp_path / "traces" / "link.csv")
    return tmp_path / "traces"


def _snapshot(root):
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.parent.rglob("*") if p.is_file())


FORBIDDEN = {
    "COPY runs TO 'out.csv'": "COPY statements are refused",
    "COPY (SELECT 1) TO '/tmp/specviz-should-not-exist.csv'": "COPY statements are refused",
    "CREATE TABLE t AS SELECT * FROM runs": "CREATE statements are refused",
    "CREATE VIEW v AS SELECT 1": "CREATE statements are refused",
    "INSERT INTO runs SELECT * FROM runs": "INSERT statements are refused",
    "UPDATE runs SET k = 1": "UPDATE statements are refused",
    "DELETE FROM runs": "DELETE statements are refused",
    "DROP VIEW runs": "DROP statements are refused",
    "ATTACH '/tmp/specviz-x.db' AS x": "ATTACH statements are refused",
    "SET enable_external_access = true": "SET statements are refused",
    "INSTALL httpfs": "statements are refused",
    "PRAGMA database_list": "PRAGMA statements are refused",
    "SELECT 1; DROP VIEW runs": "one statement at a time",
    "SELECT * FROM read_csv('/etc/passwd')": "refused: queries may read only",
    "SELECT * FROM read_text('/etc/hostname')": "refused: queries may read only",
    "SELECT * FROM read_csv('{root}/secret.csv')": "refused: queries may read only",
    "SELECT * FROM read_csv('{root}/traces/link.csv')": "refused: queries may read only",
    "SELECT * FROM read_parquet('{root}/traces/**/*.parquet')": "refused: queries may read only",
    "SELEC * FROM runs": "malformed SQL",
    "SELECT * FROM no_such_view": "Catalog Error: Table with name no_such_view does not exist",
    "": "empty query",
}


@pytest.mark.parametrize("sql", FORBIDDEN)
def test_forbidden_sql_gets_one_clear_line(traces, sql):
    before = _snapshot(traces)
    con = connect(traces)
    with pytest.raises(TraceError, match=FORBIDDEN[sql]) as err:
        query(con, sql.format(root=traces.parent))
    assert "\n" not in str(err.value)
    assert _snapshot(traces) == before and not os.path.exists("/tmp/specviz-should-not-exist.csv")
    assert query(con, "SELECT count(*) FROM runs").rows == [(1,)]  # the views survive


def test_reads_are_allowed(traces):
    con = connect(traces)
    assert query(con, "WITH t AS (SELECT status FROM tokens) SELECT count(*) FROM t").rows == [(4,)]
    assert query(con, "DESCRIBE runs").rows
    assert query(con, "SELECT 1 AS one", max_rows=1).columns == ["one"]


def test_single_file_connection(traces):
    (path,) = traces.rglob("*.parquet")
    con = connect(path)
    assert query(con, "SELECT count(*) FROM tokens").rows == [(4,)]
    with pytest.raises(TraceError, match="refused"):
        query(con, f"SELECT * FROM read_csv('{traces}/link.csv')")
