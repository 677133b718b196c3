"""Tag-event JSON lines -> validated, typed, deduplicated events (silver.tag_events). Pure.

The wire format is schemas/tag_event.v1.schema.json; EVENT_SCHEMA is the same contract for Spark
(a test keeps the two in step).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from clicklake.jobs import classify, stay_lazy
from clicklake.jobs.weblogs import date_window_problem, is_quarantined, quarantine_rows, raw_where_quarantined

EVENT_TYPES = ("page_view", "page_ping", "link_click", "download", "custom")
REQUIRED_FIELDS = ("event_id", "event_type", "received_at", "anonymous_id")
TIMESTAMP_FIELDS = ("created_at", "sent_at", "received_at")

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("created_at", T.StringType()),
        T.StructField("sent_at", T.StringType()),
        T.StructField("received_at", T.StringType()),
        T.StructField("anonymous_id", T.StringType()),
        T.StructField("user_id", T.StringType()),
        T.StructField("page_view_id", T.StringType()),
        T.StructField("page_url", T.StringType()),
        T.StructField("page_title", T.StringType()),
        T.StructField("referrer", T.StringType()),
        T.StructField("user_agent", T.StringType()),
        T.StructField("ip", T.StringType()),
        T.StructField("screen", T.StringType()),
        T.StructField("viewport", T.StringType()),
        T.StructField("tracker", T.StringType()),
        T.StructField("tracker_version", T.StringType()),
        T.StructField("properties", T.MapType(T.StringType(), T.StringType())),
        T.StructField("_corrupt", T.StringType()),
    ]
)


def _iso_ts(value: Column) -> Column:
    return F.try_to_timestamp(value)


FIELDS_AS_TEXT = T.MapType(T.StringType(), T.StringType())
KNOWN_FIELDS = tuple(f.name for f in EVENT_SCHEMA.fields if f.name != "_corrupt")


def _properties_with_extra_fields(keys: Column) -> Column:
    """The event's properties plus every top-level field this schema version does not know (a
    newer tracker's field is kept, as JSON text when it is not a string, never dropped); a
    property of the same name wins. `keys`: the event's top-level field names. The event is
    parsed a second time, into a map of every field's text, only when it has such a field."""
    props = F.col("e.properties")
    own = F.coalesce(props, F.create_map().cast("map<string,string>"))
    every_field = F.from_json("raw_event", FIELDS_AS_TEXT)
    extras = F.map_filter(every_field, lambda k, _: ~k.isin(*KNOWN_FIELDS) & ~F.array_contains(F.map_keys(own), k))
    has_extras = F.exists(keys, lambda k: ~k.isin(*KNOWN_FIELDS))
    return F.when(has_extras, F.map_concat(own, extras)).otherwise(props)


def parse_events(lines: DataFrame) -> DataFrame:
    """bronze.tag_events rows -> typed fields plus `problem` (null, 'skip', or a quarantine reason).

    Each line is parsed by the typed schema, whose corrupt-record column flags a field of the
    wrong type, and its top-level field names are read (null for anything but a JSON object).
    JSON parsing is most of this step's time: a check of validity and a map of all fields had
    been two more parses of every line."""
    parsed = lines.select(
        "*",
        F.from_json("raw_event", EVENT_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}).alias("e"),
        F.json_object_keys("raw_event").alias("_keys"),
    )
    keys = F.col("_keys")
    # A field given twice is malformed: parsers disagree on which copy counts (the typed parse
    # keeps the last), and a map with the key twice cannot be built. A column of its own: the
    # problem and the properties both ask, each in a condition Spark does not share.
    parsed = parsed.withColumn("_repeated_field", F.size(keys) != F.size(F.array_distinct(keys)))
    repeated_field = F.col("_repeated_field")
    problem = F.when(F.trim("raw_event") == "", F.lit("skip")).when(keys.isNull() | repeated_field, F.lit("malformed_json"))
    problem = problem.when(F.col("e._corrupt").isNotNull(), F.lit("bad_field:type"))
    for name in REQUIRED_FIELDS:
        problem = problem.when(classify.none_if_blank(F.col(f"e.{name}")).isNull(), F.lit(f"missing_field:{name}"))
    for name in TIMESTAMP_FIELDS:
        problem = problem.when(F.col(f"e.{name}").isNotNull() & _iso_ts(F.col(f"e.{name}")).isNull(), F.lit(f"bad_field:{name}"))
    problem = problem.when(~F.col("e.event_type").isin(*EVENT_TYPES), F.lit("unknown_event_type"))
    properties = F.when(keys.isNotNull() & ~repeated_field, _properties_with_extra_fields(keys))

    created, sent, received = (_iso_ts(F.col(f"e.{n}")) for n in TIMESTAMP_FIELDS)
    # Snowplow's derived timestamp: the collector's clock, minus how long the device held the event.
    held_micros = F.when(created.isNotNull() & sent.isNotNull(), F.unix_micros(sent) - F.unix_micros(created)).otherwise(F.lit(0))
    event_ts = F.timestamp_micros(F.unix_micros(received) - F.greatest(held_micros, F.lit(0)))
    return parsed.select(
        "*",
        problem.alias("problem"),
        F.col("e.event_id").alias("event_id"),
        F.col("e.event_type").alias("event_type"),
        created.alias("device_created_ts"),
        sent.alias("device_sent_ts"),
        received.alias("collector_ts"),
        event_ts.alias("event_ts"),
        F.col("e.anonymous_id").alias("anonymous_id"),
        classify.none_if_blank(F.col("e.user_id")).alias("user_id"),
        F.col("e.page_view_id").alias("page_view_id"),
        F.col("e.page_url").alias("page_url_raw"),
        F.col("e.page_title").alias("page_title"),
        classify.none_if_blank(F.col("e.referrer")).alias("referrer_raw"),
        classify.none_if_blank(F.col("e.user_agent")).alias("user_agent"),
        F.col("e.ip").alias("ip_raw"),
        F.col("e.screen").alias("screen"),
        F.col("e.viewport").alias("viewport"),
        F.col("e.tracker").alias("tracker"),
        F.col("e.tracker_version").alias("tracker_version"),
        properties.alias("properties"),
    ).drop("e", "_keys", "_repeated_field")


def client_ip() -> Column:
    """The event's anonymized address, from parsed rows."""
    return classify.anonymize_ip(F.col("ip_raw"))


def type_events(parsed: DataFrame, default_site: str, secret: str) -> DataFrame:
    """Parsed rows without problems -> silver.tag_events columns (before user-agent fields)."""
    page_url = classify.redact_pii(F.col("page_url_raw"))
    query = classify.url_query(page_url)
    out = parsed.select(
        "dt",
        F.coalesce(classify.url_host(F.col("page_url_raw")), F.lit(default_site)).alias("site"),
        "event_id",
        "event_type",
        "event_ts",
        F.to_date("event_ts").alias("event_date"),
        "device_created_ts",
        "device_sent_ts",
        "collector_ts",
        "anonymous_id",
        "user_id",
        "page_view_id",
        page_url.alias("page_url"),
        classify.url_path(page_url).alias("path"),
        query.alias("_query"),
        "page_title",
        classify.redact_pii(F.col("referrer_raw")).alias("referrer"),
        "user_agent",
        client_ip().alias("client_ip"),
        classify.visitor_key(F.col("ip_raw"), F.col("user_agent"), secret).alias("visitor_key"),
        "screen",
        "viewport",
        "tracker",
        "tracker_version",
        "properties",
        "source_file",
        "line_number",
    )
    # One projection: chained withColumn calls would inline the URL regexes once per column.
    return out.withColumns(classify.campaign_columns(F.coalesce(F.col("_query"), F.lit("")), F.col("referrer"))).drop("_query")


def first_received(events: DataFrame) -> Column:
    """Row rank within an event_id: 1 for the copy the collector received first."""
    order = Window.partitionBy("event_id").orderBy("collector_ts", "source_file", "line_number")
    return F.row_number().over(order)


# Dropped copies up to this many are sent to every task to be taken out of the events (a
# broadcast join); more, and the events are shuffled to meet them (a replayed day of files).
BROADCAST_DROPPED_COPIES_UP_TO = 500_000


def dropped_copies(typed: DataFrame, earlier_event_ids: DataFrame | None = None) -> DataFrame:
    """(source_file, line_number) of every copy of an event that is not the one kept: not the
    first received of its event_id, or an event_id that an earlier delivery date kept.

    Ranked on the four columns that decide, not on whole events: the window shuffles and sorts
    every row it ranks, and most events have one copy."""
    keys = typed.select("event_id", "collector_ts", "source_file", "line_number")
    ranked = keys.withColumn("_rank", first_received(keys))
    if earlier_event_ids is not None:
        seen = earlier_event_ids.select("event_id", F.lit(True).alias("_seen_earlier")).distinct()
        ranked = ranked.join(seen, "event_id", "left").where(F.col("_seen_earlier").isNotNull() | (F.col("_rank") > 1))
    else:
        ranked = ranked.where(F.col("_rank") > 1)
    return ranked.select("source_file", "line_number")


def tag_silver(lines: DataFrame, ua_dimension_of, default_site: str, secret: str, late_days: int, materialize=stay_lazy,
               earlier_event_ids: DataFrame | None = None, count_rows=None) -> dict[str, DataFrame]:
    """bronze.tag_events -> {"events": unique valid events, "quarantine", "parsed" (with problem;
    raw_event only on quarantined rows), "duplicates": one row per dropped copy}. `materialize` as in weblogs.weblog_silver.

    earlier_event_ids (event_id): events kept by earlier delivery dates; a retry of one of them
    delivered now is a duplicate too (the first received copy is the one kept).
    count_rows(df) -> int, for a materialized frame: given, the dropped copies are broadcast to
    the events when there are few (BROADCAST_DROPPED_COPIES_UP_TO); without it the planner chooses."""
    parsed = parse_events(lines).withColumn(
        "problem",
        F.coalesce("problem", date_window_problem(F.to_date("event_ts"), F.col("dt"), late_days)),
    )
    parsed = materialize(parsed.withColumn("raw_event", raw_where_quarantined("raw_event")))
    valid = parsed.where(F.col("problem").isNull())
    typed = type_events(valid, default_site, secret)
    dropped = materialize(dropped_copies(typed, earlier_event_ids))
    if count_rows is not None and count_rows(dropped) <= BROADCAST_DROPPED_COPIES_UP_TO:
        dropped = F.broadcast(dropped)
    events = typed.join(dropped, ["source_file", "line_number"], "left_anti")
    # The dimensions come from the valid parsed rows, dropped copies included (the same user
    # agents and addresses): from `events` each was a pass that typed every event and took the
    # dropped copies out again (the countries' took 28 s of a 10M-record day; 2026-12-01).
    with_ua = classify.with_country(classify.with_user_agent_fields(events, ua_dimension_of(valid)),
                                    addresses=valid.select(client_ip().alias("client_ip")))
    events = with_ua.withColumns({"bot_reason": F.col("ua_bot_reason"), "is_bot": F.col("ua_bot_reason").isNotNull()})
    quarantine = quarantine_rows(parsed.where(is_quarantined()), "tag_event", "raw_event")
    duplicates = dropped.select("source_file")
    return {"events": events, "quarantine": quarantine, "parsed": parsed, "duplicates": duplicates}
