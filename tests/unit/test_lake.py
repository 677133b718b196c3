"""A lake written by an earlier version keeps working when the schema gains a column; runs of
different dates may publish to the same table at once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from clicklake import lake
from clicklake.spark import jobs_named
from clicklake.tables import conform, table

D1, D2 = dt.date(2026, 3, 3), dt.date(2026, 3, 4)


def _hits(spark, day: dt.date, country: str | None):
    row = {f.name: None for f in table("silver.hits").schema.fields}
    row.update(site="shop.example", hit_id=f"h-{day}", ts=dt.datetime(day.year, day.month, day.day, 10), event_date=day,
               visitor_id="v", visitor_id_type="cookie", source="tag", path="/", device_type="desktop", country=country)
    return conform(spark.createDataFrame([row], table("silver.hits").schema), "silver.hits")


def test_a_table_without_a_new_column_is_read_with_nulls_and_gains_it_on_publish(spark, tmp_path):
    root = str(tmp_path / "lake")
    older = _hits(spark, D1, None).drop("country")
    older.write.format("delta").partitionBy("event_date").save(table("silver.hits").path(root))

    before = lake.read_published_range(spark, "silver.hits", root, D1, D1)
    assert before.columns == table("silver.hits").column_names
    assert [r["country"] for r in before.collect()] == [None]

    lake.publish(spark, _hits(spark, D2, "GB"), "silver.hits", root, D2, D2, rows=1)
    after = spark.read.format("delta").load(table("silver.hits").path(root))
    assert "country" in after.columns
    assert sorted((str(r["event_date"]), r["country"]) for r in after.select("event_date", "country").collect()) == [
        ("2026-03-03", None), ("2026-03-04", "GB")]
    assert after.where(F.col("event_date") == D1).count() == 1


def test_runs_of_different_dates_publishing_at_once_each_keep_their_rows(spark, tmp_path):
    """What two runs of different dates (Airflow tasks, backfills) do when they publish to one
    table at the same moment: Delta lets each replaceWhere commit, because each touches only its
    own date partitions, and every date holds exactly its run's rows afterwards."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    root = str(tmp_path / "lake")
    lake.publish(spark, _hits(spark, D1, "FR"), "silver.hits", root, D1, D1, rows=1)
    before = lake.delta_version(spark, "silver.hits", root)
    days = [D1 + dt.timedelta(days=k) for k in range(1, 5)]
    batches = {day: _hits(spark, day, "GB") for day in days}
    start = threading.Barrier(len(days))

    def publish(day):
        start.wait()
        return lake.publish(spark, batches[day], "silver.hits", root, day, day, rows=1)

    with ThreadPoolExecutor(len(days)) as pool:
        list(pool.map(publish, days))

    path = table("silver.hits").path(root)
    rows = spark.read.format("delta").load(path).select("event_date", "hit_id", "country").collect()
    assert sorted((str(r["event_date"]), r["hit_id"], r["country"]) for r in rows) == [
        (str(D1), f"h-{D1}", "FR"), *[(str(day), f"h-{day}", "GB") for day in days]]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").where(f"version > {before}").select("version", "readVersion").collect()
    assert sorted(r["version"] for r in history) == [before + k for k in range(1, len(days) + 1)], "one commit per run"
    # The commits really raced: at least one was made on top of a version it had not read.
    assert any(r["readVersion"] < r["version"] - 1 for r in history), history


def test_jobs_named_names_the_jobs_inside_and_gives_back_the_name_it_found(spark):
    """A block names the jobs started in it; after it, also after an error, the name it found is back
    (a layer's write names its jobs, and each materialized frame its own inside)."""
    context = spark.sparkContext
    context.setJobDescription("silver write 2026-03-03")
    try:
        with jobs_named(spark, "silver write 2026-03-03: tag_events.py:157 tag_silver"):
            assert context.getLocalProperty("spark.job.description").endswith("tag_silver")
            with pytest.raises(ZeroDivisionError), jobs_named(spark, "publish silver.hits"):
                1 / 0
            assert context.getLocalProperty("spark.job.description").endswith("tag_silver")
        assert context.getLocalProperty("spark.job.description") == "silver write 2026-03-03"
    finally:
        context.setJobDescription(None)
    assert context.getLocalProperty("spark.job.description") is None


def _file_statistics(path: str) -> list[dict]:
    """The statistics of every file the table's commits added, as Delta wrote them in its log."""
    stats = []
    for commit in sorted(Path(path, "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                stats.append(json.loads(action["add"]["stats"]))
    return stats


def test_published_and_staged_tables_keep_statistics_of_their_number_and_time_columns_only(spark, tmp_path):
    """Staged the same as published: publish may commit a staged batch's files to the table."""
    root = str(tmp_path / "lake")
    lake.publish(spark, _hits(spark, D1, "FR"), "silver.hits", root, D1, D1, rows=1)
    published = table("silver.hits").path(root)
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{published}`").first()["properties"]
    assert properties["delta.dataSkippingStatsColumns"] == "ts,engaged_time_s"
    [stats] = _file_statistics(published)
    assert stats["numRecords"] == 1 and set(stats["minValues"]) == set(stats["maxValues"]) == {"ts"}  # engaged_time_s is null

    lake.stage(_hits(spark, D2, "GB").localCheckpoint(), "silver.hits", root, D2, rows=1)
    [staged] = _file_statistics(lake.staging_path("silver.hits", root, D2))
    assert staged["numRecords"] == 1 and set(staged["minValues"]) == set(staged["maxValues"]) == {"ts"}


def test_columns_of_unique_values_are_written_without_a_dictionary_and_the_others_with_one(spark, tmp_path):
    """The session's Parquet settings reach the files a stage writes: ids and times plain, the
    repeated values (site, path, device type) dictionary-encoded. Every column the setting names
    is a column of some table (a renamed column would silently lose it)."""
    import pyarrow.parquet as pq

    from clicklake.tables import UNIQUE_VALUED_COLUMNS, all_tables

    named = {c for spec in all_tables().values() for c in spec.column_names}
    assert set(UNIQUE_VALUED_COLUMNS) <= named, set(UNIQUE_VALUED_COLUMNS) - named
    root = str(tmp_path / "lake")
    # 500 hits of one visitor on one page: a dictionary pays off for a value that repeats.
    many = (_hits(spark, D1, "GB").crossJoin(spark.range(500).withColumnRenamed("id", "n"))
            .withColumn("hit_id", F.concat(F.lit("h-"), F.col("n").cast("string")))
            .withColumn("ts", F.col("ts") + F.make_dt_interval(secs=F.col("n"))).drop("n"))
    lake.stage(conform(many, "silver.hits").coalesce(1).localCheckpoint(), "silver.hits", root, D1, rows=500)
    [path] = Path(lake.staging_path("silver.hits", root, D1)).rglob("*.parquet")
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {row_group.column(i).path_in_schema: row_group.column(i).encodings for i in range(row_group.num_columns)}
    dictionary = {column for column, used in encodings.items() if any("DICTIONARY" in e for e in used)}
    assert {"hit_id", "ts", "visitor_id"}.isdisjoint(dictionary), encodings
    assert {"site", "path", "device_type"} <= dictionary, encodings


def test_a_retried_publish_of_staged_files_holds_the_batch_once(spark, tmp_path):
    """A publish by files retried after an attempt that stopped once it had copied the files, and
    again after one that committed them: the copies are made again, then the batch is found
    published (no second commit), and the date holds the batch's rows once."""
    from deltalake import DeltaTable

    from clicklake import storage

    root = str(tmp_path / "lake")
    target = table("silver.hits").path(root)
    lake.publish(spark, _hits(spark, D1, "FR"), "silver.hits", root, D1, D1, rows=1)
    batch = _hits(spark, D1, "GB").localCheckpoint()
    version = lake.stage(batch, "silver.hits", root, D1, rows=1)
    staged = lake.staging_path("silver.hits", root, D1)
    commit = [json.loads(line) for line in (Path(staged) / "_delta_log" / f"{version:020d}.json").read_text().splitlines()]
    storage.copy_files(staged, target, [a["add"]["path"] for a in commit if "add" in a])  # the attempt that stopped

    def publish_by_files():
        return lake.publish(spark, batch, "silver.hits", root, D1, D1, rows=1, staged_version=version, files_from_rows=0, run_date=D1)

    first = publish_by_files()
    assert publish_by_files() == first == lake.delta_version(spark, "silver.hits", root)
    assert "delta-rs" in (DeltaTable(target).history(1)[0].get("clientVersion") or "")
    rows = spark.read.format("delta").load(target).select("event_date", "country").collect()
    assert [(r["event_date"], r["country"]) for r in rows] == [(D1, "GB")]


PUBLISH_BY_FILES_CASES = [
    # description, files_from_rows, PUBLISH_FILES_FROM_MEAN_BYTES -> the writer of the published commit
    pytest.param(10, 2**40, "Apache-Spark", id="few rows in small files: written again as one file per date"),
    pytest.param(1, 2**40, "delta-rs", id="rows from files_from_rows on: published as its files"),
    pytest.param(10, 1, "delta-rs", id="few rows in files of the mean size or more: published as its files"),
    pytest.param(None, 1, "Apache-Spark", id="files_from_rows None: never by files, whatever their size"),
]


@pytest.mark.parametrize("files_from_rows, mean_bytes, writer", PUBLISH_BY_FILES_CASES)
def test_a_staged_batch_is_published_by_files_when_it_has_the_rows_or_its_files_the_size(
        spark, tmp_path, monkeypatch, files_from_rows, mean_bytes, writer):
    from deltalake import DeltaTable

    monkeypatch.setattr(lake, "PUBLISH_FILES_FROM_MEAN_BYTES", mean_bytes)
    root = str(tmp_path / "lake")
    lake.publish(spark, _hits(spark, D1, "FR"), "silver.hits", root, D1, D1, rows=1)
    batch = _hits(spark, D1, "GB").localCheckpoint()
    version = lake.stage(batch, "silver.hits", root, D1, rows=1)
    lake.publish(spark, batch, "silver.hits", root, D1, D1, rows=1, staged_version=version, files_from_rows=files_from_rows,
                 run_date=D1)
    target = table("silver.hits").path(root)
    last = DeltaTable(target).history(1)[0]
    assert writer in (last.get("clientVersion") or last.get("engineInfo", "")), last
    rows = spark.read.format("delta").load(target).select("event_date", "country").collect()
    assert [(r["event_date"], r["country"]) for r in rows] == [(D1, "GB")]


FAILED_COMMIT_CASES = [
    pytest.param(False, id="the commit failed: the copies are deleted, the date keeps its rows"),
    pytest.param(True, id="the commit landed, then its answer failed: the copies are the date's files and stay"),
]


@pytest.mark.parametrize("landed", FAILED_COMMIT_CASES)
def test_a_failed_commit_of_staged_files_leaves_no_copy_behind_unless_it_landed(spark, tmp_path, monkeypatch, landed):
    """The commit of a publish by files is made to fail (the one fake here: delta-rs' commit call):
    the error reaches the caller, and the table's folder holds exactly the files its log names,
    so no copy waits for a full VACUUM; a retry then publishes the batch."""
    from deltalake import DeltaTable

    root = str(tmp_path / "lake")
    target = table("silver.hits").path(root)
    lake.publish(spark, _hits(spark, D1, "FR"), "silver.hits", root, D1, D1, rows=1)
    batch = _hits(spark, D1, "GB").localCheckpoint()
    version = lake.stage(batch, "silver.hits", root, D1, rows=1)
    real_commit = DeltaTable.create_write_transaction

    def failing_commit(self, *args, **kwargs):
        if landed:
            real_commit(self, *args, **kwargs)
        raise OSError("connection reset while committing")

    monkeypatch.setattr(DeltaTable, "create_write_transaction", failing_commit)
    with pytest.raises(OSError, match="connection reset"):
        lake.publish(spark, batch, "silver.hits", root, D1, D1, rows=1, staged_version=version, files_from_rows=0, run_date=D1)
    in_folder = {p.relative_to(target).as_posix() for p in Path(target).rglob("*.parquet") if not p.name.startswith(".")}
    logged = {Path(uri).relative_to(target).as_posix() for uri in DeltaTable(target).file_uris()}
    removed = {Path(uri).relative_to(target).as_posix() for uri in DeltaTable(target, version=0).file_uris()} - logged
    assert in_folder == logged | removed, "only files a commit named are in the table's folder"
    assert {r["country"] for r in spark.read.format("delta").load(target).collect()} == ({"GB"} if landed else {"FR"})

    monkeypatch.setattr(DeltaTable, "create_write_transaction", real_commit)
    lake.publish(spark, batch, "silver.hits", root, D1, D1, rows=1, staged_version=version, files_from_rows=0, run_date=D1)
    assert [r["country"] for r in spark.read.format("delta").load(target).collect()] == ["GB"]


def test_a_batch_staged_while_computed_counts_its_rows_in_the_commit(spark, tmp_path):
    """stage_computing writes a plan (nothing computed before): the staged table holds its rows,
    the write's own count is the batch's row count, here and for another process reading the
    staged table (no count of ours rides in the commit), and the batch is read back from it."""
    root = str(tmp_path / "lake")
    days = [D1] * 3 + [D2] * 2
    plan = spark.range(len(days)).select(
        F.concat(F.lit("h-"), F.col("id").cast("string")).alias("hit_id"),
        F.element_at(F.array(*[F.lit(d) for d in days]), (F.col("id") + 1).cast("int")).alias("event_date"))
    batch = conform(plan.join(_hits(spark, D1, "GB").drop("hit_id", "event_date"), how="cross"), "silver.hits")

    staged = lake.stage_computing(batch, "silver.hits", root, D1)
    assert staged.rows == 5
    plan = staged.batch._jdf.queryExecution().executedPlan().toString()
    assert "FileScan parquet" in plan and "Range" not in plan, f"read back from the staged table, not computed again: {plan}"
    assert sorted(r["hit_id"] for r in staged.batch.collect()) == [f"h-{i}" for i in range(5)]
    lake.forget_staged()  # as another process (the gate's Airflow task) finds it
    found = lake.read_staged(spark, "silver.hits", root, D1)
    assert (found.version, found.rows) == (staged.version, 5)
    commit = spark.sql(f"DESCRIBE HISTORY delta.`{lake.staging_path('silver.hits', root, D1)}`").first()
    assert commit["userMetadata"] is None, "the count read is Delta's own"


def test_a_commit_read_from_the_log_is_the_one_delta_describes(spark, tmp_path):
    """commit_info reads the log's files where DESCRIBE HISTORY runs a Spark job: the same version,
    metadata and metrics, also past a checkpoint (one every 3 commits here, 10 by default)."""
    target = str(tmp_path / "table")
    for k in range(5):
        writer = spark.range(k + 1).write.format("delta").mode("overwrite")
        if k == 0:
            writer = writer.option("delta.checkpointInterval", "3")
        if k % 2:
            writer = writer.option("userMetadata", json.dumps({"rows": k + 1}))
        writer.save(target)
    assert (tmp_path / "table" / "_delta_log" / "00000000000000000003.checkpoint.parquet").is_file()
    history = {r["version"]: r for r in spark.sql(f"DESCRIBE HISTORY delta.`{target}`").collect()}
    for asked, expected in ((None, 4), (0, 0), (2, 2), (3, 3), (4, 4)):
        got, want = lake.commit_info(target, asked), history[expected]
        assert (got["version"], got["userMetadata"], got["operationMetrics"]) == \
            (want["version"], want["userMetadata"], want["operationMetrics"]), asked
        assert lake.rows_committed(got, None) == expected + 1
    with pytest.raises(FileNotFoundError, match="no Delta commit"):
        lake.commit_info(str(tmp_path / "not-a-table"))
