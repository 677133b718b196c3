"""Joining log page views with tag page views: one page view, one visitor."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Row

from clicklake.jobs import hits

T0 = dt.datetime(2026, 11, 28, 10, 0, 0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def log(hit_id, key, path, seconds):
    return Row(site="s", hit_id=hit_id, ts=at(seconds), event_date=T0.date(), dt=T0.date(), visitor_key=key, path=path,
               is_page_view=True, referrer=None, referrer_host=None, utm_source=None, utm_medium=None, utm_campaign=None,
               utm_term=None, utm_content=None, click_id_type=None, browser="Chrome", os="Windows", device_type="desktop",
               country="GB")


def tag(event_id, key, cookie, path, seconds, collector_delay=0.3, is_bot=False, source_file="f", dt_=None):
    return Row(site="s", event_id=event_id, event_type="page_view", is_bot=is_bot, event_ts=at(seconds),
               collector_ts=at(seconds + collector_delay), dt=dt_ or T0.date(), source_file=source_file, line_number=1,
               event_date=T0.date(), visitor_key=key, anonymous_id=cookie, path=path,
               referrer=None, referrer_host=None, utm_source="news", utm_medium="email", utm_campaign=None,
               utm_term=None, utm_content=None, click_id_type=None, browser="Chrome", os="Windows", device_type="desktop",
               country="FR")  # the collector sits behind a CDN in another country


CAMPAIGN_SCHEMA = ", ".join(f"{c} string" for c in hits.CAMPAIGN_FIELDS)
CLIENT_SCHEMA = "browser string, os string, device_type string, country string"
LOG_SCHEMA = (f"site string, hit_id string, ts timestamp, event_date date, dt date, visitor_key string, path string, "
              f"is_page_view boolean, {CAMPAIGN_SCHEMA}, {CLIENT_SCHEMA}")
TAG_SCHEMA = (f"site string, event_id string, event_type string, is_bot boolean, event_ts timestamp, collector_ts timestamp, "
              f"dt date, source_file string, line_number int, event_date date, visitor_key string, anonymous_id string, "
              f"path string, {CAMPAIGN_SCHEMA}, {CLIENT_SCHEMA}")


def build(spark, logs, tags):
    out = hits.build_hits(spark.createDataFrame(logs, LOG_SCHEMA), spark.createDataFrame(tags, TAG_SCHEMA), window_s=10)
    return {r["hit_id"]: r for r in out.collect()}


def test_hit_cases(spark):
    logs = [
        log("L1", "k1", "/a", 0),        # matched by T1
        log("L2", "k1", "/b", 60),       # tag lost: stitched to k1's cookie
        log("L3", "k2", "/a", 0),        # no tag at all (script blocker): keeps the hash
        log("L4", "k3", "/a", 0),        # tag arrives 30 s later: outside the window, not the same page view
        log("L5", "k4", "/r", 0),        # a reload within seconds: two log page views ...
        log("L6", "k4", "/r", 4),
        log("L7", "k5", "/n", 0),        # one client (NAT + same browser) with two cookies: no stitching
        log("L8", "k5", "/n", 100),
        log("L9", "k5", "/x", 200),
    ]
    tags = [
        tag("T1", "k1", "c1", "/a", 1.2),
        tag("T4", "k3", "c3", "/a", 30),
        tag("T5", "k4", "c4", "/r", 1.0),  # ... and two tag page views: paired nearest with nearest
        tag("T6", "k4", "c4", "/r", 5.0),
        tag("T7", "k5", "c5a", "/n", 0.5),
        tag("T8", "k5", "c5b", "/n", 100.5),
        tag("T9", "k9", "c9", "/cached", 0),  # served from a CDN cache: only the tag saw it
        tag("TB", "k9", "c9", "/x", 0, is_bot=True),
    ]
    out = build(spark, logs, tags)
    got = {h: (r["visitor_id"], r["visitor_id_type"], r["source"], r["ts"]) for h, r in out.items()}
    assert got == {
        "T1": ("c1", "cookie", "weblog+tag", at(0)),
        "L2": ("c1", "cookie", "weblog", at(60)),
        "L3": ("k2", "ip_ua_hash", "weblog", at(0)),
        "L4": ("c3", "cookie", "weblog", at(0)),
        "T4": ("c3", "cookie", "tag", at(30)),
        "T5": ("c4", "cookie", "weblog+tag", at(0)),
        "T6": ("c4", "cookie", "weblog+tag", at(4)),
        "T7": ("c5a", "cookie", "weblog+tag", at(0)),
        "T8": ("c5b", "cookie", "weblog+tag", at(100)),
        "L9": ("k5", "ip_ua_hash", "weblog", at(200)),
        "T9": ("c9", "cookie", "tag", at(0)),
    }, "bot tag page views are dropped; every other page view appears exactly once"
    assert out["T1"]["utm_source"] == "news", "campaign fields come from the tag when it has them"
    assert (out["T1"]["country"], out["L2"]["country"], out["T9"]["country"]) == ("GB", "GB", "FR"), \
        "the web server's view of the client's country wins; tag-only page views keep the collector's"


def test_a_retried_tag_delivered_on_two_days_counts_once(spark):
    tags = [
        tag("T1", "k1", "c1", "/a", 0, collector_delay=0.3, source_file="day1", dt_=T0.date()),
        tag("T1", "k1", "c1", "/a", 0, collector_delay=9000, source_file="day2", dt_=T0.date() + dt.timedelta(days=1)),
    ]
    out = build(spark, [log("L0", "k0", "/z", 0)], tags)
    assert sorted(out) == ["L0", "T1"]
