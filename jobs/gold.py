"""Gold: page views in sessions, sessions, daily KPIs, and the marts (pages, click paths, top
paths, traffic sources, funnels).

Sessions are not split at midnight and late events can change earlier days, so a run for D
rewrites session dates D-L-1..D+1 (L = CLICKLAKE_LATE_DAYS) from silver.hits of D-L-2..D+2. Each
session date is rewritten by every run that could change it, so running dates in any order
converges to the same tables as running them in order.

Reads  silver.hits (event_date D-L-2..D+2), silver.weblog_hits and silver.file_audit (dt in range)
Writes gold.page_views, gold.sessions, gold.daily_kpis, gold.page_daily, gold.click_paths,
       gold.top_paths, gold.traffic_sources, gold.funnels (session_date / date in D-L-1..D+1)

    clicklake run --date 2026-11-28 --layer gold --raw s3://clicklake/raw --lake s3://clicklake/lake
"""

from __future__ import annotations

import csv
import datetime as dt
from importlib import resources

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clicklake import lake
from clicklake.config import Settings
from clicklake.jobs import marts, sessions, stay_lazy

TABLES = ("gold.page_views", "gold.sessions", "gold.daily_kpis", "gold.page_daily", "gold.click_paths", "gold.top_paths",
          "gold.traffic_sources", "gold.funnels")


def session_range(day: dt.date, settings: Settings) -> tuple[dt.date, dt.date]:
    return day - dt.timedelta(days=settings.late_days + 1), day + dt.timedelta(days=1)


def write_ranges(day: dt.date, settings: Settings) -> dict[str, tuple[dt.date, dt.date]]:
    return {name: session_range(day, settings) for name in TABLES}


def gold_tables(hits: DataFrame, weblog_hits: DataFrame, file_audit: DataFrame, categories: DataFrame,
                start: dt.date, end: dt.date, settings: Settings, materialize=stay_lazy) -> dict[str, DataFrame]:
    """Pure: silver inputs -> the gold tables for session dates start..end.

    `materialize` is called on the sessionized page views and on the sessions (with their ordered
    pages and funnel steps), which every other table reads."""
    in_range = F.col("session_date").between(lake.lit_date(start), lake.lit_date(end))
    page_views = materialize(sessions.sessionize(hits, settings.session_timeout_min, settings.session_max_hours).where(in_range))
    session_rows = materialize(marts.with_funnels(sessions.sessions_from_page_views(page_views, categories), settings.funnels))
    return {
        "gold.page_views": page_views,
        "gold.sessions": session_rows,
        "gold.daily_kpis": sessions.daily_kpis(session_rows, weblog_hits, file_audit, hits),
        "gold.page_daily": marts.page_daily(page_views),
        "gold.click_paths": marts.click_paths(session_rows),
        "gold.top_paths": marts.top_paths(session_rows, settings.top_paths),
        "gold.traffic_sources": marts.traffic_sources(session_rows),
        "gold.funnels": marts.funnel_steps(session_rows, settings.funnels),
    }


# ---- I/O -------------------------------------------------------------------------------------

def source_categories(spark: SparkSession) -> DataFrame:
    text = resources.files("clicklake.reference").joinpath("source_categories.csv").read_text()
    rows = [(r["source"].lower(), r["category"]) for r in csv.DictReader(text.splitlines())]
    return spark.createDataFrame(rows, "source string, category string")


def build(spark: SparkSession, settings: Settings, day: dt.date, materialize, view: lake.LakeView) -> dict[str, DataFrame]:
    start, end = session_range(day, settings)
    hits = view.range("silver.hits", start - dt.timedelta(days=1), end + dt.timedelta(days=1))
    weblog_hits = view.range("silver.weblog_hits", start, end)
    audit = view.range("silver.file_audit", start, end)
    return gold_tables(hits, weblog_hits, audit, source_categories(spark), start, end, settings, materialize)
