"""Joining log page views with tag page views: one page view, one visitor."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import Row

from clicklake.jobs import hits

T0 = dt.datetime(2026, 11, 28, 10, 0, 0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def log(hit_id, key, path, seconds):
    return Row(site="s", hit_id=hit_id, ts=at(seconds), event_date=at(seconds).date(), dt=at(seconds).date(), visitor_key=key, path=path,
               is_page_view=True, referrer=None, referrer_host=None, utm_source=None, utm_medium=None, utm_campaign=None,
               utm_term=None, utm_content=None, click_id_type=None, browser="Chrome", os="Windows", device_type="desktop",
               country="GB")


def tag(event_id, key, cookie, path, seconds, collector_delay=0.3, is_bot=False, source_file="f", dt_=None,
        page_view_id=None, event_type="page_view"):
    return Row(site="s", event_id=event_id, event_type=event_type, is_bot=is_bot, event_ts=at(seconds),
               collector_ts=at(seconds + collector_delay), dt=dt_ or T0.date(), source_file=source_file, line_number=1,
               event_date=at(seconds).date(), visitor_key=key, anonymous_id=cookie, page_view_id=page_view_id, path=path,
               referrer=None, referrer_host=None, utm_source="news", utm_medium="email", utm_campaign=None,
               utm_term=None, utm_content=None, click_id_type=None, browser="Chrome", os="Windows", device_type="desktop",
               country="FR")  # the collector sits behind a CDN in another country


CAMPAIGN_SCHEMA = ", ".join(f"{c} string" for c in hits.CAMPAIGN_FIELDS)
CLIENT_SCHEMA = "browser string, os string, device_type string, country string"
LOG_SCHEMA = (f"site string, hit_id string, ts timestamp, event_date date, dt date, visitor_key string, path string, "
              f"is_page_view boolean, {CAMPAIGN_SCHEMA}, {CLIENT_SCHEMA}")
TAG_SCHEMA = (f"site string, event_id string, event_type string, is_bot boolean, event_ts timestamp, collector_ts timestamp, "
              f"dt date, source_file string, line_number int, event_date date, visitor_key string, anonymous_id string, "
              f"page_view_id string, "
              f"path string, {CAMPAIGN_SCHEMA}, {CLIENT_SCHEMA}")


def build(spark, logs, tags):
    # Only the columns silver.build keeps of the two inputs: build_hits must need no other.
    out = hits.build_hits(spark.createDataFrame(logs, LOG_SCHEMA).select(*hits.WEBLOG_HIT_COLUMNS),
                          spark.createDataFrame(tags, TAG_SCHEMA).select(*hits.TAG_EVENT_COLUMNS), window_s=10)
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
        log("LN", "k1", "/c", 86400),    # the next day, no tag view of k1 that day: not stitched by
                                         # yesterday's cookie (the next day's hits must not depend
                                         # on which of their runs came last: hits.py says why)
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
        "LN": ("k1", "ip_ua_hash", "weblog", at(86400)),
        "T9": ("c9", "cookie", "tag", at(0)),
    }, "bot tag page views are dropped; every other page view appears exactly once"
    assert out["T1"]["utm_source"] == "news", "campaign fields come from the tag when it has them"
    assert (out["T1"]["country"], out["L2"]["country"], out["T9"]["country"]) == ("GB", "GB", "FR"), \
        "the web server's view of the client's country wins; tag-only page views keep the collector's"


# (description, log view's second, tag view's second, paired). Window 10 s, a tag up to 2 s early;
# matching looks within slots of 12 s from the epoch (10:00:00 starts one), so edges and slot
# boundaries both matter.
PAIRING_CASES = [
    ("tag 10 s after the log view: the window's far edge", 0, 10, True),
    ("tag 10.001 s after: outside", 0, 10.001, False),
    ("tag 2 s before the log view (clocks disagree a little)", 5, 3, True),
    ("tag 2.001 s before: outside", 5, 2.999, False),
    ("log view late in one slot, tag in the next", 11.5, 12.5, True),
    ("log view early in a slot, tag 10 s later in the next", 12.5, 22.5, True),
    ("tag early in a slot, log view late in the one before", 23.5, 24.0, True),
    ("log view at a slot's first instant, tag 2 s before in the previous slot", 24, 22, True),
]


@pytest.fixture(scope="module")
def pairing_batch(spark) -> dict:
    """Every pairing case in one batch, a client each."""
    logs = [log(f"L{i}", f"k{i}", "/a", c[1]) for i, c in enumerate(PAIRING_CASES)]
    tags = [tag(f"T{i}", f"k{i}", f"c{i}", "/a", c[2]) for i, c in enumerate(PAIRING_CASES)]
    return build(spark, logs, tags)


@pytest.mark.parametrize("description, log_s, tag_s, paired", PAIRING_CASES, ids=[c[0] for c in PAIRING_CASES])
def test_pairing_window_cases(pairing_batch, description, log_s, tag_s, paired):
    i = [c[0] for c in PAIRING_CASES].index(description)
    assert (f"L{i}" not in pairing_batch, pairing_batch[f"T{i}"]["source"]) == (paired, "weblog+tag" if paired else "tag"), description


def test_a_crowd_behind_one_nat_gateway_pairs_each_view_with_its_own_tag(spark):
    """200 people on one IP and browser build load the home page a second or more apart all day:
    each log view pairs with the tag view fired 0.4 s after it, none with a neighbour's."""
    logs = [log(f"L{i}", "nat", "/", 1.0 * i + (i // 10) * 300) for i in range(200)]
    tags = [tag(f"T{i}", "nat", f"c{i}", "/", 1.0 * i + (i // 10) * 300 + 0.4) for i in range(200)]
    out = build(spark, logs, tags)
    assert sorted(out) == sorted(f"T{i}" for i in range(200))
    assert all(out[f"T{i}"]["ts"] == at(1.0 * i + (i // 10) * 300) for i in range(200)), "each takes its own log view's time"


def test_a_retried_tag_delivered_on_two_days_counts_once(spark):
    tags = [
        tag("T1", "k1", "c1", "/a", 0, collector_delay=0.3, source_file="day1", dt_=T0.date()),
        tag("T1", "k1", "c1", "/a", 0, collector_delay=9000, source_file="day2", dt_=T0.date() + dt.timedelta(days=1)),
    ]
    out = build(spark, [log("L0", "k0", "/z", 0)], tags)
    assert sorted(out) == ["L0", "T1"]


def ping(event_id, page_view_id, seconds, collector_delay=0.3):
    return tag(event_id, "kp", "cp", "/p", seconds, collector_delay, page_view_id=page_view_id, event_type="page_ping")


# (description, pings after the page view as (event_id, seconds[, collector delay]), engaged seconds)
# Heartbeat 10 s, minimum visit 5 s, timeout 30 min; the page view is at 10:00:00.5.
ENGAGED_CASES = [
    ("no ping: a tagged page view with no engagement measured is 0", [], 0.0),
    ("one ping: the minimum visit length", [("p1", 10.5)], 5.0),
    ("three pings in three heartbeat intervals", [("p1", 10.5), ("p2", 20.5), ("p3", 30.5)], 25.0),
    ("two pings in one interval count once", [("p1", 10.1), ("p2", 10.9)], 5.0),
    ("a ping received twice counts once (the first copy; the retry's derived time is later)",
     [("p1", 10.5), ("p1", 25.5, 15.0)], 5.0),
    ("a ping 29 minutes after the last one still counts", [("p1", 10.5), ("p2", 10.5 + 29 * 60)], 15.0),
    ("a ping after 31 minutes of silence, and what follows, start another visit",
     [("p1", 10.5), ("p2", 20.5), ("p3", 20.5 + 31 * 60), ("p4", 30.5 + 31 * 60)], 15.0),
    ("a ping two days later (a stray ping) does not count", [("p1", 2 * 86400 + 10.5)], 0.0),
]


@pytest.fixture(scope="module")
def engaged_batch(spark) -> dict:
    """Every engaged-time case in one batch, a page view each (pings must find their own page view
    among others), with a tagged log page view, a log-only one, a tag page view without
    page_view_id, and two page_view events of one page_view_id."""
    events = []
    for i, (_, pings, _) in enumerate(ENGAGED_CASES):
        events.append(tag(f"V{i}", f"k{i}", f"c{i}", "/p", 0.5, page_view_id=f"pv{i}"))
        events += [ping(f"{i}-{p[0]}", f"pv{i}", p[1], *p[2:]) for p in pings]
    logs = [log("L1", "m1", "/a", 0), log("L2", "m2", "/b", 0)]
    events += [tag("T1", "m1", "c1", "/a", 1.0, page_view_id="pva"), ping("PA", "pva", 11.0), tag("T3", "m3", "c3", "/c", 0),
               tag("D2", "m4", "c4", "/d", 2.0, page_view_id="pvd"), tag("D1", "m4", "c4", "/d", 1.0, page_view_id="pvd"),
               ping("PD", "pvd", 11.0)]
    return build(spark, logs, events)


@pytest.mark.parametrize("description, pings, engaged", ENGAGED_CASES, ids=[c[0] for c in ENGAGED_CASES])
def test_engaged_time_cases(engaged_batch, description, pings, engaged):
    i = [c[0] for c in ENGAGED_CASES].index(description)
    assert engaged_batch[f"V{i}"]["engaged_time_s"] == engaged, description


def test_page_views_without_a_tag_or_page_view_id_have_no_engaged_time(engaged_batch):
    out = engaged_batch
    assert (out["T1"]["source"], out["T1"]["page_view_id"], out["T1"]["engaged_time_s"]) == ("weblog+tag", "pva", 5.0), \
        "a matched page view takes the tag's id and engaged time"
    assert (out["L2"]["page_view_id"], out["L2"]["engaged_time_s"]) == (None, None), "a log-only page view was not measured"
    assert (out["T3"]["page_view_id"], out["T3"]["engaged_time_s"]) == (None, None), "no page_view_id, no pings to join"


def test_two_page_view_events_of_one_page_view_id_are_one_page_view(engaged_batch):
    assert "D1" in engaged_batch and "D2" not in engaged_batch, "the earliest page_view event of the id is kept"
    assert engaged_batch["D1"]["engaged_time_s"] == 5.0
