"""Bronze: every raw access-log line and tag-event line of a delivery date, with file lineage.

Reads  <raw>/weblogs/dt=D/<host>/*  and  <raw>/events/dt=D/*
Writes bronze.weblog_lines, bronze.tag_events and bronze.landing_files, partition dt=D

Run one date by hand (what the Airflow task `bronze` runs):
    clicklake run --date 2026-11-28 --layer bronze --raw s3://clicklake/raw --lake s3://clicklake/lake
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicklake import lake
from clicklake.config import Settings
from clicklake.landing import list_landing_files
from clicklake.spark import local_checkpoint
from clicklake.tables import conform

TABLES = ("bronze.weblog_lines", "bronze.tag_events", "bronze.landing_files")


# ---- pure transforms -------------------------------------------------------------------------

# monotonically_increasing_id counts a task's rows in its lower 33 bits (the task's number is above).
ROW_IN_TASK = (1 << 33) - 1


def number_lines(raw: DataFrame) -> DataFrame:
    """Line numbers per file from the read order: each file is read whole by a task of its own
    (read_lines under whole_files), so a line's number is its row in the task. Numbering from
    the first read order of each file instead was a window: a shuffle and sort of every line."""
    return raw.withColumn("line_number", F.col("read_order").bitwiseAND(F.lit(ROW_IN_TASK)) + 1).drop("read_order")


def weblog_lines(raw: DataFrame, day: dt.date | None) -> DataFrame:
    """raw: value, source_file, ingest_time, read_order -> bronze.weblog_lines rows (dt null
    without a day: files read outside a landing zone)."""
    return (
        number_lines(raw)
        .withColumn("dt", lake.lit_date(day) if day else F.lit(None).cast("date"))
        .withColumn("host", F.regexp_extract("source_file", r"/weblogs/dt=[^/]+/([^/]+)/[^/]+$", 1))
        .withColumnRenamed("value", "line")
    )


def tag_event_lines(raw: DataFrame, day: dt.date) -> DataFrame:
    """raw: value, source_file, ingest_time, read_order -> bronze.tag_events rows."""
    return number_lines(raw).withColumn("dt", lake.lit_date(day)).withColumnRenamed("value", "raw_event")


def landing_files(weblog_lines: DataFrame, tag_events: DataFrame) -> DataFrame:
    """One row per file: its line count and a content fingerprint that ignores the file's name.

    XOR of per-line hashes is order-free, so it is one cheap aggregate; hashing the line number
    with the line keeps files with the same lines in another order apart."""
    def per_file(lines: DataFrame, text: str, source: str) -> DataFrame:
        return lines.groupBy("dt", "source_file").agg(
            F.count(F.lit(1)).alias("lines"),
            F.bit_xor(F.xxhash64("line_number", text)).alias("_hash"),
        ).withColumn("source", F.lit(source))

    both = per_file(weblog_lines, "line", "weblog").unionByName(per_file(tag_events, "raw_event", "tag_event"))
    return both.withColumn("fingerprint", F.format_string("%d:%016x", "lines", "_hash")).drop("_hash")


# ---- I/O -------------------------------------------------------------------------------------

def read_lines(spark: SparkSession, files: tuple[str, ...]) -> DataFrame | None:
    """Text lines of the files with lineage; None when there are no files. Read it under
    whole_files: number_lines counts on a task per file."""
    if not files:
        return None
    return (
        spark.read.text(list(files))
        .select(
            "value",
            F.col("_metadata.file_path").alias("source_file"),
            F.col("_metadata.file_modification_time").alias("ingest_time"),
            F.monotonically_increasing_id().alias("read_order"),
        )
    )


class whole_files:
    """Give each file a task of its own while the bronze read runs: never split (plain and
    bzip2 files would be) and never packed with other files into one task (small files are).

    The planner packs files into a task up to maxPartitionBytes, counting openCostInBytes per
    file; with both this large, one file fills a task. Not larger: the planner adds up the
    costs of all the files (2^44 each overflows a long only past 500,000 files)."""

    WHOLE = 1 << 44
    KEYS = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")

    def __init__(self, spark: SparkSession):
        self.spark = spark

    def __enter__(self):
        self.previous = {key: self.spark.conf.get(key) for key in self.KEYS}
        for key in self.KEYS:
            self.spark.conf.set(key, str(self.WHOLE))

    def __exit__(self, *exc):
        for key, value in self.previous.items():
            self.spark.conf.set(key, value)


def read_weblog_files(spark: SparkSession, files: tuple[str, ...], day: dt.date | None = None) -> DataFrame:
    """Access-log files outside a landing zone (parse-log, benchmarks, tests) as computed
    bronze.weblog_lines rows: read whole, lines numbered as the bronze layer numbers them."""
    with whole_files(spark):
        return local_checkpoint(weblog_lines(read_lines(spark, files), day))


def build(spark: SparkSession, settings: Settings, day: dt.date, materialize, view: lake.LakeView) -> dict[str, DataFrame]:
    files = list_landing_files(spark, settings.raw, day)
    if files.ignored:
        print(f"bronze: ignoring {len(files.ignored)} landing file(s) with unknown suffixes: {', '.join(files.ignored[:5])}")
    for source, found in (("weblogs", files.weblogs), ("events", files.events)):
        if not found:
            print(f"bronze: WARNING no {source} files for {day}; continuing with the other source")
    outputs = {
        "bronze.weblog_lines": (files.weblogs, weblog_lines),
        "bronze.tag_events": (files.events, tag_event_lines),
    }
    frames = {}
    with whole_files(spark):
        for name, (paths, transform) in outputs.items():
            raw = read_lines(spark, paths)
            df = transform(raw, day) if raw is not None else lake.empty_like(spark, name)
            # Read here, while files are kept whole: stored as the run's staged table, which the
            # landing-file counts and later layers read.
            frames[name] = materialize(conform(df, name), output=name)
    frames["bronze.landing_files"] = landing_files(frames["bronze.weblog_lines"], frames["bronze.tag_events"])
    return frames


def write_ranges(day: dt.date, settings: Settings) -> dict[str, tuple[dt.date, dt.date]]:
    return {name: (day, day) for name in TABLES}
