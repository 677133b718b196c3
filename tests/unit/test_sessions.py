"""Sessions, traffic sources and daily KPIs (SPEC 2-3), as tables of cases."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import functions as F

from clicklake.jobs import gold, sessions

T0 = dt.datetime(2026, 11, 28, 10, 0, 0)
HIT_FIELDS = ("referrer", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type")


def hit(visitor, minutes, path="/", hit_id=None, **fields):
    ts = T0 + dt.timedelta(minutes=minutes)
    values = {f: fields.get(f) for f in HIT_FIELDS}
    return Row(site="www.example.com", hit_id=hit_id or f"{visitor}@{minutes}", ts=ts, event_date=ts.date(), visitor_id=visitor,
               visitor_id_type="cookie", source="weblog", path=path, browser="Chrome", os="Windows", device_type="desktop",
               country=fields.get("country", "NL"), page_view_id=fields.get("page_view_id"),
               engaged_time_s=fields.get("engaged_time_s"), **values)


SESSION_CASES = [
    # description, visitor, minutes of page views -> page views per session
    ("a gap of 29 minutes continues the session", "v29", [0, 29], [2]),
    ("a gap of exactly 30 minutes continues it (more than 30 starts a new one)", "v30", [0, 30], [2]),
    ("a gap of 31 minutes starts a new session", "v31", [0, 31], [1, 1]),
    ("one page view is a bounce session", "v1", [0], [1]),
    ("midnight does not split a session", "vmid", [13 * 60 + 50, 14 * 60 + 10], [2]),
    ("a visit longer than 24 hours is cut at 24 hours", "vlong", [m * 20 for m in range(0, 76)], [72, 4]),
]


HIT_SCHEMA = ("site string, hit_id string, ts timestamp, event_date date, visitor_id string, visitor_id_type string, "
              "source string, path string, browser string, os string, device_type string, country string, "
              "page_view_id string, engaged_time_s double, " + ", ".join(f"{f} string" for f in HIT_FIELDS))


def hits_df(spark, rows):
    return spark.createDataFrame(rows, HIT_SCHEMA)


def test_session_boundary_cases(spark):
    rows = [hit(v, m) for _, v, minutes, _ in SESSION_CASES for m in minutes]
    pv = sessions.sessionize(hits_df(spark, rows), timeout_min=30, max_hours=24)
    per_session = pv.groupBy("visitor_id", "session_id").agg(F.count(F.lit(1)).alias("n"), F.min("ts").alias("start"))
    got = {}
    for r in per_session.collect():
        got.setdefault(r["visitor_id"], []).append((r["start"], r["n"]))
    assert {v: [n for _, n in sorted(s)] for v, s in got.items()} == {v: expected for _, v, _, expected in SESSION_CASES}


def test_session_ids_are_deterministic_and_page_view_fields(spark):
    rows = [hit("v", 0, "/a"), hit("v", 2, "/b"), hit("v", 7, "/c")]
    first = sessions.sessionize(hits_df(spark, rows), 30, 24).orderBy("ts").collect()
    again = sessions.sessionize(hits_df(spark, list(reversed(rows))), 30, 24).orderBy("ts").collect()
    assert [r["session_id"] for r in first] == [r["session_id"] for r in again]
    assert len({r["session_id"] for r in first}) == 1
    assert [(r["page_index"], r["time_on_page_s"], r["is_entrance"], r["is_exit"]) for r in first] == [
        (1, 120.0, True, False), (2, 300.0, False, False), (3, None, False, True)]


def test_session_row_of_a_bounce_and_of_a_visit(spark):
    rows = [hit("bounce", 0, "/only"), hit("visit", 0, "/in", country="SE", engaged_time_s=15.0), hit("visit", 1.5, "/mid"),
            hit("visit", 4, "/out", engaged_time_s=25.0)]
    pv = sessions.sessionize(hits_df(spark, rows), 30, 24)
    out = {r["visitor_id"]: r for r in sessions.sessions_from_page_views(pv, gold_categories(spark)).collect()}
    b, v = out["bounce"], out["visit"]
    assert (b["pageviews"], b["is_bounce"], b["duration_s"], b["entry_page"], b["exit_page"]) == (1, True, 0.0, "/only", "/only")
    assert (v["pageviews"], v["is_bounce"], v["duration_s"], v["entry_page"], v["exit_page"]) == (3, False, 240.0, "/in", "/out")
    assert (b["country"], v["country"]) == ("NL", "SE"), "a session's country is its first page view's"
    assert (b["engaged_time_s"], v["engaged_time_s"]) == (None, 40.0), \
        "engaged time sums the page views a tag measured; none measured is unknown, not 0"


def gold_categories(spark):
    return gold.source_categories(spark)


CHANNEL_CASES = [
    # description, first page view fields -> channel, source, medium
    ("no referrer, no campaign", {}, ("Direct", "(direct)", "(none)")),
    ("same-site referrer counts as direct", {"referrer_host": "www.example.com"}, ("Direct", "(direct)", "(none)")),
    ("subdomain of the site counts as direct", {"referrer_host": "shop.www.example.com"}, ("Direct", "(direct)", "(none)")),
    ("google referrer", {"referrer_host": "www.google.com"}, ("Organic Search", "google.com", "organic")),
    ("google country domain", {"referrer_host": "www.google.co.uk"}, ("Organic Search", "google.co.uk", "organic")),
    ("bing referrer", {"referrer_host": "www.bing.com"}, ("Organic Search", "bing.com", "organic")),
    ("duckduckgo referrer", {"referrer_host": "duckduckgo.com"}, ("Organic Search", "duckduckgo.com", "organic")),
    ("facebook referrer", {"referrer_host": "l.facebook.com"}, ("Organic Social", "facebook.com", "referral")),
    ("t.co referrer", {"referrer_host": "t.co"}, ("Organic Social", "t.co", "referral")),
    ("another site", {"referrer_host": "blog.partner-shop.org"}, ("Referral", "blog.partner-shop.org", "referral")),
    ("gclid is paid search", {"click_id_type": "gclid", "referrer_host": "www.google.com"}, ("Paid Search", "google", "cpc")),
    ("msclkid is paid search", {"click_id_type": "msclkid"}, ("Paid Search", "bing", "cpc")),
    ("utm cpc from google", {"utm_source": "google", "utm_medium": "cpc"}, ("Paid Search", "google", "cpc")),
    ("utm ppc from bing", {"utm_source": "bing", "utm_medium": "ppc"}, ("Paid Search", "bing", "ppc")),
    ("display medium", {"utm_source": "gdn", "utm_medium": "display"}, ("Display", "gdn", "display")),
    ("banner medium", {"utm_source": "adnet", "utm_medium": "banner"}, ("Display", "adnet", "banner")),
    ("paid social", {"utm_source": "facebook", "utm_medium": "paid_social"}, ("Paid Social", "facebook", "paid_social")),
    ("email medium", {"utm_source": "newsletter", "utm_medium": "email"}, ("Email", "newsletter", "email")),
    ("e-mail source", {"utm_source": "e-mail", "utm_medium": "blast"}, ("Email", "e-mail", "blast")),
    ("affiliate medium", {"utm_source": "partner-network", "utm_medium": "affiliate"}, ("Affiliates", "partner-network", "affiliate")),
    ("organic medium by utm", {"utm_source": "ecosia", "utm_medium": "organic"}, ("Organic Search", "ecosia", "organic")),
    ("social medium by utm", {"utm_source": "mastodon", "utm_medium": "social"}, ("Organic Social", "mastodon", "social")),
    ("a campaign no rule knows", {"utm_source": "flyer", "utm_medium": "print"}, ("Unassigned", "flyer", "print")),
    ("utm source without medium", {"utm_source": "flyer"}, ("Unassigned", "flyer", "(not set)")),
]


def test_channel_cases(spark):
    rows = [Row(case=c, site="www.example.com", **{f: fields.get(f) for f in ("referrer_host", "utm_source", "utm_medium", "utm_campaign", "click_id_type")})
            for c, fields, _ in CHANNEL_CASES]
    schema = "case string, site string, referrer_host string, utm_source string, utm_medium string, utm_campaign string, click_id_type string"
    df = spark.createDataFrame(rows, schema)
    actual = sessions.with_traffic_source(df, gold_categories(spark)).select("case", "channel", "source", "medium")
    expected = spark.createDataFrame([(c, *e) for c, _, e in CHANNEL_CASES], actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_every_channel_the_rules_can_give_is_in_the_suite():
    from clicklake.gates import suite_spec

    allowed = next(e["kwargs"]["value_set"] for e in suite_spec("gold.sessions") if e["kwargs"].get("column") == "channel")
    assert set(allowed) == set(sessions.CHANNELS)


def test_daily_kpis(spark):
    s = spark.createDataFrame([
        Row(site="a", session_date=T0.date(), visitor_id="v1", pageviews=1, is_bounce=True, duration_s=0.0),
        Row(site="a", session_date=T0.date(), visitor_id="v1", pageviews=3, is_bounce=False, duration_s=120.0),
        Row(site="a", session_date=T0.date(), visitor_id="v2", pageviews=2, is_bounce=False, duration_s=60.0),
    ])
    weblog = spark.createDataFrame([Row(site="a", dt=T0.date(), is_bot=b) for b in (True, False, False, False)])
    audit = spark.createDataFrame([Row(dt=T0.date(), source="weblog", lines=150, quarantined=2, late=4),
                                   Row(dt=T0.date(), source="tag_event", lines=50, quarantined=0, late=3)])
    h = spark.createDataFrame([Row(site="a", event_date=T0.date(), source=s) for s in ("weblog+tag", "weblog", "tag", "weblog+tag")])
    row = sessions.daily_kpis(s, weblog, audit, h).collect()[0]
    assert (row["visitors"], row["sessions"], row["pageviews"]) == (2, 3, 6)
    assert row["bounce_rate"] == pytest.approx(1 / 3)
    assert row["avg_session_duration_s"] == pytest.approx(60.0)
    assert row["pages_per_session"] == pytest.approx(2.0)
    assert row["bot_share"] == pytest.approx(0.25)
    assert row["quarantine_share"] == pytest.approx(0.01)
    assert row["tag_match_rate"] == pytest.approx(2 / 3)
    assert row["late_events_received"] == 3, "tag events delivered after their date; log lines are not events"


D = T0.date()


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


# (description, visitor, session dates this run rewrites, later published session dates, seen before
#  the run's dates) -> first_seen_date or None (not in the rows the run writes)
FIRST_SEEN_CASES = [
    ("first visit in the run's dates", "first", [0], [], False, day(0)),
    ("two days in the run's dates: the earlier", "twice", [1, 0], [], False, day(0)),
    ("seen before the run's dates: not new again", "returning", [0], [], True, None),
    ("a backfill finds the visitor of a later date earlier", "backfilled", [1], [5], False, day(1)),
    ("only on a later date: that date stays its first", "later", [], [5, 6], False, day(5)),
]


def session_row(visitor: str, date: dt.date, n: int = 0):
    start = dt.datetime.combine(date, dt.time(10, n))
    return ("www.example.com", visitor, date, start, f"{visitor}-{date}-{n}")


def test_first_seen_cases(spark):
    schema = "site string, visitor_id string, session_date date, session_start timestamp, session_id string"
    now = [session_row(v, day(d)) for _, v, ds, _, _, _ in FIRST_SEEN_CASES for d in ds]
    now.append(session_row("twice", day(0), 5))  # a second session that day: the first one is named
    later = [session_row(v, day(d)) for _, v, _, ds, _, _ in FIRST_SEEN_CASES for d in ds]
    before = [("www.example.com", v) for _, v, _, _, seen, _ in FIRST_SEEN_CASES if seen]
    out = sessions.first_seen(spark.createDataFrame(now, schema), spark.createDataFrame(later, schema),
                              spark.createDataFrame(before, "site string, visitor_id string"))
    got = {r["visitor_id"]: (r["first_seen_date"], r["first_session_id"]) for r in out.collect()}
    for description, visitor, *_, expected in FIRST_SEEN_CASES:
        assert (got.get(visitor) or (None,))[0] == expected, description
    assert got["twice"][1] == f"twice-{day(0)}-0", "the first session is the earliest of the first day"


def test_new_visitors_are_recounted_on_every_kpi_row(spark):
    kpis = spark.createDataFrame([("s", day(0), 3, 99), ("s", day(5), 2, 1), ("s", day(6), 1, 1)],
                                 "site string, date date, visitors bigint, new_visitors bigint")
    visitors = spark.createDataFrame([("s", day(0)), ("s", day(0)), ("s", day(5))], "site string, first_seen_date date")
    got = {r["date"]: r["new_visitors"] for r in sessions.with_new_visitors(kpis, visitors).collect()}
    assert got == {day(0): 2, day(5): 1, day(6): 0}, "stale counts are replaced; a date nobody first came on has 0"
