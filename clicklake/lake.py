"""Thin read/write helpers for the Delta tables. Every function here does I/O.

Write-audit-publish: a layer computes the run's rows of each table and holds them as a staged
batch (persisted by Spark), the gate validates the batches, and publishing replaces the same date
range of each published table in one Delta commit (`replaceWhere`). Readers never see a
half-written or unvalidated day. A batch that fails its gate is written to
`<lake>/_rejected/run_date=D/<layer>/<table>` for inspection instead.
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


# Below this many rows a batch is written as one file per date; larger batches keep Spark's split.
ONE_FILE_PER_DATE_ROWS = 2_000_000


def publish(spark: SparkSession, batch: DataFrame, name: str, lake: str, start: dt.date, end: dt.date, rows: int | None = None) -> int:
    """Replace [start, end] of the published table with the batch, in one Delta commit.

    Delta rejects the commit if a row of the batch falls outside the range. Returns the new version.
    """
    from delta.tables import DeltaTable

    spec = table(name)
    target = spark_uri(spec.path(lake))
    batch = conform(batch, name)
    if rows is not None and rows < ONE_FILE_PER_DATE_ROWS:
        batch = batch.repartition(spec.partition_by)  # few, larger files: cheaper to write and to read
    writer = batch.write.format("delta").partitionBy(spec.partition_by)
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


def rejected_path(name: str, lake: str, run_date: dt.date) -> str:
    spec = table(name)
    return f"{lake}/_rejected/run_date={run_date.isoformat()}/{spec.layer}/{spec.short_name}"


def keep_rejected(batch: DataFrame, name: str, lake: str, run_date: dt.date) -> str:
    """Write a batch that failed its gate where people can look at it; returns the location."""
    path = rejected_path(name, lake, run_date)
    conform(batch, name).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(spark_uri(path))
    return path


def delta_version(spark: SparkSession, name: str, lake: str) -> int | None:
    from delta.tables import DeltaTable

    path = table(name).path(lake)
    if not is_delta_table(spark, path):
        return None
    return DeltaTable.forPath(spark, spark_uri(path)).history(1).select("version").first()[0]


def empty_like(spark: SparkSession, name: str) -> DataFrame:
    return spark.createDataFrame([], table(name).schema)


def lit_date(value: dt.date):
    return F.lit(value.isoformat()).cast("date")
