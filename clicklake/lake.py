"""Thin read/write helpers for the Delta tables. Every function here does I/O.

Write-audit-publish: a layer's write step stores the run's rows of each table as a staged Delta
table under `<lake>/_staging/run_date=D/<layer>/<table>`; the audit step validates the staged
tables (the gate) and records its verdict in quality.validation_results; the publish step replaces
the same date range of each published table with the staged rows in one Delta commit
(`replaceWhere`; a large batch of one date by committing its staged files, publish_staged_files),
but only for a staged version whose gate passed, then drops the staging.
Readers never see a half-written or unvalidated day, and a batch that failed its gate stays in
staging for inspection.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicklake import storage
from clicklake.config import LARGE_BATCH_ROWS, S3Settings, is_s3, spark_uri
from clicklake.spark import is_remote, jobs_named
from clicklake.tables import Table, conform, table


def date_range_predicate(column: str, start: dt.date, end: dt.date) -> str:
    return f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"


DELTA_LOG_ENTRY = re.compile(r"^_delta_log/\d{20}\.(json|checkpoint\b)")


def is_delta_table(spark: SparkSession, path: str) -> bool:
    if is_remote(spark):
        # Delta's Python API needs a JVM in this process (no delta-connect release for Delta 4.4):
        # a table is a log holding a commit or a checkpoint (not just a leftover temporary file).
        return any(DELTA_LOG_ENTRY.match(key) for key in storage.open_location(path).list("_delta_log/"))
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, spark_uri(path))


DELTA_COMMIT_FILE = re.compile(r"^_delta_log/(\d{20})\.json$")


def commit_info(path: str, version: int | None = None) -> dict:
    """A commit of the table at `path` (a lake path or its Spark URI; the newest by default), read
    from its file in the log: {"version", "userMetadata", "operationMetrics", ...}, named as
    DESCRIBE HISTORY names them.

    Read with the object store's client, not with Spark: DESCRIBE HISTORY is a Spark job (~0.2 s
    through Spark Connect), and an Airflow task asked it for every staged table it read and every
    version it wrote (publish: 17 times). Log cleanup never removes the newest commit's file; an
    older version's is there for delta.logRetentionDuration (30 days), far longer than a run."""
    location = storage.open_location(path)
    if version is None:
        versions = [int(m.group(1)) for m in map(DELTA_COMMIT_FILE.match, location.list("_delta_log/")) if m]
        if not versions:
            raise FileNotFoundError(f"no Delta commit in {path}/_delta_log")
        version = max(versions)
    actions = (json.loads(line) for line in location.get(f"_delta_log/{version:020d}.json").decode().splitlines() if line)
    info = next((action["commitInfo"] for action in actions if "commitInfo" in action), {})
    return {"userMetadata": None, "operationMetrics": None, **info, "version": version}


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
    return with_added_columns(df, name).where(date_range_predicate(spec.partition_by, start, end))


def with_added_columns(df: DataFrame, name: str) -> DataFrame:
    """A published table written before columns were added to its schema, with those columns as
    nulls; publish then adds them to the table (mergeSchema). Only additions evolve this way: a
    renamed or retyped column is a migration, and conform() raises on it."""
    missing = [f for f in table(name).schema.fields if f.name not in df.columns]
    return df.withColumns({f.name: F.lit(None).cast(f.dataType) for f in missing}) if missing else df


class LakeView:
    """What a run's write step reads: the published tables, except that a staged batch of the same
    run which passed its gate (`overlays`: name -> (batch, start, end)) stands in for the date range
    it is about to replace. Layers of one run thus build on each other before anything is published."""

    def __init__(self, spark: SparkSession, lake: str, overlays: dict | None = None):
        self.spark, self.lake, self.overlays = spark, lake, overlays or {}

    def range(self, name: str, start: dt.date, end: dt.date) -> DataFrame:
        published = read_published_range(self.spark, name, self.lake, start, end)
        if name not in self.overlays:
            return published
        staged, staged_start, staged_end = self.overlays[name]
        column = table(name).partition_by
        replaced = date_range_predicate(column, staged_start, staged_end)
        return published.where(f"NOT ({replaced})").unionByName(
            conform(staged, name).where(date_range_predicate(column, start, end)))


# Below this many rows a batch is written as one file per date; larger batches keep Spark's split.
ONE_FILE_PER_DATE_ROWS = LARGE_BATCH_ROWS

# A staged batch of one date whose files average this size or more is published as its files
# whatever its rows: written again as one file per date, it is read whole and written by a single
# task while the other cores idle (1.39M tag events, 212 MB: 41 s of a 2M-record day's publish,
# 26 s of it in that one task; 2026-12-02). Files this large gain nothing from being merged.
PUBLISH_FILES_FROM_MEAN_BYTES = 16 * 2**20


def publish(spark: SparkSession, batch: DataFrame, name: str, lake: str, start: dt.date, end: dt.date, rows: int | None = None,
            staged_version: int | None = None, files_from_rows: int | None = None, s3: S3Settings | None = None,
            run_date: dt.date | None = None) -> int:
    """Replace [start, end] of the published table with the batch, in one Delta commit.

    Delta rejects the commit if a row of the batch falls outside the range. Returns the new version.
    staged_version: the batch is that version of the staged table of `run_date` (None: kept in memory);
    one of a single date and `files_from_rows` rows or more, or in files of
    PUBLISH_FILES_FROM_MEAN_BYTES on average, is published as its files (publish_staged_files)
    when they can be taken as they are (files_from_rows None: never).
    """

    spec = table(name)
    target = spark_uri(spec.path(lake))
    batch = conform(batch, name)
    commit = (staged_commit(name, lake, run_date, staged_version, s3)
              if staged_version is not None and run_date is not None and files_from_rows is not None and start == end else None)
    if commit is not None and ((rows is not None and rows >= files_from_rows) or files_are_large(commit)):
        if not is_delta_table(spark, spec.path(lake)):
            with jobs_named(spark, f"publish {name}: create the table"):
                _create(spark, batch.limit(0), spec, target)  # its schema, properties and comment; no rows
        version = publish_staged_files(name, lake, run_date, start, staged_version, commit, s3)
        if version is not None:
            return version
    if rows is not None and rows < ONE_FILE_PER_DATE_ROWS:
        batch = batch.repartition(spec.partition_by)  # few, larger files: cheaper to write and to read
    writer = batch.write.format("delta").partitionBy(spec.partition_by)
    with jobs_named(spark, f"publish {name} {start}..{end}"):
        if is_delta_table(spark, spec.path(lake)):
            (writer.mode("overwrite").option("replaceWhere", date_range_predicate(spec.partition_by, start, end))
             .option("mergeSchema", "true").save(target))
        else:
            _create(spark, batch, spec, target)
        return version_just_committed(spark, target)


def _create(spark: SparkSession, rows: DataFrame, spec: Table, target: str) -> None:
    rows.write.format("delta").partitionBy(spec.partition_by).mode("error").options(**_statistics(spec)).save(target)
    _describe(spark, spec, target)


def _delta_rs_options(location: str, s3: S3Settings | None) -> dict[str, str] | None:
    if not is_s3(location):
        return None
    from clicklake.duck import storage_options

    # delta-rs wants a lock or conditional writes to commit on S3; as Spark's own S3 log store it
    # assumes one writer per table at a time, which the DAG guarantees (one run at a time).
    return {**storage_options(s3 or S3Settings.from_env()), "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def _columns(schema_json: str) -> list[tuple[str, str]]:
    return [(f["name"], json.dumps(f["type"], sort_keys=True)) for f in json.loads(schema_json)["fields"]]


def staged_commit(name: str, lake: str, run_date: dt.date, staged_version: int, s3: S3Settings | None = None) -> list[dict]:
    """The actions of one commit of the run's staged table (its Delta log entry)."""
    log = storage.open_location(staging_path(name, lake, run_date), s3).get(f"_delta_log/{staged_version:020d}.json")
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def files_are_large(commit: list[dict]) -> bool:
    """Whether the files a commit (staged_commit) added average PUBLISH_FILES_FROM_MEAN_BYTES or more."""
    sizes = [a["add"]["size"] for a in commit if "add" in a]
    return bool(sizes) and sum(sizes) >= PUBLISH_FILES_FROM_MEAN_BYTES * len(sizes)


def publish_staged_files(name: str, lake: str, run_date: dt.date, day: dt.date, staged_version: int,
                         commit: list[dict], s3: S3Settings | None = None) -> int | None:
    """Publish a staged version (of the run of `run_date`) holding the rows of one date `day` by its
    files: copy them into the table's folder and commit them there in place of the date's files,
    one Delta commit (delta-rs: Spark's Delta has no public API to commit files it did not just
    write); `commit` is that staged version's log entry (staged_commit). Returns the new version,
    or None when the files cannot be taken as they are (no table yet, columns that differ from the
    table's, a staged commit that is not a whole batch, files of the batch already in the table
    beside others): then publish writes the rows as before.
    A retry after a publish that stopped half way is safe: a copy already made is made again, and
    a batch whose files are the date's files already is published (its version is returned).

    A copy moves bytes without decoding and encoding them: publishing a day of 10M records took
    54 s instead of 134 s, most of which had gone to its four largest tables (2026-12-01)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError
    from deltalake.transaction import AddAction

    spec = table(name)
    target, staged = spec.path(lake), staging_path(name, lake, run_date)
    options = _delta_rs_options(target, s3)

    the_date = [(spec.partition_by, "=", day.isoformat())]

    def rewrite(why: str) -> None:
        print(f"publish: {name} of {day} is written again, not published as its staged files: {why}", flush=True)

    def file_names_of_the_date(delta: DeltaTable) -> set[str]:
        return {uri.rsplit("/", 1)[-1] for uri in delta.file_uris(file_pruning_predicate=the_date)}

    try:
        published = DeltaTable(target, storage_options=options)
    except TableNotFoundError:
        return rewrite("no table yet")
    staged_table = DeltaTable(staged, storage_options=options, version=staged_version)
    if (sorted(_columns(staged_table.schema().to_json())) != sorted(_columns(published.schema().to_json()))
            or staged_table.metadata().partition_columns != published.metadata().partition_columns):
        return rewrite("its columns differ from the table's")
    info = next((a["commitInfo"] for a in commit if "commitInfo" in a), {})
    parameters = info.get("operationParameters", {})
    if info.get("operation") != "WRITE" or parameters.get("mode") != "Overwrite" or parameters.get("predicate"):
        return rewrite(f"staged version {staged_version} is not one whole batch")  # stage() overwrites the staged table
    files = [a["add"] for a in commit if "add" in a]
    if any(f["partitionValues"].get(spec.partition_by) != day.isoformat() for f in files):
        return rewrite(f"staged rows outside {day}")
    # File names carry a unique id: the date's files named as the batch's are the batch's.
    names = {unquote(f["path"]).rsplit("/", 1)[-1] for f in files}
    current = file_names_of_the_date(published)
    if names and names == current:
        return published.version()  # a retry: the commit had landed
    if names & current:
        return rewrite("some of its files are in the table already, beside others")
    storage.copy_files(staged, target, [f["path"] for f in files], s3)
    try:
        published.create_write_transaction(
            [AddAction(path=f["path"], size=f["size"], partition_values=f["partitionValues"], modification_time=f["modificationTime"],
                       data_change=True, stats=f.get("stats")) for f in files],
            mode="overwrite", schema=published.schema(), partition_by=[spec.partition_by],
            partition_filters=the_date,
        )
    except Exception:
        # Copies no commit names would stay until a full VACUUM, which runs only when asked for.
        # They go unless the commit landed after all (an error on its answer): then they are the date's.
        if not names & file_names_of_the_date(DeltaTable(target, storage_options=options)):
            storage.delete_files(target, [f["path"] for f in files], s3)
        raise
    published.update_incremental()
    return published.version()


# The table property that keeps Delta from collecting any column statistics (row counts stay).
NO_COLUMN_STATISTICS = {"delta.dataSkippingNumIndexedCols": "0"}


def _statistics(spec: Table) -> dict[str, str]:
    """Table properties that choose the columns Delta keeps statistics for (Table.stats_columns)."""
    if spec.stats_columns:
        return {"delta.dataSkippingStatsColumns": ",".join(spec.stats_columns)}
    return NO_COLUMN_STATISTICS


def version_just_committed(spark: SparkSession, target: str) -> int:
    """The version of the commit this process just made to the table at `target` (a Spark URI).

    The JVM's Delta log holds the snapshot its own commit produced, so this needs no Spark job,
    where DeltaTable.history runs one (~0.3 s, twice per table and run: seconds a run). It stays
    the version of our commit even when another process commits right after. A Spark Connect
    client has no JVM of its own to ask, and reads the table's newest commit: ours on a staged
    table (the run of its date is its only writer; the gate's verdict is tied to this version),
    and on a published table unless another writer committed in between (publish only reports it)."""
    if is_remote(spark):
        return commit_info(target)["version"]
    jvm = spark.sparkContext._jvm
    return jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, target).unsafeVolatileSnapshot().version()


def _describe(spark: SparkSession, spec: Table, target: str) -> None:
    """Table comment for SQL tools; column comments travel in the schema metadata."""
    description = spec.description.replace("'", "''")
    spark.sql(f"ALTER TABLE delta.`{target}` SET TBLPROPERTIES ('comment' = '{description}')")


def staging_root(lake: str, run_date: dt.date) -> str:
    """The staging area of the run of a date: its staged tables and a cluster's checkpoints."""
    return f"{lake}/_staging/run_date={run_date.isoformat()}"


def staging_path(name: str, lake: str, run_date: dt.date) -> str:
    spec = table(name)
    return f"{staging_root(lake, run_date)}/{spec.layer}/{spec.short_name}"


# Staged tables this process wrote or read, by location. A small batch this process staged with
# stage() is kept as the frame it wrote (the caller passes rows cut from their lineage, see
# pipeline.write): the gate, the next layer and publish then read those rows without reading the
# staged table back. Larger batches, and every batch stage_computing() wrote, are read back from
# the staged table: that survives the loss of an executor, which rows held by one executor do not.
# Another process (each Airflow task is one) reads the staged table.
_staged: dict[str, "Staged"] = {}

KEEP_STAGED_ROWS = 1_000_000


def stage(batch: DataFrame, name: str, lake: str, run_date: dt.date, rows: int) -> int:
    """Store a batch of `rows` rows as the staged table of the run; returns its Delta version.

    Up to KEEP_STAGED_ROWS rows, the batch must be computed already (checkpointed): this process
    goes on reading it as the staged batch, so it must not change between the write and the gate."""
    # The row count rides in the commit, so the gate (often another process) need not recount.
    target, version = _write_staged(batch, name, lake, run_date, {"rows": rows})
    spark = batch.sparkSession
    kept = batch if rows <= KEEP_STAGED_ROWS else _read_version(spark, target, version)
    _staged[target] = Staged(kept, version, rows)
    return version


def stage_computing(batch: DataFrame, name: str, lake: str, run_date: dt.date) -> "Staged":
    """Store a batch that is still a plan as the staged table of the run, computing it in the
    write; returns the staged table read back at that version, with the rows the write counted.

    For an output that its job reads again: held as a checkpoint first, its rows were serialized
    to the driver's disk and read back whole for this same write and again by each later reader,
    where the staged files give a reader only the columns it asks for."""
    target, version = _write_staged(batch, name, lake, run_date, None)
    spark = batch.sparkSession
    commit = commit_info(target, version)
    batch = _read_version(spark, target, version)
    staged = Staged(batch, version, rows_committed(commit, batch))
    _staged[target] = staged
    return staged


def _write_staged(batch: DataFrame, name: str, lake: str, run_date: dt.date, metadata: dict | None) -> tuple[str, int]:
    """Overwrite the run's staged table with the batch; returns its location and new version."""
    spec = table(name)
    target = spark_uri(staging_path(name, lake, run_date))
    spark = batch.sparkSession
    # The schema is the batch's own: the gate must see a batch that lost a column, not a conformed one.
    # The published table's column statistics: publish may commit these very files to it.
    writer = (batch.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
              .options(**_statistics(spec)).partitionBy(spec.partition_by))
    if metadata is not None:
        writer = writer.option("userMetadata", json.dumps(metadata))
    with jobs_named(spark, f"stage {name} {run_date}"):
        writer.save(target)
        return target, version_just_committed(spark, target)


def _read_version(spark: SparkSession, target: str, version: int) -> DataFrame:
    return spark.read.format("delta").option("versionAsOf", version).load(target)


def rows_committed(commit, batch: DataFrame) -> int:
    """Rows of a staged table's commit (commit_info) holding `batch`: the count stage()
    wrote in its metadata, else the rows Delta counted in the write, else (Delta's metrics off)
    the batch counted."""
    if commit["userMetadata"]:
        return json.loads(commit["userMetadata"])["rows"]
    written = (commit["operationMetrics"] or {}).get("numOutputRows")
    return int(written) if written is not None else batch.count()


def keep_staged(batch: DataFrame, name: str, lake: str, run_date: dt.date, rows: int) -> None:
    """Hold a computed batch (checkpointed, up to KEEP_STAGED_ROWS rows) as the run's staged batch
    in this process only, without writing it: a run of every step in one process reads it from
    here for the gate, the next layer and publish, and stores it (stage) only if a gate fails.
    It has no version (None): no other process can mistake it for a staged table it reads."""
    _staged[spark_uri(staging_path(name, lake, run_date))] = Staged(batch, None, rows)


def kept_staged(name: str, lake: str, run_date: dt.date) -> "Staged | None":
    """The batch keep_staged holds for the table and run, if any."""
    found = _staged.get(spark_uri(staging_path(name, lake, run_date)))
    return found if found is not None and found.version is None else None


@dataclass(frozen=True)
class Staged:
    batch: DataFrame
    version: int | None  # None: kept in this process only (keep_staged), never written
    rows: int


def forget_staged() -> None:
    """Let go of the staged batches this process holds; later reads come from the staged tables."""
    _staged.clear()


def read_staged(spark: SparkSession, name: str, lake: str, run_date: dt.date) -> Staged | None:
    """The staged batch of a run, or None when nothing is staged."""
    path = staging_path(name, lake, run_date)
    if spark_uri(path) in _staged:
        return _staged[spark_uri(path)]
    try:
        last = commit_info(path)  # its listing of the log also tells whether a table is there
    except FileNotFoundError:
        return None
    batch = _read_version(spark, spark_uri(path), last["version"])
    _staged[spark_uri(path)] = Staged(batch, last["version"], rows_committed(last, batch))
    return _staged[spark_uri(path)]


def checkpoint_path(lake: str, run_date: dt.date, layer: str) -> str:
    """Where a layer run on a cluster keeps the rows of its intermediate frames until it ends."""
    return f"{staging_root(lake, run_date)}/_checkpoints/{layer}"


def delete_tree(spark: SparkSession, location: str) -> None:
    """Delete a folder and everything under it, through Hadoop's file system (local or s3a)."""
    if is_remote(spark):
        storage.delete_tree(location)
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(spark_uri(location))
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


def drop_staged(spark: SparkSession, name: str, lake: str, run_date: dt.date) -> None:
    """Delete a published run's staged table."""
    _staged.pop(spark_uri(staging_path(name, lake, run_date)), None)
    delete_tree(spark, staging_path(name, lake, run_date))


def replace_rows(spark: SparkSession, rows: DataFrame, name: str, lake: str, predicate: str) -> None:
    """Replace the rows matching `predicate` with `rows` in one commit (small bookkeeping tables)."""
    spec = table(name)
    target = spark_uri(spec.path(lake))
    writer = conform(rows, name).coalesce(1).write.format("delta").partitionBy(spec.partition_by)
    if is_delta_table(spark, spec.path(lake)):
        writer.mode("overwrite").option("replaceWhere", predicate).save(target)
    else:
        writer.mode("error").save(target)
        _describe(spark, spec, target)


def delta_version(spark: SparkSession, name: str, lake: str) -> int | None:
    try:
        return commit_info(table(name).path(lake))["version"]
    except FileNotFoundError:
        return None


def empty_like(spark: SparkSession, name: str) -> DataFrame:
    return spark.createDataFrame([], table(name).schema)


def lit_date(value: dt.date):
    return F.lit(value.isoformat()).cast("date")
