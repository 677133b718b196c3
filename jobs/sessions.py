"""Sessions, page views and daily KPIs from silver.hits (SPEC 2-3). Pure; window functions only.

Session: a visitor's page views in time order; a gap of MORE than the timeout starts a new one.
Not split at midnight. A visit longer than the maximum length is cut into pieces of that length
(`is_capped`). The session id is a hash of (site, visitor, first page view), so reruns and
backfills give the same ids.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clicklake.jobs import exact_mean, exact_sum

CHANNELS = (
    "Paid Search", "Display", "Paid Social", "Email", "Affiliates",
    "Organic Search", "Organic Social", "Referral", "Direct", "Unassigned",
)
PAID_MEDIUM = r"^(.*cp.*|ppc|retargeting|paid.*)$"
DISPLAY_MEDIUMS = ("display", "banner", "expandable", "interstitial", "cpm")
EMAIL_WORDS = ("email", "e-mail", "e_mail", "e mail", "newsletter")
SOCIAL_MEDIUMS = ("social", "social-network", "social-media", "sm", "social network", "social media")


def _seconds_between(later: Column, earlier: Column) -> Column:
    return (F.unix_micros(later) - F.unix_micros(earlier)) / F.lit(1_000_000.0)


def sessionize(hits: DataFrame, timeout_min: int, max_hours: int) -> DataFrame:
    """silver.hits rows -> page views with session_id, session_date, page_index, time_on_page_s,
    is_entrance, is_exit, is_capped, session_start."""
    visitor = Window.partitionBy("site", "visitor_id").orderBy("ts", "hit_id")
    gap_s = _seconds_between(F.col("ts"), F.lag("ts").over(visitor))
    starts_visit = gap_s.isNull() | (gap_s > timeout_min * 60)
    with_visit = hits.withColumn("_visit", F.sum(starts_visit.cast("int")).over(visitor))

    visit = Window.partitionBy("site", "visitor_id", "_visit")
    piece = F.floor(_seconds_between(F.col("ts"), F.min("ts").over(visit)) / (max_hours * 3600))
    with_piece = with_visit.withColumn("_piece", piece).withColumn("is_capped", F.max("_piece").over(visit) > 0)

    session = Window.partitionBy("site", "visitor_id", "_visit", "_piece")
    in_order = session.orderBy("ts", "hit_id")
    first_hit = F.first("hit_id").over(in_order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
    session_start = F.min("ts").over(session)
    page_index = F.row_number().over(in_order)
    pageviews = F.count(F.lit(1)).over(session)
    next_ts = F.lead("ts").over(in_order)
    return (
        with_piece.withColumn("session_start", session_start)
        .withColumn(
            "session_id",
            F.sha2(F.concat_ws("|", "site", "visitor_id", F.date_format("session_start", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"), first_hit), 256).substr(1, 32),
        )
        .withColumn("session_date", F.to_date("session_start"))
        .withColumn("page_index", page_index)
        .withColumn("time_on_page_s", _seconds_between(next_ts, F.col("ts")))
        .withColumn("is_entrance", page_index == 1)
        .withColumn("is_exit", page_index == pageviews)
        .drop("_visit", "_piece")
    )


def normalized_source_host(host: Column) -> Column:
    return F.regexp_replace(F.lower(host), r"^(www\d*|m|l|lm|mobile|amp)\.", "")


def host_brand(host: Column) -> Column:
    """google.co.uk -> google, search.yahoo.com -> yahoo: the label before the public suffix."""
    return F.regexp_extract(host, r"([a-z0-9-]+)\.(?:(?:co|com|org|net|ac|gov|edu|ne|or)\.)?[a-z]{2,}$", 1)


def with_traffic_source(first_views: DataFrame, categories: DataFrame) -> DataFrame:
    """Add source, medium, campaign, external referrer_host and channel to each session's first page view.

    first_views: site, referrer_host, utm_*, click_id_type. categories: source, category
    (reference/source_categories.csv: lower-case names and host names).
    """
    ref = normalized_source_host(F.col("referrer_host"))
    site_host = normalized_source_host(F.col("site"))
    external = F.col("referrer_host").isNotNull() & (ref != site_host) & ~ref.endswith(F.concat(F.lit("."), site_host))
    ext_ref = F.when(external, ref)
    source = (
        F.when(F.col("utm_source").isNotNull(), F.col("utm_source"))
        .when(F.col("click_id_type") == "gclid", F.lit("google"))
        .when(F.col("click_id_type") == "msclkid", F.lit("bing"))
        .when(ext_ref.isNotNull(), ext_ref)
        .otherwise(F.lit("(direct)"))
    )
    cats = categories.select(F.lower("source").alias("_key"), "category")
    with_source = first_views.withColumn("source", source).withColumn("_ext_ref", ext_ref)
    by_name = cats.select(F.col("_key").alias("_k1"), F.col("category").alias("_c1"))
    by_brand = cats.select(F.col("_key").alias("_k2"), F.col("category").alias("_c2"))
    looked_up = (
        with_source.join(F.broadcast(by_name), F.col("source") == F.col("_k1"), "left")
        .join(F.broadcast(by_brand), host_brand(F.col("source")) == F.col("_k2"), "left")
        .withColumn("source_category", F.coalesce("_c1", "_c2"))
        .drop("_k1", "_c1", "_k2", "_c2")
    )
    category = F.col("source_category")
    medium = (
        F.when(F.col("utm_source").isNotNull() | F.col("utm_medium").isNotNull(), F.coalesce("utm_medium", F.lit("(not set)")))
        .when(F.col("click_id_type").isin("gclid", "msclkid"), F.lit("cpc"))
        .when(F.col("_ext_ref").isNotNull() & (category == "SEARCH"), F.lit("organic"))
        .when(F.col("_ext_ref").isNotNull(), F.lit("referral"))
        .otherwise(F.lit("(none)"))
    )
    looked_up = looked_up.withColumn("medium", medium)
    m, s = F.col("medium"), F.col("source")
    is_paid = m.rlike(PAID_MEDIUM)
    channel = (
        F.when(((category == "SEARCH") & is_paid) | F.col("click_id_type").isin("gclid", "msclkid"), F.lit("Paid Search"))
        .when(m.isin(*DISPLAY_MEDIUMS), F.lit("Display"))
        .when((category == "SOCIAL") & is_paid, F.lit("Paid Social"))
        .when(s.isin(*EMAIL_WORDS) | m.isin(*EMAIL_WORDS), F.lit("Email"))
        .when(m == "affiliate", F.lit("Affiliates"))
        .when((category == "SEARCH") | (m == "organic"), F.lit("Organic Search"))
        .when((category == "SOCIAL") | m.isin(*SOCIAL_MEDIUMS), F.lit("Organic Social"))
        .when(m == "referral", F.lit("Referral"))
        .when((s == "(direct)") & (m == "(none)"), F.lit("Direct"))
        .otherwise(F.lit("Unassigned"))
    )
    return (
        looked_up.withColumn("channel", channel)
        .withColumn("campaign", F.col("utm_campaign"))
        .withColumn("referrer_host", F.col("_ext_ref"))
        .drop("_ext_ref", "source_category")
    )


def sessions_from_page_views(page_views: DataFrame, categories: DataFrame) -> DataFrame:
    """Sessionized page views (with silver.hits attributes) -> gold.sessions rows, plus `pages`
    (the session's paths in order) for the marts."""
    first_attrs = ("path", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "click_id_type", "device_type", "browser", "os",
                   "country")
    aggregated = page_views.groupBy("site", "session_id", "visitor_id", "session_date").agg(
        F.min("ts").alias("session_start"),
        F.max("ts").alias("session_end"),
        F.count(F.lit(1)).cast("int").alias("pageviews"),
        F.min_by(F.struct(*first_attrs), "page_index").alias("_first"),
        F.max_by("path", "page_index").alias("exit_page"),
        F.max("is_capped").alias("is_capped"),
        exact_sum("engaged_time_s").alias("engaged_time_s"),
        # For the marts (click paths, funnels); not a gold.sessions column.
        F.transform(F.array_sort(F.collect_list(F.struct("page_index", "path"))), lambda s: s["path"]).alias("pages"),
    )
    flat = aggregated.select(
        "*",
        F.col("_first.path").alias("entry_page"),
        *[F.col(f"_first.{c}").alias(c) for c in first_attrs if c != "path"],
    ).drop("_first")
    return (
        with_traffic_source(flat, categories)
        .withColumn("duration_s", (F.unix_micros("session_end") - F.unix_micros("session_start")) / F.lit(1_000_000.0))
        .withColumn("is_bounce", F.col("pageviews") == 1)
    )


def first_seen(sessions: DataFrame, later_sessions: DataFrame, seen_before: DataFrame) -> DataFrame:
    """gold.visitors rows of the visitors first seen on or after the start of `sessions`' dates.

    sessions: gold.sessions of the dates a run rewrites; later_sessions: the published ones after
    them (a backfill can move a visitor's first visit earlier, out of a later date); seen_before:
    gold.visitors first seen before those dates, which no session of this run can change."""
    columns = ("site", "visitor_id", "session_date", "session_start", "session_id")
    candidates = sessions.select(*columns).unionByName(later_sessions.select(*columns))
    first = candidates.groupBy("site", "visitor_id").agg(
        F.min("session_date").alias("first_seen_date"),
        F.min_by("session_id", F.struct("session_start", "session_id")).alias("first_session_id"),
    )
    return first.join(seen_before.select("site", "visitor_id"), ["site", "visitor_id"], "left_anti")


def new_visitors(visitors: DataFrame) -> DataFrame:
    return visitors.groupBy("site", F.col("first_seen_date").alias("date")).agg(F.count(F.lit(1)).alias("new_visitors"))


def with_new_visitors(kpis: DataFrame, visitors: DataFrame) -> DataFrame:
    """gold.daily_kpis rows with new_visitors recounted from gold.visitors (0 where none)."""
    counted = kpis.drop("new_visitors").join(new_visitors(visitors), ["site", "date"], "left")
    return counted.withColumn("new_visitors", F.coalesce("new_visitors", F.lit(0)).cast("bigint"))


def daily_kpis(sessions: DataFrame, weblog_hits: DataFrame, file_audit: DataFrame, hits: DataFrame) -> DataFrame:
    """gold.sessions (+ silver inputs of the same dates) -> gold.daily_kpis rows, one per site and
    date (new_visitors comes from gold.visitors: with_new_visitors)."""
    base = sessions.groupBy("site", F.col("session_date").alias("date")).agg(
        F.countDistinct("visitor_id").alias("visitors"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("pageviews").cast("bigint").alias("pageviews"),
        F.avg(F.col("is_bounce").cast("double")).alias("bounce_rate"),
        exact_mean("duration_s").alias("avg_session_duration_s"),
    ).withColumn("pages_per_session", F.col("pageviews") / F.col("sessions"))
    bots = weblog_hits.groupBy("site", F.col("dt").alias("date")).agg(F.avg(F.col("is_bot").cast("double")).alias("bot_share"))
    quarantine = file_audit.groupBy(F.col("dt").alias("date")).agg(
        (F.sum("quarantined") / F.sum("lines")).alias("quarantine_share"),
        F.sum(F.when(F.col("source") == "tag_event", F.col("late"))).alias("late_events_received"),
    )
    logged = hits.where(F.col("source") != "tag")
    match = logged.groupBy("site", F.col("event_date").alias("date")).agg(
        F.avg((F.col("source") == "weblog+tag").cast("double")).alias("tag_match_rate")
    )
    return (
        base.join(bots, ["site", "date"], "left")
        .join(quarantine, ["date"], "left")
        .join(match, ["site", "date"], "left")
    )
