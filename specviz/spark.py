"""The trace views on Spark SQL, for trace directories that outgrow one machine.

    from pyspark.sql import SparkSession
    from specviz.spark import register_views
    spark = SparkSession.builder.getOrCreate()
    register_views(spark, "s3a://bucket/traces")      # or a local / HDFS path
    spark.sql("SELECT drafter, k, avg(acceptance_rate) FROM runs GROUP BY ALL").show()

Registers the temporary views `events`, `runs`, `drafts`, `verifications`, `rounds`,
`tokens` and `errors` over the same Hive-partitioned directory DuckDB reads. The per-kind
views and `tokens` are the definitions DuckDB uses (specviz.sql_views) rendered in Spark's
dialect (backquoted identifiers); `events` puts each event's wall clock back from the run's
anchor as DuckDB's view does; `runs` joins each run's run_started and run_finished events, since
Spark has no footer metadata to read them from (same columns as DuckDB's `runs` table).
Each run is read from one file, as DuckDB serves it (a run that a killed `specviz compact`
left in both its run file and a pack, from its run file). Differences that are Spark's own: arrays are 0-based (`top[0]` is DuckDB's `top[1]`), and
`events` ends with the Hive partition column `date` (a DATE) as DuckDB's does.

Needs the optional extra: ``pip install 'specviz[spark]'`` and a Java runtime.
"""

from __future__ import annotations

from typing import Any

import msgspec

from specviz.events import RunFinished, RunStarted
from specviz.sql_views import KIND_VIEWS, RUN_FINISHED_COLUMNS, RUN_STARTED_COLUMNS, shared_views
from specviz.store.columns import COLUMNS, TOP_TYPE, WALL_OFFSET
from specviz.store.layout import HADOOP_GLOB

VIEW_NAMES = ("events", "runs", *KIND_VIEWS, "tokens")


def _q(name: str) -> str:
    return f"`{name}`"


def _literal(value: Any, sql_type: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    return f"CAST({'map()' if isinstance(value, dict) else 'array()'} AS {spark_type(sql_type)})"


def _with_default(alias: str, cls: type, name: str) -> str:
    """A runs column as DuckDB's runs table has it: files written before a field existed
    read as the field's default (the footer's event decodes with it), not NULL."""
    info = next(f for f in msgspec.structs.fields(cls) if f.name == name)
    default = info.default_factory() if info.default is msgspec.NODEFAULT and info.default_factory is not msgspec.NODEFAULT else info.default
    if default is None or default is msgspec.NODEFAULT:
        return f"{alias}.{_q(name)}"
    return f"coalesce({alias}.{_q(name)}, {_literal(default, COLUMNS[name].sql_type)}) AS {_q(name)}"


def _runs_sql() -> str:
    started = ", ".join(_with_default("s", RunStarted, c) for c in RUN_STARTED_COLUMNS)
    finished = ", ".join(_with_default("f", RunFinished, c) for c in RUN_FINISHED_COLUMNS)
    ts = "timestamp_micros(s.t_wall_ns div 1000)"
    return (
        f"SELECT s.run_id, f.status, {ts} AS started_at, timestamp_micros(f.t_wall_ns div 1000) AS finished_at, "
        f"date_format({ts}, 'yyyy-MM-dd') AS `date`, f.seq + 1 AS n_events, {started}, {finished} "
        "FROM (SELECT * FROM events WHERE kind = 'run_started') s "
        "JOIN (SELECT * FROM events WHERE kind = 'run_finished') f ON s.run_id = f.run_id"
    )


def view_definitions() -> dict[str, str]:
    """Spark SQL of every view but `events` (which is a DataFrame over the files)."""
    return {"runs": _runs_sql(), **shared_views(quote="`")}


_SPARK_SCALARS = {"BIGINT": "bigint", "DOUBLE": "double", "VARCHAR": "string", "BOOLEAN": "boolean"}


def spark_type(sql_type: str) -> str:
    """A DuckDB column type of specviz.store.columns as a Spark DDL type."""
    if sql_type == TOP_TYPE:
        return "array<struct<id:bigint,text:string,logprob:double>>"
    if sql_type.startswith("MAP("):
        key, value = sql_type[4:-1].split(", ")
        return f"map<{_SPARK_SCALARS[key]},{_SPARK_SCALARS[value]}>"
    if sql_type.endswith("[]"):
        return f"array<{_SPARK_SCALARS[sql_type[:-2]]}>"
    return _SPARK_SCALARS[sql_type]


def _served(frame: Any) -> Any:
    """Each run's rows from one file, as DuckDB's views serve them (catalog.Listing.served):
    its own run file before any pack, else the first file by path. A `specviz compact`
    killed between publishing a pack and removing the run files it packed leaves those
    runs in both; read as they are, they would count twice."""
    from pyspark.sql import functions as F

    file = F.col("_metadata.file_path")
    copy = F.struct(F.regexp_extract(file, r"([^/]*)$", 1).startswith("pack-").alias("pack"), file.alias("file"))
    frame = frame.withColumn("_copy", copy)
    # One row per run (only run_id and the file name are read for it), then a semi-join:
    # no shuffle of the events themselves.
    first = frame.groupBy("run_id").agg(F.min("_copy").alias("_copy"))
    return frame.join(F.broadcast(first), ["run_id", "_copy"], "left_semi").drop("_copy")


def events_frame(spark: Any, traces: str) -> Any:
    """Every event of every published run under ``traces``: the columns of every schema
    minor (NULL where a file predates a field), in DuckDB's order, wall clocks restored."""
    from pyspark.sql import functions as F

    root = str(traces).rstrip("/")
    # The schema is given, not inferred: merging the footers of every file (which older
    # schema minors would need) costs about 30 ms per file on the driver; with it, a
    # column a file lacks reads as NULL, which is what the merge would have given.
    schema = ", ".join(f"`{name}` {spark_type(c.sql_type)}" for name, c in COLUMNS.items())
    frame = _served(spark.read.schema(schema).option("basePath", root).parquet(f"{root}/{HADOOP_GLOB}"))
    frame = frame.withColumn("t_wall_ns", F.coalesce(F.col("t_wall_ns"), F.col("t_mono_ns") + F.col(WALL_OFFSET)))
    columns = [F.col(f"`{name}`") for name in COLUMNS if name != WALL_OFFSET]
    if "date" in frame.columns:  # the Hive partition, last and a DATE as in DuckDB's view
        columns.append(F.col("date"))
    return frame.select(*columns)


def register_views(spark: Any, traces: str, *, cache_runs: bool = True) -> list[str]:
    """Register the specviz views on ``spark`` over ``traces``; returns their names.

    cache_runs: compute `runs` (one row per run, from a scan of every event) once, now,
    and keep it in memory; otherwise every query that joins it scans all events twice more.
    The views see the files present at registration either way.
    """
    events_frame(spark, traces).createOrReplaceTempView("events")
    for name, sql in view_definitions().items():
        spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")
    if cache_runs:
        spark.sql("CACHE TABLE runs")
    return list(VIEW_NAMES)


__all__ = ["register_views", "view_definitions", "events_frame", "spark_type", "VIEW_NAMES"]
