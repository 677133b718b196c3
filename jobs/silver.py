"""Silver: parse, type, classify and clean what bronze kept; unify page views of both sources.

Reads  bronze.weblog_lines, bronze.tag_events (dt=D); silver.weblog_hits, silver.tag_events
       (dt in D-L..D+L, for late data and retries across dates; L = CLICKLAKE_LATE_DAYS)
Writes silver.weblog_hits, silver.tag_events, silver.quarantine, silver.file_audit (dt=D)
       silver.hits (event_date in D-L..D: late events of D-L..D-1 delivered on D join their day)

    clicklake run --date 2026-11-28 --layer silver --raw s3://clicklake/raw --lake s3://clicklake/lake
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicklake import lake
from clicklake.config import Settings
from clicklake.jobs import classify, hits, logformats, tag_events, weblogs
from clicklake.spark import is_remote
from clicklake.tables import conform

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
    """Per file: lines = parsed + duplicates + quarantined + skipped; and how many valid lines
    belong to an earlier date than their delivery date (late, applied to that date)."""
    def counts(parsed: DataFrame, source: str, time_column: str) -> DataFrame:
        problem = F.col("problem")
        return parsed.groupBy("dt", "source_file").agg(
            F.count(F.lit(1)).alias("lines"),
            F.count_if(problem.isNull()).alias("valid"),
            F.count_if(weblogs.is_quarantined(problem)).alias("quarantined"),
            F.count_if(F.coalesce(problem == "skip", F.lit(False))).alias("skipped"),
            F.count_if(problem.isNull() & (F.to_date(time_column) < F.col("dt"))).alias("late"),
        ).withColumn("source", F.lit(source))

    dups = tag_duplicates.groupBy("source_file").agg(F.count(F.lit(1)).alias("duplicates"))
    both = counts(weblog_parsed, "weblog", "ts").unionByName(counts(tag_parsed, "tag_event", "event_ts"))
    return (
        both.join(dups, "source_file", "left")
        .withColumn("duplicates", F.coalesce("duplicates", F.lit(0)).cast("long"))
        .withColumn("parsed", F.col("valid") - F.col("duplicates"))
        .withColumn("quarantine_share", F.col("quarantined") / F.col("lines"))
        .drop("valid")
    )


# ---- I/O -------------------------------------------------------------------------------------

def read_around(view: lake.LakeView, name: str, settings: Settings, day: dt.date, today: DataFrame) -> DataFrame:
    """Published rows of dt in D-L..D+L, with this run's rows in place of the published dt=D."""
    span = dt.timedelta(days=settings.late_days)
    published = view.range(name, day - span, day + span)
    return published.where(F.col("dt") != lake.lit_date(day)).unionByName(today)


def deal_evenly_over_tasks(spark: SparkSession, rows: DataFrame) -> DataFrame:
    """Bronze rows dealt evenly over at least the session's shuffle partitions (never fewer tasks
    than they came in) before parsing. They arrive split as they were stored: a gzip file is one
    task, and a date under 2M rows is one file per table; then one task parsed half a day's
    events (21.5 s) while the other core had nothing left to do (bench of 1M records,
    2026-11-30). Parsing costs far more than moving the rows."""
    tasks = int(spark.conf.get("spark.sql.shuffle.partitions"))
    if not is_remote(spark):  # a Spark Connect client cannot see a frame's partitions
        tasks = max(tasks, rows.rdd.getNumPartitions())
    return rows.repartition(tasks, "source_file", "line_number")


def dealt_lines_and_formats(spark: SparkSession, stored_lines: DataFrame, materialize,
                            overrides: tuple[tuple[str, str], ...] = ()) -> tuple[DataFrame, DataFrame]:
    """bronze.weblog_lines rows as stored -> (the rows dealt evenly over the tasks, for parsing;
    the detected format of each file, materialized). Detection reads each file's first lines and
    its name, which needs no dealing: on the dealt rows it shuffled every line once more for
    itself (2M lines: 3.5 s against 2.7 s)."""
    formats = materialize(logformats.detect_formats(stored_lines, overrides))
    return deal_evenly_over_tasks(spark, stored_lines), formats


def build(spark: SparkSession, settings: Settings, day: dt.date, materialize, view: lake.LakeView) -> dict[str, DataFrame]:
    lines, formats = dealt_lines_and_formats(spark, view.range("bronze.weblog_lines", day, day), materialize,
                                             settings.log_formats)
    events = deal_evenly_over_tasks(spark, view.range("bronze.tag_events", day, day))
    site, key, late = settings.default_site, settings.visitor_hash_key, settings.late_days
    for row in formats.where(F.col("family") == "unknown").limit(5).collect():
        print(f"silver: WARNING no known log format in {row['source_file']}: its lines are quarantined (unknown_format); "
              "set CLICKLAKE_LOG_FORMATS / CLICKLAKE_LOG_PATTERN for it")
    web = weblogs.weblog_silver(lines, classify.user_agent_dimension, site, key, late, materialize,
                                formats, settings.custom_log_format())
    # Retries of events that earlier delivery dates already kept (in order, the first received wins).
    earlier = (view.range("silver.tag_events", day - dt.timedelta(days=late), day - dt.timedelta(days=1)).select("event_id")
               if late else None)
    # Counting the dropped copies reads a materialized frame of two columns: cheap.
    tags = tag_events.tag_silver(events, classify.user_agent_dimension, site, key, late, materialize, earlier_event_ids=earlier,
                                 count_rows=lambda df: df.count())
    outputs = {
        "silver.weblog_hits": materialize(conform(web["hits"], "silver.weblog_hits"), output="silver.weblog_hits"),
        "silver.tag_events": materialize(conform(tags["events"], "silver.tag_events"), output="silver.tag_events"),
        "silver.quarantine": web["quarantine"].unionByName(tags["quarantine"]),
        "silver.file_audit": file_audit(web["parsed"], tags["parsed"], tags["duplicates"]),
    }
    weblog_hits = read_around(view, "silver.weblog_hits", settings, day, outputs["silver.weblog_hits"])
    tag_rows = read_around(view, "silver.tag_events", settings, day, outputs["silver.tag_events"])
    # Only page views and their heartbeats matter here, and the matching reads each several times.
    log_views = materialize(weblog_hits.where(F.col("is_page_view")).select(*hits.WEBLOG_HIT_COLUMNS))
    tag_views = materialize(tag_rows.where(F.col("event_type").isin("page_view", "page_ping")).select(*hits.TAG_EVENT_COLUMNS))
    start, end = hits_range(day, settings)
    page_views = hits.build_hits(log_views, tag_views, settings.tag_match_window_s,
                                 settings.ping_heartbeat_s, settings.min_visit_s, settings.session_timeout_min, materialize)
    outputs["silver.hits"] = page_views.where(F.col("event_date").between(lake.lit_date(start), lake.lit_date(end)))
    return outputs
