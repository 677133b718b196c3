"""Reconciliation across tables: counts that must agree between a layer's staged tables and the
layer below, recounted from the tables themselves. Pure: DataFrames in, one DataFrame out with a
row per check and scope (a file or a date), `expected` and `observed`; the quality.reconciliation
suite expects them equal.

    bronze  per landing file: lines in bronze.landing_files = rows of bronze.weblog_lines/tag_events
    silver  per landing file: bronze lines = silver rows + duplicates + quarantined + skipped
    gold    per date: gold.daily_kpis sessions = rows of gold.sessions; daily_kpis pageviews =
            sum of gold.sessions.pageviews = rows of gold.page_views; silver page views of the
            date = gold page views of the date (every deduplicated page view in exactly one
            session); the marts (page_daily, click_paths, traffic_sources) add up to the date's
            sessions and page views; funnel steps never grow; daily_kpis new_visitors = gold.visitors
            first seen that date (also for the later dates a backfill recounts)
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clicklake.jobs import marts

COLUMNS = ("check", "scope", "expected", "observed")


def _counts(df: DataFrame, key: str, name: str) -> DataFrame:
    return df.groupBy(F.col(key).cast("string").alias("scope")).agg(F.count(F.lit(1)).alias(name))


def _sums(df: DataFrame, key: str, column: str, name: str) -> DataFrame:
    return df.groupBy(F.col(key).cast("string").alias("scope")).agg(F.sum(column).alias(name))


def _pair(check: str, left: DataFrame, right: DataFrame) -> DataFrame:
    """Full outer join on scope: a scope missing on one side counts as 0 there."""
    joined = left.join(right, "scope", "full_outer")
    expected, observed = [c for c in joined.columns if c != "scope"]
    return joined.select(
        F.lit(check).alias("check"),
        "scope",
        F.coalesce(F.col(expected), F.lit(0)).cast("bigint").alias("expected"),
        F.coalesce(F.col(observed), F.lit(0)).cast("bigint").alias("observed"),
    )


def bronze_checks(landing_files: DataFrame, weblog_lines: DataFrame, tag_events: DataFrame) -> DataFrame:
    rows = _counts(weblog_lines.select("source_file").unionByName(tag_events.select("source_file")), "source_file", "rows")
    return _pair("bronze.landing_files lines = bronze rows of the file", _sums(landing_files, "source_file", "lines", "lines"), rows)


def silver_checks(bronze_weblog_lines: DataFrame, bronze_tag_events: DataFrame, weblog_hits: DataFrame,
                  tag_events: DataFrame, quarantine: DataFrame, file_audit: DataFrame) -> DataFrame:
    bronze = _counts(bronze_weblog_lines.select("source_file").unionByName(bronze_tag_events.select("source_file")),
                     "source_file", "lines")
    parsed = weblog_hits.select("source_file").unionByName(tag_events.select("source_file"))
    accounted = (
        _counts(parsed, "source_file", "parsed")
        .join(_counts(quarantine, "source_file", "quarantined"), "scope", "full_outer")
        .join(file_audit.select(F.col("source_file").alias("scope"), "duplicates", "skipped"), "scope", "full_outer")
        .select("scope", sum(F.coalesce(F.col(c), F.lit(0)) for c in ("parsed", "quarantined", "duplicates", "skipped")).alias("accounted"))
    )
    audited = _sums(file_audit, "source_file", "lines", "audited")
    return _pair("bronze lines = silver rows + duplicates + quarantined + skipped", bronze, accounted).unionByName(
        _pair("bronze lines = silver.file_audit lines", bronze, audited))


def gold_checks(hits: DataFrame, gold: dict[str, DataFrame], start: dt.date, end: dt.date) -> DataFrame:
    """`hits`: silver.hits of at least start..end; `gold`: the gold tables by name. A page view of
    date d sits in a session of d or d-1 (sessions are at most 24 h), so dates after `start` must
    agree exactly between layers. The marts are dated by session date, so they add up to the
    date's sessions and page views."""
    page_views, sessions, all_kpis = gold["gold.page_views"], gold["gold.sessions"], gold["gold.daily_kpis"]
    # daily_kpis and visitors also hold the dates after `end` (recounted new visitors only)
    kpis = all_kpis.where(F.col("date") <= F.lit(end))
    pages, moves, sources, funnels = gold["gold.page_daily"], gold["gold.click_paths"], gold["gold.traffic_sources"], gold["gold.funnels"]
    view_dates = page_views.withColumn("view_date", F.to_date("ts"))
    after_start = (F.col("scope") > F.lit(start.isoformat())) & (F.col("scope") <= F.lit(end.isoformat()))
    silver_views = _counts(hits, "event_date", "silver")
    session_count = _counts(sessions, "session_date", "sessions")
    session_views = _sums(sessions, "session_date", "pageviews", "sessions")
    checks = [
        _pair("gold.daily_kpis sessions = rows of gold.sessions", _sums(kpis, "date", "sessions", "kpis"), session_count),
        _pair("gold.daily_kpis pageviews = sum of gold.sessions pageviews", _sums(kpis, "date", "pageviews", "kpis"), session_views),
        _pair("sum of gold.sessions pageviews = rows of gold.page_views", session_views, _counts(page_views, "session_date", "views")),
        _pair("silver.hits page views of the date = gold.page_views of the date",
              silver_views.where(after_start), _counts(view_dates, "view_date", "gold").where(after_start)),
        _pair("gold.page_daily views = sum of gold.sessions pageviews", session_views, _sums(pages, "date", "views", "pages")),
        _pair("gold.page_daily entrances = rows of gold.sessions", session_count, _sums(pages, "date", "entrances", "pages")),
        _pair("gold.page_daily exits = rows of gold.sessions", session_count, _sums(pages, "date", "exits", "pages")),
        _pair("gold.click_paths moves from (entrance) = rows of gold.sessions", session_count,
              _sums(moves.where(F.col("from_page") == marts.ENTRANCE), "date", "transitions", "moves")),
        # A session of n page views makes n + 1 moves: (entrance) -> first page ... last page -> (exit).
        _pair("gold.click_paths moves = gold.sessions pageviews + sessions",
              _sums(sessions.withColumn("moves", F.col("pageviews") + 1), "session_date", "moves", "sessions"),
              _sums(moves, "date", "transitions", "moves")),
        _pair("gold.traffic_sources sessions = rows of gold.sessions", session_count, _sums(sources, "date", "sessions", "sources")),
        _pair("gold.traffic_sources pageviews = sum of gold.sessions pageviews", session_views, _sums(sources, "date", "pageviews", "sources")),
        _pair("gold.traffic_sources conversions = converted gold.sessions",
              _counts(sessions.where("converted"), "session_date", "converted"), _sums(sources, "date", "conversions", "sources")),
        funnel_monotony(funnels),
        _pair("gold.daily_kpis new_visitors = gold.visitors first seen that date",
              _sums(all_kpis, "date", "new_visitors", "kpis"), _counts(gold["gold.visitors"], "first_seen_date", "visitors")),
    ]
    result = checks[0]
    for check in checks[1:]:
        result = result.unionByName(check)
    return result


def funnel_monotony(funnels: DataFrame) -> DataFrame:
    """Per date: steps whose sessions exceed the previous step's (a session at step k has passed
    steps 1..k-1); expected 0."""
    previous = funnels.select("site", "date", "funnel", (F.col("step") + 1).alias("step"), F.col("sessions").alias("before"))
    grows = funnels.join(previous, ["site", "date", "funnel", "step"]).where(F.col("sessions") > F.col("before"))
    per_date = funnels.select(F.col("date").cast("string").alias("scope")).distinct()
    counted = per_date.join(_counts(grows, "date", "grows"), "scope", "left")
    return counted.select(F.lit("gold.funnels sessions never grow from a step to the next").alias("check"), "scope",
                          F.lit(0).cast("bigint").alias("expected"), F.coalesce("grows", F.lit(0)).cast("bigint").alias("observed"))
