"""One truthful page-view stream from two sources (silver.hits). Pure.

A browser with the tag produces a log page view and, a moment later, a tag page_view of the same
path from the same client (IP + user agent). Those are one page view: the pair is matched and the
tag's cookie id becomes the visitor. The client's other log page views of the same UTC day take
the same cookie id (stitching) when the client's tag page views of that day carry exactly one
cookie; log page views of clients without the tag (script blockers, no-JS) keep the keyed hash of
(IP, user agent). A client seen with several cookies that day (people behind one NAT with the same
browser build) is not stitched.

Why one day: a date's hits are rewritten by the runs of that date and of the late days after it
(silver.hits_range), and only what those runs deliver reaches each of them. Taking the cookie from
any tag view in the run's window, earlier days' included, made a date's hits depend on which of
its runs came last: a day backfilled after the next one left the next one's log page views
stitched differently than the nightly order did (2026-12-01, found when the out-of-order test lost
a later day). A client's tag views of one day, delivered that day or late, reach every such run.
(The price: a tagged visitor's untagged page views after midnight, with no tag view of theirs that
day, keep the hash.)

Engaged time of a tagged page view comes from its page_ping heartbeats, as Snowplow computes it:
heartbeat x (distinct heartbeat intervals with a ping - 1) + minimum visit length, 0 without
pings. Pings count while they keep coming: a ping after more than the session timeout of silence
(a tab left open overnight, then used again) would start a new session, so it and later pings are
not this page view's engagement. Log page views without a tag have no engaged time (null).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clicklake.jobs import stay_lazy

CAMPAIGN_FIELDS = ("referrer", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type")
# A tag fires after the page it measures was requested; allow a little clock disagreement before.
EARLIEST_TAG_BEFORE_LOG_S = 2


LOG_VIEW_COLUMNS = ("site", "hit_id", "ts", "event_date", "visitor_key", "path", *CAMPAIGN_FIELDS, "browser", "os", "device_type", "country")
# The columns build_hits reads of its two inputs: a caller that materializes them keeps only these
# (every pass over a materialized frame reads whole rows: the 10M-record day's tag page views and
# pings were 2.8 GB with all their columns, 1.7 GB with these; 2026-12-01).
WEBLOG_HIT_COLUMNS = (*LOG_VIEW_COLUMNS, "is_page_view")
TAG_EVENT_COLUMNS = ("site", "event_id", "event_type", "event_ts", "event_date", "collector_ts", "dt", "source_file", "line_number",
                     "is_bot", "visitor_key", "anonymous_id", "page_view_id", "path", *CAMPAIGN_FIELDS, "browser", "os",
                     "device_type", "country")


def log_page_views(weblog_hits: DataFrame) -> DataFrame:
    return weblog_hits.where(F.col("is_page_view")).select(*LOG_VIEW_COLUMNS)


def first_copies(tag_events: DataFrame, event_type: str) -> DataFrame:
    """Human events of one type, one per event_id across delivery dates (retries may cross midnight)."""
    events = tag_events.where((F.col("event_type") == event_type) & ~F.col("is_bot"))
    first = Window.partitionBy("event_id").orderBy("collector_ts", "dt", "source_file", "line_number")
    return events.withColumn("_rank", F.row_number().over(first)).where(F.col("_rank") == 1).drop("_rank")


def tag_page_views(tag_events: DataFrame) -> DataFrame:
    """Human page_view events, one per event_id and one per page_view_id: a tracker that fired twice
    for one page (a single-page app re-rendering) made one page view, the earliest (as Snowplow keeps)."""
    views = first_copies(tag_events, "page_view")
    # A view without an id is keyed by its event_id too, so it is alone in its partition (kept),
    # and such views spread over tasks instead of all landing in the one partition of a null id.
    own_key = F.when(F.col("page_view_id").isNull(), F.col("event_id"))
    earliest = Window.partitionBy("page_view_id", own_key).orderBy("event_ts", "event_id")
    views = views.withColumn("_rank", F.row_number().over(earliest)).where(F.col("_rank") == 1)
    return views.select(
        "site", F.col("event_id").alias("hit_id"), F.col("event_ts").alias("ts"), "event_date", "visitor_key",
        "anonymous_id", "page_view_id", "path", *CAMPAIGN_FIELDS, "browser", "os", "device_type", "country",
    )


def engaged_time(views: DataFrame, tag_events: DataFrame, heartbeat_s: int, min_visit_s: int, timeout_min: int) -> DataFrame:
    """Tag page views (tag_page_views) + tag events -> page_view_id, engaged_time_s of the views
    with at least one counted ping (the others have 0: build_hits)."""
    pings = first_copies(tag_events, "page_ping").where(F.col("page_view_id").isNotNull())
    activity = views.where(F.col("page_view_id").isNotNull()).select("page_view_id", "ts", F.lit(False).alias("is_ping")).unionByName(
        pings.select("page_view_id", F.col("event_ts").alias("ts"), F.lit(True).alias("is_ping"))
    )
    in_order = Window.partitionBy("page_view_id").orderBy("ts", "is_ping")
    gap_s = (F.unix_micros("ts") - F.unix_micros(F.lag("ts").over(in_order))) / F.lit(1_000_000.0)
    stretch = F.sum(F.coalesce(gap_s > timeout_min * 60, F.lit(False)).cast("int")).over(in_order)
    whole = Window.partitionBy("page_view_id")
    with_stretch = activity.withColumn("_stretch", stretch)
    # The stretch of activity the page view itself belongs to; pings in other stretches do not count.
    counted = with_stretch.withColumn("_view_stretch", F.min(F.when(~F.col("is_ping"), F.col("_stretch"))).over(whole)).where(
        F.col("is_ping") & (F.col("_stretch") == F.col("_view_stretch"))
    )
    intervals = counted.groupBy("page_view_id").agg(
        F.countDistinct(F.floor(F.unix_micros("ts") / F.lit(heartbeat_s * 1_000_000))).alias("_intervals")
    )
    engaged = (F.lit(heartbeat_s) * (F.col("_intervals") - 1) + F.lit(min_visit_s)).cast("double")
    return intervals.select("page_view_id", engaged.alias("engaged_time_s"))


def match_log_and_tag(logs: DataFrame, tags: DataFrame, window_s: int) -> DataFrame:
    """Mutually nearest (log, tag) pairs of the same client and path within the window.

    Returns log_hit_id, tag_hit_id.
    """
    # Clients, paths and slots of time one window wide: people behind one NAT gateway with one
    # browser build are one client, and joined on client and path alone every log view of their
    # home page would meet every tag view of it, all in one task. A log view lies in one slot; the
    # log views a tag can match lie within one window's width of time, so in at most two slots.
    slot_us = (EARLIEST_TAG_BEFORE_LOG_S + window_s) * 1_000_000

    def slot(micros: Column) -> Column:
        return F.floor(micros / F.lit(slot_us))

    tag_us = F.unix_micros("ts")
    l = logs.withColumn("_slot", slot(F.unix_micros("ts"))).alias("l")
    t = tags.withColumn("_slot", F.explode(F.array_distinct(F.array(
        slot(tag_us - F.lit(window_s * 1_000_000)), slot(tag_us + F.lit(EARLIEST_TAG_BEFORE_LOG_S * 1_000_000)))))).alias("t")
    diff = F.unix_micros(F.col("t.ts")) - F.unix_micros(F.col("l.ts"))
    candidates = l.join(
        t,
        (F.col("l.site") == F.col("t.site"))
        & (F.col("l.visitor_key") == F.col("t.visitor_key"))
        & (F.col("l.path") == F.col("t.path"))
        & (F.col("l._slot") == F.col("t._slot"))
        & diff.between(-EARLIEST_TAG_BEFORE_LOG_S * 1_000_000, window_s * 1_000_000),
    ).select(
        F.col("l.hit_id").alias("log_hit_id"),
        F.col("t.hit_id").alias("tag_hit_id"),
        F.abs(diff).alias("gap"),
    )
    by_log = Window.partitionBy("log_hit_id").orderBy("gap", "tag_hit_id")
    by_tag = Window.partitionBy("tag_hit_id").orderBy("gap", "log_hit_id")
    return (
        candidates.withColumn("_rl", F.row_number().over(by_log))
        .withColumn("_rt", F.row_number().over(by_tag))
        .where((F.col("_rl") == 1) & (F.col("_rt") == 1))
        .select("log_hit_id", "tag_hit_id")
    )


def build_hits(weblog_hits: DataFrame, tag_events: DataFrame, window_s: int,
               heartbeat_s: int = 10, min_visit_s: int = 5, timeout_min: int = 30, materialize=stay_lazy) -> DataFrame:
    """silver.weblog_hits + silver.tag_events (page views and pings, any number of delivery dates)
    -> silver.hits rows. `materialize` as in weblogs.weblog_silver."""
    logs = log_page_views(weblog_hits)
    # The tag views, their engaged time and the pairs are read by each of the three kinds of hit
    # and by the stitching: Spark reused none of their shuffles, so each was computed four times
    # (silver.hits of a 440k-record day took 10.4 s, 5.5-7 s with these held).
    views = materialize(tag_page_views(tag_events))
    engaged = engaged_time(views, tag_events, heartbeat_s, min_visit_s, timeout_min)
    # A page view with an id but no counted ping was measured: 0 s; without an id it was not: null.
    tags = materialize(views.join(engaged, "page_view_id", "left").withColumn(
        "engaged_time_s", F.when(F.col("page_view_id").isNotNull(), F.coalesce("engaged_time_s", F.lit(0.0)))))
    pairs = materialize(match_log_and_tag(logs, tags, window_s))

    matched = (
        pairs.join(logs.alias("l"), F.col("log_hit_id") == F.col("l.hit_id"))
        .join(tags.alias("t"), F.col("tag_hit_id") == F.col("t.hit_id"))
        .select(
            F.col("t.site").alias("site"),
            F.col("t.hit_id").alias("hit_id"),
            F.col("l.ts").alias("ts"),
            F.col("t.anonymous_id").alias("visitor_id"),
            F.lit("cookie").alias("visitor_id_type"),
            F.lit("weblog+tag").alias("source"),
            F.col("t.path").alias("path"),
            F.col("t.page_view_id").alias("page_view_id"),
            F.col("t.engaged_time_s").alias("engaged_time_s"),
            *[F.coalesce(F.col(f"t.{c}"), F.col(f"l.{c}")).alias(c) for c in CAMPAIGN_FIELDS],
            *[F.col(f"t.{c}").alias(c) for c in ("browser", "os", "device_type")],
            # The web server sees the visitor's own connection; the collector may sit behind a CDN.
            F.coalesce(F.col("l.country"), F.col("t.country")).alias("country"),
            F.col("l.visitor_key").alias("visitor_key"),
        )
    )
    # A client (IP + user agent) whose tag page views of a day all carry one cookie is that cookie that day.
    cookie_of_client = (
        tags.groupBy("site", "visitor_key", "event_date")
        .agg(F.countDistinct("anonymous_id").alias("_cookies"), F.min("anonymous_id").alias("stitched_id"))
        .where(F.col("_cookies") == 1)
        .drop("_cookies")
    )
    log_only = (
        logs.join(pairs, logs["hit_id"] == pairs["log_hit_id"], "left_anti")
        .join(cookie_of_client, ["site", "visitor_key", "event_date"], "left")
        .select(
            "site", "hit_id", "ts",
            F.coalesce("stitched_id", "visitor_key").alias("visitor_id"),
            F.when(F.col("stitched_id").isNotNull(), F.lit("cookie")).otherwise(F.lit("ip_ua_hash")).alias("visitor_id_type"),
            F.lit("weblog").alias("source"),
            "path",
            F.lit(None).cast("string").alias("page_view_id"),
            F.lit(None).cast("double").alias("engaged_time_s"),
            *CAMPAIGN_FIELDS, "browser", "os", "device_type", "country",
        )
    )
    tag_only = tags.join(pairs, tags["hit_id"] == pairs["tag_hit_id"], "left_anti").select(
        "site", "hit_id", "ts",
        F.col("anonymous_id").alias("visitor_id"),
        F.lit("cookie").alias("visitor_id_type"),
        F.lit("tag").alias("source"),
        "path", "page_view_id", "engaged_time_s", *CAMPAIGN_FIELDS, "browser", "os", "device_type", "country",
    )
    return (
        matched.drop("visitor_key")
        .unionByName(log_only)
        .unionByName(tag_only)
        .withColumn("event_date", F.to_date("ts"))
    )
