"""Silver: parse, type, classify and clean what bronze kept; unify page views of both sources.

Reads  bronze.weblog_lines, bronze.tag_events (dt=D); silver.weblog_hits, silver.tag_events
       (dt in D-L..D+L, for late data; L = CLICKLAKE_LATE_DAYS)
Writes silver.weblog_hits, silver.tag_events, silver.quarantine, silver.file_audit (dt=D)
       silver.hits (event_date in D-L..D: late events of D-L..D-1 delivered on D join their day)

    clicklake run --date 2026-11-28 --layer silver --raw s3://clicklake/raw --lake s3://clicklake/lake
"""

from __future__ import annotations

import datetime as dt

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicklake import lake
from clicklake.config import Settings
from clicklake.jobs import classify, hits, tag_events, weblogs

DAY_TABLES = ("silver.weblog_hits", "silver.tag_events", "silver.quarantine", "silver.file_audit")
TABLES = (*DAY_TABLES, "silver.hits")


def hits_range(day: dt.date, settings: Settings) -> tuple[dt.date, dt.date]:
    return day - dt.timedelta(days=settings.late_days), day


def write_ranges(day: dt.date, settings: Settings) -> dict[str, tuple[dt.date, dt.date]]:
    ranges = {name: (day, day) for name in DAY_TABLES}
    ranges["silver.hits"] = hits_range(day, settings)
    return ranges


# ---- pure transforms -------------------------------------------------------------------------

def file_audit(weblog_parsed: DataFrame, tag_parsed: DataFrame, tag_duplicates: DataFrame) -> DataFrame:
    """Per file: lines = parsed + duplicates + quarantined + skipped."""
    def counts(parsed: DataFrame, source: str) -> DataFrame:
        problem = F.col("problem")
        return parsed.groupBy("dt", "source_file").agg(
            F.count(F.lit(1)).alias("lines"),
            F.sum(problem.isNull().cast("long")).alias("valid"),
            F.sum((problem.isNotNull() & (problem != "skip")).cast("long")).alias("quarantined"),
            F.sum((problem == "skip").cast("long")).alias("skipped"),
        ).withColumn("source", F.lit(source))

    dups = tag_duplicates.groupBy("source_file").agg(F.count(F.lit(1)).alias("duplicates"))
    both = counts(weblog_parsed, "weblog").unionByName(counts(tag_parsed, "tag_event"))
    return (
        both.join(dups, "source_file", "left")
        .withColumn("duplicates", F.coalesce("duplicates", F.lit(0)).cast("long"))
        .withColumn("parsed", F.col("valid") - F.col("duplicates"))
        .drop("valid")
    )


# ---- I/O -------------------------------------------------------------------------------------

def read_around(spark: SparkSession, name: str, settings: Settings, day: dt.date, staged_today: DataFrame) -> DataFrame:
    """Published rows of dt in D-L..D+L, with today's staged rows in place of the published dt=D."""
    span = dt.timedelta(days=settings.late_days)
    published = lake.read_published_range(spark, name, settings.lake, day - span, day + span)
    return published.where(F.col("dt") != lake.lit_date(day)).unionByName(staged_today)


def stage(spark: SparkSession, settings: Settings, day: dt.date) -> dict[str, int]:
    lines = lake.read_published_range(spark, "bronze.weblog_lines", settings.lake, day, day)
    events = lake.read_published_range(spark, "bronze.tag_events", settings.lake, day, day)

    web = weblogs.weblog_silver(lines, classify.user_agent_dimension, settings.default_site, settings.visitor_hash_key, settings.late_days)
    tags = tag_events.tag_silver(events, classify.user_agent_dimension, settings.default_site, settings.visitor_hash_key, settings.late_days)
    # Each parsed frame feeds three outputs; parse once.
    for frame in (web["parsed"], tags["parsed"]):
        frame.persist(StorageLevel.MEMORY_AND_DISK)
    counts = {}
    try:
        outputs = {
            "silver.weblog_hits": web["hits"],
            "silver.tag_events": tags["events"],
            "silver.quarantine": web["quarantine"].unionByName(tags["quarantine"]),
            "silver.file_audit": file_audit(web["parsed"], tags["parsed"], tags["duplicates"]),
        }
        for name, df in outputs.items():
            counts[name] = lake.write_staged(df, name, settings.lake, day)
    finally:
        for frame in (web["parsed"], tags["parsed"]):
            frame.unpersist()

    weblog_hits = read_around(spark, "silver.weblog_hits", settings, day, lake.read_staged(spark, "silver.weblog_hits", settings.lake, day))
    tag_rows = read_around(spark, "silver.tag_events", settings, day, lake.read_staged(spark, "silver.tag_events", settings.lake, day))
    start, end = hits_range(day, settings)
    page_views = hits.build_hits(weblog_hits, tag_rows, settings.tag_match_window_s)
    in_range = F.col("event_date").between(lake.lit_date(start), lake.lit_date(end))
    counts["silver.hits"] = lake.write_staged(page_views.where(in_range), "silver.hits", settings.lake, day)
    return counts
