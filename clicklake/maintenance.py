"""Table maintenance: compaction of recent date partitions (OPTIMIZE) and deletion of data files
that no table version within the retention needs any more (VACUUM). Every function does I/O; run
by `clicklake maintain` and the clickstream_maintenance DAG.

Why both, as measured (README, "Table layout and maintenance"): a run replaces whole date
partitions, and silver.hits and the gold tables also replace the neighbouring dates that late data
and sessions crossing midnight touch, so every run leaves the replaced files behind in storage for
time travel. Nothing else ever deletes them: storage grows with every rerun and backfill while
the tables stay the same size. Compaction matters where a date was written as several files
(batches of ONE_FILE_PER_DATE_ROWS rows or more keep Spark's split, and other writers may add
small files); a partition that is one file already is left as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import SparkSession

from clicklake import lake
from clicklake.config import spark_uri
from clicklake.tables import all_tables, table

# Delta's own default: readers that started before a commit, and time travel to last week's
# versions, need the files that long.
DEFAULT_RETAIN_HOURS = 168
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


@dataclass
class TableMaintenance:
    name: str
    live_files: int  # files of the current version, after compaction
    compacted_removed: int
    compacted_added: int
    stored_before: int  # data files in storage, before vacuum
    stored_after: int

    def line(self) -> str:
        return (f"{self.name}: compacted {self.compacted_removed} file(s) into {self.compacted_added}; "
                f"{self.live_files} live file(s); storage {self.stored_before} -> {self.stored_after} data file(s)")


def stored_data_files(spark: SparkSession, name: str, lake_root: str) -> int:
    """Data files under the table's folder, referenced or not (the Delta log is not counted)."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(spark_uri(table(name).path(lake_root)))
    files = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).listFiles(root, True)
    count = 0
    while files.hasNext():
        path = files.next().getPath().toString()
        count += "/_delta_log/" not in path and path.endswith(".parquet")
    return count


def maintain_table(spark: SparkSession, name: str, lake_root: str, start: dt.date, end: dt.date,
                   retain_hours: int = DEFAULT_RETAIN_HOURS, full_vacuum: bool = False) -> TableMaintenance | None:
    """Compact the table's date partitions in [start, end], then vacuum it; None if it does not exist.

    The vacuum is LITE by default: it finds the files to delete in the Delta log (the files commits
    removed) instead of listing the table's storage, ~2 s a table here against ~20 s. A FULL vacuum
    also finds files no commit ever named (a writer that died before its commit); run it now and
    then (`clicklake maintain --full-vacuum`), and whenever LITE says the log no longer reaches back
    far enough."""
    from delta.tables import DeltaTable

    spec = table(name)
    if not lake.is_delta_table(spark, spec.path(lake_root)):
        return None
    target = spark_uri(spec.path(lake_root))
    delta = DeltaTable.forPath(spark, target)
    metrics = (delta.optimize().where(lake.date_range_predicate(spec.partition_by, start, end))
               .executeCompaction().select("metrics.numFilesRemoved", "metrics.numFilesAdded").first())
    stored_before = stored_data_files(spark, name, lake_root)
    mode = "FULL" if full_vacuum else "LITE"
    spark.sql(f"VACUUM delta.`{target}` RETAIN {int(retain_hours)} HOURS {mode}").collect()
    return TableMaintenance(
        name=name,
        live_files=delta.detail().select("numFiles").first()[0],
        compacted_removed=metrics["numFilesRemoved"],
        compacted_added=metrics["numFilesAdded"],
        stored_before=stored_before,
        stored_after=stored_data_files(spark, name, lake_root),
    )


def maintain(spark: SparkSession, lake_root: str, day: dt.date, days: int = 7,
             retain_hours: int = DEFAULT_RETAIN_HOURS, full_vacuum: bool = False,
             names: list[str] | None = None) -> list[TableMaintenance]:
    """The lake's tables (`names`, default all): compaction of the `days` dates up to `day`, then vacuum.

    A retention below Delta's default of 7 days is refused by Delta unless its check is turned off;
    it is, for this call only, when asked for explicitly (a reader or writer running meanwhile
    that still needs a deleted file would fail)."""
    start = day - dt.timedelta(days=days - 1)
    previous = spark.conf.get(RETENTION_CHECK, "true")
    if retain_hours < DEFAULT_RETAIN_HOURS:
        spark.conf.set(RETENTION_CHECK, "false")
    try:
        reports = [maintain_table(spark, name, lake_root, start, day, retain_hours, full_vacuum) for name in sorted(names or all_tables())]
    finally:
        spark.conf.set(RETENTION_CHECK, previous)
    return [r for r in reports if r is not None]
