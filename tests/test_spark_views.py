"""The specviz views on Spark SQL (PySpark local mode) give DuckDB's results.

Runs the README's example queries, and a query per view over all its columns, on the
example traces in both engines and compares the rows. Needs the spark extra and Java;
`.ci/run` installs both.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed (uv sync --extra spark)")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (apt-get install default-jre-headless)", allow_module_level=True)

from specviz.spark import VIEW_NAMES, register_views  # noqa: E402
from specviz.sql import connect  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "traces" / "examples"


def readme_queries() -> list[str]:
    """The statements of the README's "Example queries" block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split("#### Example queries", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    code = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("--"))
    return [q.strip() for q in code.split(";") if q.strip()]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("specviz-test")
               .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    register_views(session, str(EXAMPLES))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def duck():
    return connect(EXAMPLES)


def _norm(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    if hasattr(value, "asDict"):
        return tuple(_norm(v) for v in value.asDict().values())
    return value


def _rows(rows) -> list:
    return sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)


def test_views_have_duckdbs_columns(spark, duck):
    for view in VIEW_NAMES:
        spark_cols = spark.table(view).columns
        duck_cols = [r[0] for r in duck.execute(f"DESCRIBE {view}").fetchall()]
        assert spark_cols == duck_cols, view


@pytest.mark.parametrize("view", [v for v in VIEW_NAMES if v != "events"])
def test_every_view_has_duckdbs_rows(spark, duck, view):
    cols = [r[0] for r in duck.execute(f"DESCRIBE {view}").fetchall()
            if not r[1].startswith(("STRUCT", "MAP")) and "STRUCT" not in r[1]]
    duck_rows = duck.execute(f"SELECT {', '.join(repr(c).replace(chr(39), chr(34)) for c in cols)} FROM {view}").fetchall()
    spark_rows = spark.sql(f"SELECT {', '.join('`' + c + '`' for c in cols)} FROM {view}").collect()
    assert len(duck_rows) > 0 or view == "errors"  # the examples hold no error events
    assert _rows(spark_rows) == _rows(duck_rows)


@pytest.mark.parametrize("sql", readme_queries())
def test_readme_queries_agree(spark, duck, sql):
    assert _rows(spark.sql(sql).collect()) == _rows(duck.execute(sql).fetchall())


def test_views_over_a_compacted_store_agree(spark, tmp_path):
    """Packs (`specviz compact`) are read by Spark as by DuckDB: the same rows in every view."""
    from specviz.store.compact import compact

    packed = tmp_path / "traces"
    shutil.copytree(EXAMPLES, packed)
    assert compact(packed).packed
    assert any(p.name.startswith("pack-") for p in packed.glob("date=*/*.parquet"))
    duck = connect(packed)
    try:
        register_views(spark, str(packed))
        for view in ("runs", "verifications", "tokens"):
            cols = [r[0] for r in duck.execute(f"DESCRIBE {view}").fetchall() if "STRUCT" not in r[1] and not r[1].startswith("MAP")]
            duck_rows = duck.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {view}").fetchall()
            spark_rows = spark.sql(f"SELECT {', '.join('`' + c + '`' for c in cols)} FROM {view}").collect()
            assert len(duck_rows) > 0 and _rows(spark_rows) == _rows(duck_rows), view
    finally:
        register_views(spark, str(EXAMPLES))


def test_a_run_left_in_its_file_and_a_pack_is_served_once_as_by_duckdb(spark, tmp_path):
    """A `specviz compact` killed after writing a pack but before removing the run files
    it packed leaves those runs in both. DuckDB's views serve each run once, from its own
    file (catalog.Listing.served); Spark counted such runs twice."""
    from specviz.store.compact import compact

    packed = tmp_path / "traces"
    shutil.copytree(EXAMPLES, packed)
    assert compact(packed).packed
    left = sorted(EXAMPLES.glob("date=*/run-*.parquet"))[:2]
    for f in left:  # as the killed compact left them: beside the pack that holds them too
        shutil.copy2(f, packed / f.relative_to(EXAMPLES))
    duck = connect(packed)
    try:
        register_views(spark, str(packed))
        for sql in ("SELECT run_id, count(*) AS n, sum(seq) AS s FROM events GROUP BY run_id",
                    "SELECT run_id, status, n_events FROM runs",
                    "SELECT run_id, round, position, status FROM verifications",
                    "SELECT count(*) FROM tokens"):
            assert _rows(spark.sql(sql).collect()) == _rows(duck.execute(sql).fetchall()), sql
        n = len(duck.execute("SELECT DISTINCT run_id FROM events").fetchall())
        assert spark.sql("SELECT count(*) FROM runs").collect()[0][0] == n
    finally:
        duck.close()
        register_views(spark, str(EXAMPLES))
