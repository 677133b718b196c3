"""Gold marts from sessionized page views and sessions (SPEC 2): pages, click paths, traffic
sources, funnels. Pure; built-in functions only (funnels run as a higher-order `aggregate` over
each session's ordered pages, no Python UDF).

Every mart is dated by session_date, as gold.sessions and gold.daily_kpis are: a page view at
00:10 in a session that began at 23:50 counts on the day before, so the marts of a date add up
to that date's sessions and page views (reconcile.gold_checks checks it).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clicklake.jobs import exact_mean

ENTRANCE, EXIT = "(entrance)", "(exit)"
NOT_SET = "(not set)"
TOP_PATH_PAGES = 10  # longer sessions show their first pages, then " > ..."


def steps_reached(pages: Column, funnel) -> Column:
    """How many of the funnel's steps the pages reach in order (0..n), other pages allowed in
    between. Taking each step at its first match after the previous one is optimal for an
    in-order match, so one left-to-right pass decides."""
    def advance(reached: Column, page: Column) -> Column:
        branch = None
        for i, step in enumerate(funnel.steps):
            cond = (reached == i) & page.rlike(step.regex)
            branch = F.when(cond, F.lit(i + 1)) if branch is None else branch.when(cond, F.lit(i + 1))
        return branch.otherwise(reached)

    return F.aggregate(pages, F.lit(0), advance)


def with_funnels(sessions: DataFrame, funnels) -> DataFrame:
    """Sessions with `pages` (ordered paths) -> + `funnel_steps` (array: steps reached per funnel,
    in configuration order) and `converted` (the last step of a conversion funnel reached)."""
    reached = [steps_reached(F.col("pages"), f) for f in funnels]
    with_steps = sessions.withColumn("funnel_steps", F.array(*reached) if reached else F.array().cast("array<int>"))
    goals = [F.col("funnel_steps")[i] == len(f.steps) for i, f in enumerate(funnels) if f.conversion]
    converted = F.lit(False)
    for goal in goals:
        converted = converted | goal
    return with_steps.withColumn("converted", converted)


def page_daily(page_views: DataFrame) -> DataFrame:
    """gold.page_daily: one row per site, date and page (path)."""
    return page_views.groupBy("site", F.col("session_date").alias("date"), F.col("path").alias("page")).agg(
        F.count(F.lit(1)).alias("views"),
        F.countDistinct("visitor_id").alias("visitors"),
        F.count_if("is_entrance").alias("entrances"),
        F.count_if("is_exit").alias("exits"),
        F.count_if(F.col("is_entrance") & F.col("is_exit")).alias("bounces"),
        exact_mean("time_on_page_s").alias("avg_time_on_page_s"),
        exact_mean("engaged_time_s").alias("avg_engaged_time_s"),
    )


def click_paths(sessions: DataFrame) -> DataFrame:
    """gold.click_paths: page-to-next-page transitions; each session also moves from (entrance)
    to its first page and from its last page to (exit), so a date has pageviews + sessions moves."""
    froms = F.concat(F.array(F.lit(ENTRANCE)), F.col("pages"))
    tos = F.concat(F.col("pages"), F.array(F.lit(EXIT)))
    moves = sessions.select(
        "site", F.col("session_date").alias("date"),
        F.explode(F.zip_with(froms, tos, lambda a, b: F.struct(a.alias("from_page"), b.alias("to_page")))).alias("m"),
    )
    return moves.groupBy("site", "date", F.col("m.from_page").alias("from_page"), F.col("m.to_page").alias("to_page")).agg(
        F.count(F.lit(1)).alias("transitions"))


def top_paths(sessions: DataFrame, keep: int) -> DataFrame:
    """gold.top_paths: the `keep` most frequent whole session paths per site and date."""
    shown = F.when(F.size("pages") > TOP_PATH_PAGES,
                   F.concat(F.array_join(F.slice("pages", 1, TOP_PATH_PAGES), " > "), F.lit(" > ...")))
    path = shown.otherwise(F.array_join("pages", " > "))
    counted = sessions.groupBy("site", F.col("session_date").alias("date"), path.alias("path")).agg(
        F.count(F.lit(1)).alias("sessions"), F.countDistinct("visitor_id").alias("visitors"))
    # Ties broken by the path itself, so the kept set is the same on every rerun.
    rank = F.row_number().over(Window.partitionBy("site", "date").orderBy(F.desc("sessions"), "path"))
    return counted.withColumn("rank", rank).where(F.col("rank") <= keep)


def traffic_sources(sessions: DataFrame) -> DataFrame:
    """gold.traffic_sources: sessions by channel, source, medium and campaign ((not set) when none)."""
    return sessions.groupBy(
        "site", F.col("session_date").alias("date"), "channel", "source", "medium",
        F.coalesce("campaign", F.lit(NOT_SET)).alias("campaign"),
    ).agg(
        F.count(F.lit(1)).alias("sessions"),
        F.countDistinct("visitor_id").alias("visitors"),
        F.count_if("is_bounce").alias("bounces"),
        F.sum("pageviews").cast("bigint").alias("pageviews"),
        F.count_if("converted").alias("conversions"),
    )


def funnel_steps(sessions: DataFrame, funnels) -> DataFrame:
    """gold.funnels: per site, date, funnel and step, the sessions that reached the step in order.
    Every step gets a row, also when no session reached it (a funnel chart shows the zero)."""
    counts = [
        F.struct(F.lit(f.name).alias("funnel"), F.lit(k + 1).alias("step"), F.lit(step.name).alias("step_name"),
                 F.count_if(F.col("funnel_steps")[i] >= k + 1).alias("sessions"))
        for i, f in enumerate(funnels) for k, step in enumerate(f.steps)
    ]
    if not counts:
        return sessions.select("site", F.col("session_date").alias("date"), F.lit(None).cast("string").alias("funnel"),
                               F.lit(None).cast("int").alias("step"), F.lit(None).cast("string").alias("step_name"),
                               F.lit(None).cast("bigint").alias("sessions")).where(F.lit(False))
    per_date = sessions.groupBy("site", F.col("session_date").alias("date")).agg(F.array(*counts).alias("steps"))
    return per_date.select("site", "date", F.inline("steps"))
