"""The parser on real public access logs (../shared/realdata, third-party files kept out of this
repository; these tests skip with the reason where the folder is absent)."""

from __future__ import annotations

import csv

import pytest
from pyspark.sql import functions as F

from clicklake.jobs import gold, weblogs

pytestmark = pytest.mark.realdata


def parse_stats(spark, path) -> dict:
    lines = spark.read.text(str(path)).withColumnRenamed("value", "line")
    by_problem = {r["problem"]: r["count"] for r in weblogs.parse_combined(lines).groupBy("problem").count().collect()}
    return {
        "lines": lines.count(),
        "parsed": by_problem.pop(None, 0),
        "skipped": by_problem.pop("skip", 0),
        "quarantined": sum(by_problem.values()),
    }


def test_apache_combined_sample_parses_at_least_9999_of_10000_lines(spark, realdata):
    stats = parse_stats(spark, realdata / "weblogs" / "apache_logs")
    assert stats["lines"] == 10_000
    assert stats["parsed"] >= 9_999
    assert stats["parsed"] + stats["quarantined"] + stats["skipped"] == stats["lines"]


def test_apache_sample_times_are_utc_and_bots_are_found(spark, realdata):
    lines = spark.read.text(str(realdata / "weblogs" / "apache_logs")).withColumnRenamed("value", "line")
    parsed = weblogs.parse_combined(lines).where("problem IS NULL")
    span = parsed.agg(F.min("ts").alias("first"), F.max("ts").alias("last")).first()
    assert str(span["first"]).startswith("2015-05-17") and str(span["last"]).startswith("2015-05-20")
    from clicklake.jobs import classify

    agents = parsed.select("user_agent")
    bots = classify.user_agent_dimension(agents).where("ua_bot_reason IS NOT NULL").select("user_agent")
    bot_lines = parsed.join(bots, "user_agent").count()
    # SOURCES.md: "about 1400 lines have bot or crawler user agents"
    assert 1_000 <= bot_lines <= 2_500


@pytest.mark.parametrize("name", ["matomo-log-analytics/common.log", "matomo-log-analytics/ncsa_extended.log",
                                  "matomo-log-analytics/logs_to_tests.log", "elastic-beats/apache_access_darwin-2.4.23.log"])
def test_common_and_combined_samples_parse_every_line(spark, realdata, name):
    stats = parse_stats(spark, realdata / "weblogs" / name)
    assert stats["parsed"] + stats["skipped"] == stats["lines"] and stats["quarantined"] == 0, stats


def test_no_sample_file_loses_a_line(spark, realdata):
    """Every format, supported or not yet: each line is parsed, quarantined or skipped."""
    files = sorted(p for p in (realdata / "weblogs").rglob("*") if p.is_file())
    assert len(files) >= 40
    for path in files:
        stats = parse_stats(spark, path)
        assert stats["parsed"] + stats["quarantined"] + stats["skipped"] == stats["lines"], path.name


def test_our_source_categories_agree_with_googles_list(spark, realdata):
    google = {}
    with open(realdata / "events" / "snowplow-dbt-web" / "snowplow_web_dim_ga4_source_categories.csv", newline="") as f:
        for row in csv.DictReader(f):
            google[row["source"].lower()] = row["source_category"].replace("SOURCE_CATEGORY_", "")
    ours = {r["source"]: r["category"] for r in gold.source_categories(spark).collect()}
    shared = sorted(set(ours) & set(google))
    assert len(shared) >= 20
    assert {s: ours[s] for s in shared} == {s: google[s] for s in shared}
