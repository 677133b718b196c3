"""Thin read/write helpers for the Delta tables. Every function here does I/O.

Write-audit-publish: a run writes each table's new partitions to a staging Delta table of its own
(`<lake>/_staging/run_date=D/<layer>/<table>`), the gate validates that, and publishing replaces the
same date range of the published table in one Delta commit (`replaceWhere`). Readers of the
published table never see a half-written or unvalidated day.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicklake.config import spark_uri
from clicklake.tables import Table, conform, table


def date_range_predicate(column: str, start: dt.date, end: dt.date) -> str:
    return f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, spark_uri(path))


def read_published(spark: SparkSession, name: str, lake: str) -> DataFrame | None:
    path = table(name).path(lake)
    if not is_delta_table(spark, path):
        return None
    return spark.read.format("delta").load(spark_uri(path))


def read_published_range(spark: SparkSession, name: str, lake: str, start: dt.date, end: dt.date) -> DataFrame:
    """The published rows of a date range; an empty frame of the right schema when the table is new."""
    spec = table(name)
    df = read_published(spark, name, lake)
    if df is None:
        return spark.createDataFrame([], spec.schema)
    return df.where(date_range_predicate(spec.partition_by, start, end))


def read_staged(spark: SparkSession, name: str, lake: str, run_date: dt.date) -> DataFrame:
    path = table(name).staging_path(lake, run_date)
    if not is_delta_table(spark, path):
        raise FileNotFoundError(
            f"{name}: no staged result for run date {run_date} at {path}; run the layer's stage step first"
        )
    return spark.read.format("delta").load(spark_uri(path))


def write_staged(df: DataFrame, name: str, lake: str, run_date: dt.date) -> int:
    """Write the run's rows of a table to its staging table; returns the number of rows written."""
    from delta.tables import DeltaTable

    spec = table(name)
    target = spark_uri(spec.staging_path(lake, run_date))
    (
        conform(df, name)
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy(spec.partition_by)
        .save(target)
    )
    metrics = DeltaTable.forPath(df.sparkSession, target).history(1).select("operationMetrics").first()[0]
    return int(metrics.get("numOutputRows", 0))


def publish(spark: SparkSession, name: str, lake: str, run_date: dt.date, start: dt.date, end: dt.date) -> int:
    """Replace [start, end] of the published table with the staged rows, in one Delta commit.

    Returns the published table's new Delta version.
    """
    from delta.tables import DeltaTable

    spec = table(name)
    staged = read_staged(spark, name, lake, run_date)
    # replaceWhere also rejects staged rows outside the range (Delta's constraint check).
    target = spark_uri(spec.path(lake))
    writer = conform(staged, name).write.format("delta").partitionBy(spec.partition_by)
    if is_delta_table(spark, spec.path(lake)):
        writer.mode("overwrite").option("replaceWhere", date_range_predicate(spec.partition_by, start, end)).save(target)
    else:
        writer.mode("errorifexists").save(target)
        _describe(spark, spec, target)
    return DeltaTable.forPath(spark, target).history(1).select("version").first()[0]


def _describe(spark: SparkSession, spec: Table, target: str) -> None:
    """Table comment for SQL tools; column comments travel in the schema metadata."""
    description = spec.description.replace("'", "''")
    spark.sql(f"ALTER TABLE delta.`{target}` SET TBLPROPERTIES ('comment' = '{description}')")


def delta_version(spark: SparkSession, name: str, lake: str) -> int | None:
    from delta.tables import DeltaTable

    path = table(name).path(lake)
    if not is_delta_table(spark, path):
        return None
    return DeltaTable.forPath(spark, spark_uri(path)).history(1).select("version").first()[0]


def remove_staged(spark: SparkSession, name: str, lake: str, run_date: dt.date) -> None:
    """Drop a staging table once it is published."""
    delete_path(spark, table(name).staging_path(lake, run_date))


def delete_path(spark: SparkSession, path: str) -> None:
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(spark_uri(path))
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(hadoop_path):
        fs.delete(hadoop_path, True)


def empty_like(spark: SparkSession, name: str) -> DataFrame:
    return spark.createDataFrame([], table(name).schema)


def lit_date(value: dt.date):
    return F.lit(value.isoformat()).cast("date")
