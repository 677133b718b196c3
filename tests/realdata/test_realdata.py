"""The parser on real public access logs (../shared/realdata, third-party files kept out of this
repository; these tests skip with the reason where the folder is absent)."""

from __future__ import annotations

import csv

import pytest
from pyspark.sql import functions as F

from clicklake.jobs import bronze, gold, logformats, weblogs

pytestmark = pytest.mark.realdata

# file under weblogs/ -> (format detected, lines, parsed, quarantined, skipped). Skipped lines are
# W3C directives, blank lines, '#' comments and TCP-only load balancer entries (see SOURCES.md).
EXPECTED = {
    "apache_logs": ("combined", 10_000, 9_999, 1, 0),  # line 8899: user agent without closing quote
    "elastic-beats/apache_access_darwin-2.4.23.log": ("common", 6, 6, 0, 0),
    "elastic-beats/apache_access_ssl-request.log": ("ssl_request", 2, 2, 0, 0),
    "elastic-beats/apache_access_test-vhost.log": ("vhost_combined", 1, 1, 0, 0),
    "elastic-beats/apache_access_test.log": ("combined", 7, 7, 0, 0),  # CLF, Combined and vhost lines mixed
    "elastic-beats/aws_elb_application-lb-http.log": ("alb", 11, 10, 0, 1),
    "elastic-beats/aws_elb_elb-http.log": ("elb", 6, 5, 0, 1),
    "elastic-beats/aws_elb_example-alb-http.log": ("alb", 10, 9, 0, 1),
    "elastic-beats/iis_access_access-full.log": ("iis", 5, 1, 0, 4),
    "elastic-beats/iis_access_test-iis-7.5.log": ("iis", 8, 4, 0, 4),  # incl. the Markdown-mangled line
    "elastic-beats/iis_access_test-ipv6zone.log": ("iis", 5, 1, 0, 4),
    "elastic-beats/iis_access_test-x-forward-for-extended.log": ("iis_headerless", 6, 6, 0, 0),
    "elastic-beats/iis_access_test.log": ("iis", 17, 5, 0, 12),  # three #Fields headers
    "elastic-beats/nginx_access_access.log": ("combined", 13, 13, 0, 0),
    "elastic-beats/nginx_access_test-with-host.log": ("vhost_combined", 10, 10, 0, 0),
    "elastic-beats/nginx_access_test.log": ("nginx_xff", 7, 7, 0, 0),
    "goaccess/build-test_access.log": ("vhost_combined", 4, 4, 0, 0),
    "matomo-log-analytics/alb.log": ("alb", 1, 1, 0, 0),
    "matomo-log-analytics/amazon_cloudfront_rtmp.log": ("cloudfront_rtmp", 4, 2, 0, 2),
    "matomo-log-analytics/amazon_cloudfront_web.log": ("cloudfront_web", 3, 1, 0, 2),
    "matomo-log-analytics/bunny.log": ("bunny", 1, 1, 0, 0),
    "matomo-log-analytics/caddy_json.log": ("caddy_json", 3, 3, 0, 0),
    "matomo-log-analytics/common.log": ("common", 1, 1, 0, 0),
    "matomo-log-analytics/common_complete.log": ("vhost_combined", 1, 1, 0, 0),
    "matomo-log-analytics/common_encoding_big5.log": ("vhost_combined", 1, 1, 0, 0),
    "matomo-log-analytics/common_vhost.log": ("common_vhost", 1, 1, 0, 0),
    # Needs a user-supplied pattern (its date is "February - 10, 2012"): see the custom test below.
    "matomo-log-analytics/custom_regex_custom_date.log": ("common", 1, 0, 1, 0),
    "matomo-log-analytics/elb.log": ("elb", 3, 1, 0, 2),
    "matomo-log-analytics/gandi.log": ("gandi", 2, 2, 0, 0),
    "matomo-log-analytics/haproxy.log": ("haproxy", 1, 1, 0, 0),
    "matomo-log-analytics/icecast2.log": ("icecast2", 1, 1, 0, 0),
    "matomo-log-analytics/iis.log": ("iis", 5, 1, 0, 4),
    "matomo-log-analytics/iis_custom.log": ("iis_advanced", 10, 3, 0, 7),
    # One request has an empty status (REQ_BAD_SERVER_CLOSED_CONNECTION: no response): bad_status.
    "matomo-log-analytics/incapsula_w3c.log": ("incapsula", 6, 1, 1, 4),
    "matomo-log-analytics/logs_to_tests.log": ("combined", 6, 4, 0, 2),
    "matomo-log-analytics/ncsa_extended.log": ("combined", 1, 1, 0, 0),
    "matomo-log-analytics/netscaler.log": ("netscaler", 5, 1, 0, 4),
    "matomo-log-analytics/nginx_json.log": ("nginx_json", 2, 2, 0, 0),
    "matomo-log-analytics/ovh.log": ("ovh", 1, 1, 0, 0),
    "matomo-log-analytics/s3.log": ("s3", 1, 1, 0, 0),
    "matomo-log-analytics/shoutcast.log": ("shoutcast", 4, 1, 0, 3),
    "matomo-log-analytics/splitted_date_and_time.log": ("w3c", 2, 1, 0, 1),
    "matomo-log-analytics/static_ignores.log": ("vhost_combined", 4, 4, 0, 0),
    "matomo-log-analytics/traefik.log": ("traefik", 1, 1, 0, 0),
    "matomo-log-analytics/traefik_json.log": ("traefik_json", 1, 1, 0, 0),
}


def read_as_bronze(spark, paths):
    return bronze.read_weblog_files(spark, tuple(str(p) for p in paths))


@pytest.fixture(scope="module")
def sample_stats(spark, realdata):
    root = realdata / "weblogs"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    lines = read_as_bronze(spark, files)
    parsed = weblogs.parse_lines(lines)
    rows = parsed.groupBy("source_file", "log_format").agg(
        F.count(F.lit(1)).alias("lines"),
        F.count_if(F.col("problem").isNull()).alias("parsed"),
        F.count_if(F.col("problem").isNotNull() & (F.col("problem") != "skip")).alias("quarantined"),
        F.count_if(F.col("problem") == "skip").alias("skipped"),
    ).collect()
    prefix = root.resolve().as_uri()
    by_name = {r["source_file"].replace("file:///", "file:/").split(prefix.replace("file:///", "file:/") + "/", 1)[-1]: r for r in rows}
    return files, by_name


def test_every_sample_file_is_detected_and_counted(sample_stats):
    files, stats = sample_stats
    assert len(files) == len(EXPECTED) and len(stats) == len(EXPECTED), sorted(set(stats) ^ set(EXPECTED))
    actual = {name: (r["log_format"], r["lines"], r["parsed"], r["quarantined"], r["skipped"]) for name, r in stats.items()}
    assert actual == EXPECTED


def test_no_sample_file_loses_a_line(sample_stats):
    _, stats = sample_stats
    for name, r in stats.items():
        assert r["parsed"] + r["quarantined"] + r["skipped"] == r["lines"], name


def test_custom_date_sample_parses_with_a_user_pattern(spark, realdata):
    lines = read_as_bronze(spark, [realdata / "weblogs" / "matomo-log-analytics" / "custom_regex_custom_date.log"])
    custom = logformats.CustomFormat(
        r'^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\S+)$',
        "MMMM - dd, yyyy:HH:mm:ss",
    )
    row = weblogs.parse_lines(lines, logformats.fixed_format(lines, "custom"), custom).first()
    assert (row["problem"], row["client_raw"], str(row["ts"]), row["method"], row["path_raw"], row["status"]) == (
        None, "1.2.3.4", "2012-02-10 16:42:07", "GET", "/", 301)


def test_apache_sample_times_are_utc_and_bots_are_found(spark, realdata):
    lines = read_as_bronze(spark, [realdata / "weblogs" / "apache_logs"])
    parsed = weblogs.parse_lines(lines).where("problem IS NULL")
    span = parsed.agg(F.min("ts").alias("first"), F.max("ts").alias("last")).first()
    assert str(span["first"]).startswith("2015-05-17") and str(span["last"]).startswith("2015-05-20")
    from clicklake.jobs import classify

    agents = parsed.select("user_agent")
    bots = classify.user_agent_dimension(agents).where("ua_bot_reason IS NOT NULL").select("user_agent")
    bot_lines = parsed.join(bots, "user_agent").count()
    # SOURCES.md: "about 1400 lines have bot or crawler user agents"
    assert 1_000 <= bot_lines <= 2_500


def test_our_source_categories_agree_with_googles_list(spark, realdata):
    google = {}
    with open(realdata / "events" / "snowplow-dbt-web" / "snowplow_web_dim_ga4_source_categories.csv", newline="") as f:
        for row in csv.DictReader(f):
            google[row["source"].lower()] = row["source_category"].replace("SOURCE_CATEGORY_", "")
    ours = {r["source"]: r["category"] for r in gold.source_categories(spark).collect()}
    shared = sorted(set(ours) & set(google))
    assert len(shared) >= 20
    assert {s: ours[s] for s in shared} == {s: google[s] for s in shared}
