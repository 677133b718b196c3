"""Table maintenance (`clicklake maintain`, the clickstream_maintenance DAG): compaction and vacuum
keep every table's rows and leave in storage only the files the current version reads."""

from __future__ import annotations

import datetime as dt

from lakes import D, OUT_OF_ORDER
from pyspark.sql import functions as F
from pyspark.sql import types as T

from clicklake import lake, maintenance
from clicklake.config import spark_uri
from clicklake.tables import conform, table


def fingerprint(spark, name: str, lake_root: str) -> tuple[int, int]:
    """Rows and an order-free hash of them (maps as JSON: Spark hashes no map)."""
    df = lake.read_published(spark, name, lake_root)
    columns = [F.to_json(F.col(f.name)) if isinstance(f.dataType, T.MapType) else F.col(f.name) for f in df.schema.fields]
    row = df.agg(F.count(F.lit(1)), F.sum(F.xxhash64(*columns) % 1_000_003)).first()
    return row[0], row[1]


def test_vacuum_deletes_the_files_reruns_replaced_and_keeps_every_row(spark, out_of_order, out_of_order_lake):
    """The out-of-order lake: four runs of four dates. Each replaced the neighbouring dates of
    silver.hits and gold.sessions, as reruns and backfills do; bronze's dates were written once
    each, so it has nothing to delete. Three tables: each costs seconds."""
    lake_root = out_of_order_lake.lake
    names = ["bronze.weblog_lines", "gold.sessions", "silver.hits"]
    rows_before = {n: fingerprint(spark, n, lake_root) for n in names}
    stored_before = {n: maintenance.stored_data_files(spark, n, lake_root) for n in names}

    reports = {r.name: r for r in maintenance.maintain(spark, lake_root, max(OUT_OF_ORDER), days=7, retain_hours=0, names=names)}

    assert sorted(reports) == names
    for name in names:
        assert fingerprint(spark, name, lake_root) == rows_before[name], f"{name}: maintenance changed its rows"
        # Exactly the files the current version reads are left.
        assert reports[name].stored_after == reports[name].live_files, reports[name].line()
    assert reports["bronze.weblog_lines"].stored_after == stored_before["bronze.weblog_lines"]
    for name in ("gold.sessions", "silver.hits"):
        assert reports[name].stored_after < stored_before[name], reports[name].line()
    assert spark.conf.get(maintenance.RETENTION_CHECK, "true") == "true", "Delta's retention check is back on"


def test_compaction_makes_each_date_one_file(spark, tmp_path):
    """A date written as several files (days of ONE_FILE_PER_DATE_ROWS rows or more keep Spark's
    split) becomes one file; dates outside the range are left as they are."""
    name, lake_root = "silver.quarantine", str(tmp_path / "lake")
    days = [D + dt.timedelta(days=k) for k in range(3)]
    rows = spark.createDataFrame(
        [(day, "weblog", f"file-{i % 4}", i, f"line {i}", "unparseable_line") for day in days for i in range(40)],
        "dt date, source string, source_file string, line_number bigint, raw string, reason string")
    (conform(rows, name).repartition(4).write.format("delta").partitionBy("dt")
     .save(spark_uri(table(name).path(lake_root))))
    before = fingerprint(spark, name, lake_root)
    assert maintenance.stored_data_files(spark, name, lake_root) == 12

    (report,) = maintenance.maintain(spark, lake_root, days[1], days=2, retain_hours=0)

    assert (report.compacted_removed, report.compacted_added) == (8, 2), report.line()
    assert report.live_files == 2 + 4 and report.stored_after == 6, report.line()
    assert fingerprint(spark, name, lake_root) == before
