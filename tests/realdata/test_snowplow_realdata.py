"""Snowplow's own test events (../shared/realdata/events, third-party files kept out of this
repository; these tests skip with the reason where the folder is absent): converted with
`clicklake convert-snowplow`, run through the silver transforms, compared with dbt-snowplow-web's
expected page views (README "Snowplow" lists where the definitions differ)."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from pyspark.sql import functions as F

from clicklake import snowplow
from clicklake.jobs import bronze, classify, hits, tag_events

pytestmark = pytest.mark.realdata

# dbt-snowplow-web drops events that arrive more than snowplow__max_session_days (3) after the
# start of the tracker's session (domain_sessionid); clicklake sessionizes by 30 minutes of
# inactivity itself, so these are page views of later sessions there.
ONLY_IN_CLICKLAKE = {
    "aa0bf877-35f0-491e-be4d-172c0fba7d14": "'long session': 8 days after its tracker session started",
    "2e65696c-a1e2-4d1a-a66a-2d1910fcba27": "'long session': 6 days after its tracker session started",
    "560269268319ea992720255ba098dc844edc3edee119adba0c29ee65999adaab": "'Unexpired session': its tracker session began 8 months earlier",
}


@pytest.fixture(scope="module")
def page_views(spark, realdata, tmp_path_factory):
    landing = tmp_path_factory.mktemp("snowplow-landing")
    report = snowplow.convert(realdata / "events" / "snowplow-dbt-web" / "snowplow_web_events.csv", str(landing))
    files = tuple(str(p) for p in sorted(landing.glob("events/dt=*/*.ndjson.gz")))
    with bronze.whole_files(spark):
        raw = bronze.read_lines(spark, files)
        # Each file keeps the delivery date of its folder, as the bronze job sets it per run.
        lines = bronze.number_lines(raw).select(
            F.col("value").alias("raw_event"), "source_file", "ingest_time", "line_number",
            F.to_date(F.regexp_extract("source_file", r"/events/dt=([0-9-]+)/", 1)).alias("dt"),
        ).localCheckpoint()
    silver = tag_events.tag_silver(lines, classify.user_agent_dimension, "snowplowanalytics.com", "key", late_days=3)
    no_logs = lines.sparkSession.createDataFrame([], "site string, hit_id string, ts timestamp, event_date date, visitor_key string, "
                                                 "path string, is_page_view boolean, " + ", ".join(f"{c} string" for c in hits.CAMPAIGN_FIELDS)
                                                 + ", browser string, os string, device_type string, country string")
    rows = hits.build_hits(no_logs, silver["events"], window_s=10).collect()
    quarantined = {r["reason"]: r["n"] for r in silver["quarantine"].groupBy("reason").agg(F.count(F.lit(1)).alias("n")).collect()}
    return report, rows, quarantined


def expected_page_views(realdata) -> dict[str, dict]:
    with open(realdata / "events" / "snowplow-dbt-web" / "snowplow_web_page_views_expected.csv", newline="") as f:
        return {r["page_view_id"]: r for r in csv.DictReader(f)}


def test_every_snowplow_event_is_converted(page_views):
    report, _, _ = page_views
    assert (report.lines, report.converted, report.skipped, sum(report.bad.values())) == (161, 160, 1, 0), "the header is skipped"


def test_page_views_match_dbt_snowplow_web(page_views, realdata):
    _, rows, quarantined = page_views
    expected = expected_page_views(realdata)
    ids = [r["page_view_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a page_view_id is one page view (the 'dupe: page_view_id' cases)"
    assert set(ids) - {None} == set(expected) | set(ONLY_IN_CLICKLAKE)
    assert ids.count(None) == 1, "the 'NULL page_view_id' page view is counted, without engaged time (dbt drops it)"
    assert quarantined == {"too_late": 2}, "the 'late arriving: device created/sent >3 days' events"


def test_engaged_time_matches_dbt_snowplow_web(page_views, realdata):
    _, rows, _ = page_views
    expected = expected_page_views(realdata)
    got = {r["page_view_id"]: r["engaged_time_s"] for r in rows if r["page_view_id"] in expected}
    assert got == {pv: float(r["engaged_time_in_s"]) for pv, r in expected.items()}
    assert max(got.values()) == 45.0, "the 'No edge cases' page view: five heartbeat intervals; its ping seven hours later does not count"


def test_enriched_tsv_samples_report_their_bad_rows(realdata, tmp_path):
    root = realdata / "events" / "snowplow-rdb-loader"
    reports = {name: snowplow.convert(root / f"{name}_input_events.tsv", str(tmp_path)).as_dict()
               for name in ("processing-spec-3", "processing-spec-4", "processing-spec-7")}
    got = {name: (r["lines"], r["converted"], r["skipped"], r["bad_reasons"]) for name, r in reports.items()}
    broken = "unknown_schema:iglu:com.snowplowanalytics.snowplow/test_schema_broken/jsonschema/"
    assert got == {
        "processing-spec-3": (5, 1, 3, {"unknown_schema:iglu:org.schema/some_unknown_name/jsonschema/1-0-0": 1}),
        "processing-spec-4": (50, 48, 0, {"short_row:129/131": 1, "short_row:130/131": 1}),
        "processing-spec-7": (3, 0, 0, {f"{broken}1-0-0": 1, f"{broken}1-0-1": 1, f"{broken}1-1-0": 1}),
    }
    assert dt.date(2014, 5, 29).isoformat() in reports["processing-spec-3"]["events_per_date"]
