"""Tag-event validation, derived time and deduplication, as tables of cases."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from clicklake.jobs import classify, tag_events

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
BASE = {
    "event_id": "e1", "event_type": "page_view", "created_at": "2026-11-28T10:00:00.000Z", "sent_at": "2026-11-28T10:00:00.100Z",
    "received_at": "2026-11-28T10:00:00.400Z", "anonymous_id": "cookie-1", "page_url": "https://www.example.com/a?utm_source=x",
    "user_agent": UA, "ip": "81.2.69.160",
}


def event(**changes) -> str:
    body = {**BASE, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...})


PROBLEM_CASES = [
    ("a valid page view", event(), None),
    ("an unknown extra field is fine", event(new_field={"a": 1}), None),
    ("properties of any JSON type become text", event(properties={"n": 5, "s": "t", "b": True}), None),
    ("empty line is skipped", "", "skip"),
    ("truncated JSON", event()[:40], "malformed_json"),
    ("a JSON array is no event", "[1, 2]", "malformed_json"),
    ("missing event_id", event(event_id=...), "missing_field:event_id"),
    ("blank anonymous_id", event(anonymous_id=""), "missing_field:anonymous_id"),
    ("missing collector time", event(received_at=...), "missing_field:received_at"),
    ("collector time that is not a time", event(received_at="yesterday"), "bad_field:received_at"),
    ("device time that is not a time", event(created_at="soon"), "bad_field:created_at"),
    ("properties of the wrong type", event(properties=[1, 2]), "bad_field:type"),
    ("properties sent as a string of JSON are no object", event(properties='{"plan": "pro"}'), "bad_field:type"),
    ("a known field given twice is malformed", event()[:-1] + ', "event_id": "e2"}', "malformed_json"),
    ("an unknown field given twice is malformed", event()[:-1] + ', "x": "1", "x": "2"}', "malformed_json"),
    ("unknown event type", event(event_type="scroll_depth"), "unknown_event_type"),
]


def test_event_problem_cases(spark):
    df = spark.createDataFrame([(c, raw) for c, raw, _ in PROBLEM_CASES], "case string, raw_event string")
    actual = tag_events.parse_events(df).select("case", "problem")
    expected = spark.createDataFrame([(c, p) for c, _, p in PROBLEM_CASES], "case string, problem string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


TIME_CASES = [
    # description, created, sent, received -> derived event time
    ("sent at once: collector time minus the 100 ms the device held it",
     "2026-11-28T10:00:00.000Z", "2026-11-28T10:00:00.100Z", "2026-11-28T10:00:00.400Z", "2026-11-28T10:00:00.300"),
    ("device clock three hours fast is corrected",
     "2026-11-28T13:00:00.000Z", "2026-11-28T13:00:00.100Z", "2026-11-28T10:00:00.400Z", "2026-11-28T10:00:00.300"),
    ("queued offline and sent the next day keeps its day",
     "2026-11-28T23:50:00.000Z", "2026-11-29T07:50:00.000Z", "2026-11-29T07:50:00.500Z", "2026-11-28T23:50:00.500"),
    ("no device times: the collector time", None, None, "2026-11-28T10:00:00.400Z", "2026-11-28T10:00:00.400"),
]


def test_each_event_is_parsed_once_and_its_field_names_read(spark):
    # JSON parsing is most of the time of this step. A map of all fields is parsed too, but only
    # for an event with a field this schema version does not know (a conditional branch).
    # Not over a local relation, whose projection the optimizer would compute away.
    df = spark.range(1).select(F.format_string('{"event_id": "e%d"}', "id").alias("raw_event"))
    plan = tag_events.parse_events(df)._jdf.queryExecution().optimizedPlan().toString()
    names_read = plan.count("jsonObjectKeys(")
    assert names_read == 1 and plan.count("from_json(") + plan.count("parse_json(") == 2 and "THEN map_concat(" in plan
    assert plan.count("array_distinct(") == 1, "the repeated-field check runs once per event"


def test_derived_event_time_cases(spark):
    rows = [(c, event(created_at=cr if cr else ..., sent_at=se if se else ..., received_at=re)) for c, cr, se, re, _ in TIME_CASES]
    df = spark.createDataFrame(rows, "case string, raw_event string")
    actual = tag_events.parse_events(df).select("case", "event_ts")
    expected = spark.createDataFrame(
        [(c, dt.datetime.fromisoformat(d)) for c, *_, d in TIME_CASES], "case string, event_ts timestamp"
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# (description, count_rows given to tag_silver, the join that takes the dropped copies out)
DROP_JOIN_CASES = [
    ("few dropped copies: broadcast to the events", lambda df: 0, "BroadcastHashJoin"),
    ("too many to broadcast: the events are shuffled to meet them", lambda df: tag_events.BROADCAST_DROPPED_COPIES_UP_TO + 1,
     "SortMergeJoin"),
]


@contextlib.contextmanager
def planner_broadcasts_nothing(spark):
    """Without a hint the planner broadcasts a small side itself: off, so only the hint does."""
    before = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        yield
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", before)


def executed_plan(df) -> str:
    df.collect()  # adaptive execution settles the joins when it runs
    return df._jdf.queryExecution().executedPlan().toString()


@pytest.mark.parametrize("case, count_rows, join", DROP_JOIN_CASES, ids=[c[0] for c in DROP_JOIN_CASES])
def test_duplicates_keep_the_first_received_and_are_counted(spark, case, count_rows, join):
    lines = [
        ("f1", 1, event(event_id="a", received_at="2026-11-28T10:00:05.000Z")),
        ("f1", 2, event(event_id="a", received_at="2026-11-28T10:00:01.000Z")),  # the original, received first
        ("f2", 1, event(event_id="a", received_at="2026-11-28T10:00:09.000Z")),
        ("f2", 2, event(event_id="b")),
        ("f2", 3, "{broken"),
    ]
    df = spark.createDataFrame(lines, "source_file string, line_number long, raw_event string").withColumn("dt", F.lit("2026-11-28").cast("date"))
    with planner_broadcasts_nothing(spark):
        out = tag_events.tag_silver(df, classify.user_agent_dimension, "www.example.com", "k", late_days=3, count_rows=count_rows)
        plan = executed_plan(out["events"])
    assert join in plan and "LeftAnti" in plan, plan
    events = {(r["event_id"], r["source_file"], r["line_number"]) for r in out["events"].collect()}
    assert events == {("a", "f1", 2), ("b", "f2", 2)}
    assert out["duplicates"].count() == 2
    assert [(r["source_file"], r["line_number"], r["reason"]) for r in out["quarantine"].collect()] == [("f2", 3, "malformed_json")]
    # every line is accounted for: unique + duplicates + quarantined
    assert len(events) + out["duplicates"].count() + out["quarantine"].count() == len(lines)


@pytest.mark.parametrize("case, count_rows, join", DROP_JOIN_CASES, ids=[c[0] for c in DROP_JOIN_CASES])
def test_a_retry_of_an_event_an_earlier_date_kept_is_a_duplicate(spark, case, count_rows, join):
    lines = [
        ("f1", 1, event(event_id="a", received_at="2026-11-28T00:00:09.000Z")),  # its first copy came on 11-27
        ("f1", 2, event(event_id="b", received_at="2026-11-28T00:00:10.000Z")),
    ]
    df = spark.createDataFrame(lines, "source_file string, line_number long, raw_event string").withColumn("dt", F.lit("2026-11-28").cast("date"))
    earlier = spark.createDataFrame([("a",), ("z",)], "event_id string")
    with planner_broadcasts_nothing(spark):
        out = tag_events.tag_silver(df, classify.user_agent_dimension, "www.example.com", "k", late_days=3,
                                    earlier_event_ids=earlier, count_rows=count_rows)
        assert join in executed_plan(out["events"])
    assert [r["event_id"] for r in out["events"].collect()] == ["b"]
    assert [r["source_file"] for r in out["duplicates"].collect()] == ["f1"], "the dropped copy is counted for its file"


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# (description, line) -> (browser, device_type, bot_reason, country) of the event kept
ENRICHMENT_CASES = [
    ("a desktop browser in a British block", event(event_id="a"), ("Chrome", "desktop", None, "GB")),
    ("a crawler from a US block", event(event_id="b", user_agent=GOOGLEBOT, ip="8.8.8.8"),
     ("Googlebot", "bot", "ua:search_crawler:googlebot", "US")),
    ("no user agent, a private address", event(event_id="c", user_agent=..., ip="10.1.2.3"), (None, "bot", "empty_user_agent", None)),
    ("an IPv6 address", event(event_id="d", ip="2001:4860:4860::8888"), ("Chrome", "desktop", None, "US")),
    ("the first received copy's address and agent, not a retry's",
     event(event_id="e", ip="1.0.16.1", received_at="2026-11-28T10:00:00.400Z"), ("Chrome", "desktop", None, "JP")),
]
RETRY_OF_E = event(event_id="e", ip="8.8.8.8", user_agent=GOOGLEBOT, received_at="2026-11-28T10:05:00.000Z")


def test_events_get_user_agent_fields_and_country(spark):
    """The dimensions are built from the parsed events, dropped copies and all: each event still
    gets its own copy's values."""
    lines = [(c, 1, raw) for c, raw, _ in ENRICHMENT_CASES] + [("a retry of e", 1, RETRY_OF_E), ("not json", 1, "{")]
    df = spark.createDataFrame(lines, "source_file string, line_number long, raw_event string").withColumn("dt", F.lit("2026-11-28").cast("date"))
    out = tag_events.tag_silver(df, classify.user_agent_dimension, "www.example.com", "k", late_days=3)
    got = {r["source_file"]: (r["browser"], r["device_type"], r["bot_reason"], r["country"]) for r in out["events"].collect()}
    assert got == {c: fields for c, _, fields in ENRICHMENT_CASES}


# (description, event line, expected properties)
PROPERTY_CASES = [
    ("no properties, no extra field", event(), None),
    ("the event's own properties", event(properties={"plan": "pro"}), {"plan": "pro"}),
    ("a field this schema version does not know is kept", event(consent="granted"), {"consent": "granted"}),
    ("a non-string extra field is kept as JSON text", event(cart={"items": 2}, score=3),
     {"cart": '{"items":2}', "score": "3"}),
    ("a property of the same name wins over an extra field", event(properties={"plan": "pro"}, plan="free"), {"plan": "pro"}),
    ("none from an event with a field given twice (it is quarantined)", event()[:-1] + ', "x": "1", "x": "2"}', None),
]


def test_unknown_fields_are_kept_in_properties(spark):
    df = spark.createDataFrame([(c, raw) for c, raw, _ in PROPERTY_CASES], "case string, raw_event string")
    got = {r["case"]: r["properties"] for r in tag_events.parse_events(df).select("case", "properties").collect()}
    assert got == {c: p for c, _, p in PROPERTY_CASES}


def test_late_and_future_events_are_quarantined_with_a_reason(spark):
    lines = [
        ("in time", event(event_id="a", received_at="2026-11-27T23:00:00.000Z")),
        ("three days late is allowed", event(event_id="b", created_at=..., sent_at=..., received_at="2026-11-25T10:00:00.000Z")),
        ("four days late", event(event_id="c", created_at=..., sent_at=..., received_at="2026-11-24T10:00:00.000Z")),
        ("two days in the future", event(event_id="d", created_at=..., sent_at=..., received_at="2026-11-30T10:00:00.000Z")),
    ]
    df = spark.createDataFrame(lines, "source_file string, raw_event string").select(
        "source_file", "raw_event", F.lit(1).cast("long").alias("line_number"), F.lit("2026-11-28").cast("date").alias("dt"))
    out = tag_events.tag_silver(df, classify.user_agent_dimension, "www.example.com", "k", late_days=3)
    quarantined = {r["source_file"]: (r["reason"], r["raw"]) for r in out["quarantine"].collect()}
    sent = dict(lines)
    assert quarantined == {"four days late": ("too_late", sent["four days late"]),
                           "two days in the future": ("future_timestamp", sent["two days in the future"])}
    # The parsed frame, materialized and read by several passes, carries the raw event only there.
    kept_raw = {r["source_file"] for r in out["parsed"].where(F.col("raw_event").isNotNull()).collect()}
    assert kept_raw == set(quarantined)


def test_event_schema_matches_the_json_schema_file():
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "tag_event.v1.schema.json").read_text())
    spark_fields = {f.name for f in tag_events.EVENT_SCHEMA.fields} - {"_corrupt"}
    assert set(schema["properties"]) == spark_fields
    assert set(schema["required"]) == set(tag_events.REQUIRED_FIELDS)
    assert set(schema["properties"]["event_type"]["enum"]) == set(tag_events.EVENT_TYPES)
