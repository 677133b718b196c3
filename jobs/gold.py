"""Gold: page views in sessions, sessions, daily KPIs, and the marts (pages, click paths, top
paths, traffic sources, funnels).

Sessions are not split at midnight and late events can change earlier days, so a run for D
rewrites session dates D-L-1..D+1 (L = CLICKLAKE_LATE_DAYS) from silver.hits of D-L-2..D+2. Each
session date is rewritten by every run that could change it, so running dates in any order
converges to the same tables as running them in order.

New visitors depend on all earlier dates: a backfill of D after later dates ran can make a
visitor of a later date seen before. So gold.visitors (first seen ever) and gold.daily_kpis are
rewritten from D-L-1 on, to the last date: later dates' visitors are recounted from their published
sessions and their KPI rows keep everything but new_visitors.

Reads  silver.hits (event_date D-L-2..D+2), silver.weblog_hits and silver.file_audit (dt in range);
       gold.sessions and gold.daily_kpis after D+1, gold.visitors first seen before D-L-1
Writes gold.page_views, gold.sessions, gold.page_daily, gold.click_paths, gold.top_paths,
       gold.traffic_sources, gold.funnels (session_date / date in D-L-1..D+1);
       gold.daily_kpis, gold.visitors (date / first_seen_date from D-L-1 on)

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
from clicklake.tables import table

TABLES = ("gold.page_views", "gold.sessions", "gold.daily_kpis", "gold.page_daily", "gold.click_paths", "gold.top_paths",
          "gold.traffic_sources", "gold.funnels", "gold.visitors")
# Tables rewritten from the run's first session date to whatever date is last (see above).
TO_THE_END = ("gold.daily_kpis", "gold.visitors")
LAST_DATE = dt.date(9999, 12, 31)
FIRST_DATE = dt.date(1, 1, 1)


def session_range(day: dt.date, settings: Settings) -> tuple[dt.date, dt.date]:
    return day - dt.timedelta(days=settings.late_days + 1), day + dt.timedelta(days=1)


def write_ranges(day: dt.date, settings: Settings) -> dict[str, tuple[dt.date, dt.date]]:
    start, end = session_range(day, settings)
    return {name: (start, LAST_DATE) if name in TO_THE_END else (start, end) for name in TABLES}


def gold_tables(hits: DataFrame, weblog_hits: DataFrame, file_audit: DataFrame, categories: DataFrame,
                start: dt.date, end: dt.date, settings: Settings, later: dict[str, DataFrame],
                materialize=stay_lazy) -> dict[str, DataFrame]:
    """Pure: silver inputs -> the gold tables for session dates start..end (gold.daily_kpis and
    gold.visitors from start on).

    later: published "gold.sessions" and "gold.daily_kpis" after `end` and "gold.visitors" first
    seen before `start` (empty frames on a new lake: build reads them). `materialize` is called on the sessionized
    page views and on the sessions (with their ordered pages and funnel steps), which every other
    table reads."""
    in_range = F.col("session_date").between(lake.lit_date(start), lake.lit_date(end))
    page_views = materialize(sessions.sessionize(hits, settings.session_timeout_min, settings.session_max_hours).where(in_range))
    session_rows = materialize(marts.with_funnels(sessions.sessions_from_page_views(page_views, categories), settings.funnels))
    visitors = materialize(sessions.first_seen(session_rows, later["gold.sessions"], later["gold.visitors"]))
    kpis = sessions.daily_kpis(session_rows, weblog_hits, file_audit, hits).unionByName(
        later["gold.daily_kpis"].drop("new_visitors"), allowMissingColumns=True)
    return {
        "gold.page_views": page_views,
        "gold.sessions": session_rows,
        "gold.daily_kpis": sessions.with_new_visitors(kpis, visitors),
        "gold.visitors": visitors,
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
    after, before = end + dt.timedelta(days=1), start - dt.timedelta(days=1)
    if lake.is_delta_table(spark, table("gold.visitors").path(settings.lake)):
        seen_before = view.range("gold.visitors", FIRST_DATE, before)
    else:
        # A lake from before gold.visitors: who came before is in its sessions.
        seen_before = view.range("gold.sessions", FIRST_DATE, before).select("site", "visitor_id")
    later = {
        "gold.sessions": view.range("gold.sessions", after, LAST_DATE),
        "gold.daily_kpis": view.range("gold.daily_kpis", after, LAST_DATE),
        "gold.visitors": seen_before,
    }
    return gold_tables(hits, weblog_hits, audit, source_categories(spark), start, end, settings, later, materialize)
