"""The whole pipeline in this process on local folders: generator -> bronze -> silver -> gold,
checked against the generator's truth on two days (of three run) with returning visitors, sessions
across each midnight and late events, for runs in order and out of order, reruns and bad input."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import shutil

import pytest
from deltalake import DeltaTable
from lakes import CONVERGING, D, DAYS, RUN_DATES, make_settings, snapshot, summaries, truth
from pyspark.sql import functions as F

from clicklake import cli, lake, pipeline
from clicklake.landing import MissingLandingFiles
from clicklake.tables import all_tables

FMT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
each_day = pytest.mark.parametrize("day", DAYS, ids=[f"D+{k}" for k in range(len(DAYS))])


def session_keys(rows) -> collections.Counter:
    return collections.Counter(rows)


def sessions_of(spark, settings, day: dt.date):
    return lake.read_published(spark, "gold.sessions", settings.lake).where(F.col("session_date") == lake.lit_date(day))


@each_day
def test_gold_sessions_equal_the_generators_truth(spark, in_order, landing, day):
    """Every session of the day with its start, end, page views, entry and exit page and channel,
    also the one crossing into the next day and those holding late events. The lake that ran the
    days out of order holds the same tables (test_out_of_order_runs_converge)."""
    expected, summary = truth(landing, day)
    sessions = sessions_of(spark, in_order, day)
    got = [
        (r["s"], r["e"], r["pageviews"], r["entry_page"], r["exit_page"], r["channel"])
        for r in sessions.select(F.date_format("session_start", FMT).alias("s"), F.date_format("session_end", FMT).alias("e"),
                                 "pageviews", "entry_page", "exit_page", "channel").collect()
    ]
    want = [(t["session_start"], t["session_end"], t["pageviews"], t["entry_page"], t["exit_page"], t["channel"]) for t in expected]
    assert len(got) == summary["sessions"]
    assert session_keys(got) == session_keys(want)
    assert any(t["crosses_midnight"] for t in expected), "the sample must hold a session across this day's midnight"
    late = published_on(spark, in_order, "gold.daily_kpis", day + dt.timedelta(days=1)).first()["late_events_received"]
    assert late > 0, "the sample must hold events of this day delivered in the next day's files"
    visitors = sessions.select("visitor_id").distinct().count()
    assert visitors == summary["visitors"]


def published_on(spark, settings, name: str, day: dt.date):
    return lake.read_published(spark, name, settings.lake).where(F.col("date") == lake.lit_date(day))


def funnel_reach(pages: list[str], funnel) -> int:
    """The truth's side of gold.funnels, in plain Python: steps matched in order."""
    import re

    reached = 0
    for page in pages:
        if reached < len(funnel.steps) and re.match(funnel.steps[reached].regex, page):
            reached += 1
    return reached


@each_day
def test_gold_marts_equal_the_generators_truth(spark, in_order, landing, day):
    """Click paths, pages, channels and funnels of the day, recounted from the truth's page sequences."""
    expected, _ = truth(landing, day)
    moves, views, entrances, exits = collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()
    for t in expected:
        pages = t["pages"]
        moves.update(zip(["(entrance)", *pages], [*pages, "(exit)"]))
        views.update(pages)
        entrances[pages[0]] += 1
        exits[pages[-1]] += 1
    got_moves = {(r["from_page"], r["to_page"]): r["transitions"] for r in published_on(spark, in_order, "gold.click_paths", day).collect()}
    assert got_moves == dict(moves)
    pages = {r["page"]: (r["views"], r["entrances"], r["exits"]) for r in published_on(spark, in_order, "gold.page_daily", day).collect()}
    assert pages == {p: (views[p], entrances[p], exits[p]) for p in views}
    channels = {r["channel"]: r["sessions"] for r in published_on(spark, in_order, "gold.traffic_sources", day)
                .groupBy("channel").agg(F.sum("sessions").alias("sessions")).collect()}
    assert channels == dict(collections.Counter(t["channel"] for t in expected))
    funnels = {(r["funnel"], r["step"]): r["sessions"] for r in published_on(spark, in_order, "gold.funnels", day).collect()}
    want = {(f.name, k): sum(funnel_reach(t["pages"], f) >= k for t in expected)
            for f in in_order.funnels for k in range(1, len(f.steps) + 1)}
    assert funnels == want
    assert want[("purchase", 3)] > 0 and want[("blog_to_product", 2)] > 0, "the sample must complete both funnels"
    top = published_on(spark, in_order, "gold.top_paths", day).orderBy("rank").first()
    most_common_path, count = collections.Counter(" > ".join(t["pages"][:10]) + (" > ..." if len(t["pages"]) > 10 else "")
                                                  for t in expected).most_common(1)[0]
    assert (top["sessions"], top["rank"]) == (count, 1)


@each_day
def test_stitching_gives_each_session_its_true_visitor(spark, in_order, landing, day):
    """Tagged visitors are known by their cookie in every session, also where only the web server
    saw a page view; visitors without the tag get one hashed id each."""
    expected, _ = truth(landing, day)
    sessions = sessions_of(spark, in_order, day)
    visitor_of = {r["s"]: r["visitor_id"] for r in sessions.select(F.date_format("session_start", FMT).alias("s"), "visitor_id").collect()}
    tagged = [t for t in expected if t["cookie"]]
    assert tagged and len(tagged) < len(expected), "the sample holds visitors with and without the tag"
    assert {t["session_start"]: visitor_of[t["session_start"]] for t in tagged} == {t["session_start"]: t["cookie"] for t in tagged}
    hashed: dict[int, set] = collections.defaultdict(set)
    for t in expected:
        if not t["cookie"]:
            hashed[t["visitor"]].add(visitor_of[t["session_start"]])
    assert all(len(ids) == 1 for ids in hashed.values()), "all sessions of an untagged visitor share one id"
    assert len({next(iter(ids)) for ids in hashed.values()}) == len(hashed), "and two untagged visitors never share one"


def test_new_visitors_are_first_seen_ever(spark, in_order, landing):
    """A day's new visitors are those the generator had not sent on an earlier day (its population
    returns), and gold.visitors holds each visitor once, with their first session."""
    seen: set[int] = set()
    for day in DAYS:
        expected, summary = truth(landing, day)
        today = {t["visitor"] for t in expected}
        kpis = published_on(spark, in_order, "gold.daily_kpis", day).first()
        assert (kpis["visitors"], kpis["new_visitors"]) == (summary["visitors"], len(today - seen)), day
        seen |= today
    assert 0 < kpis["new_visitors"] < kpis["visitors"], "the last day has new and returning visitors"
    sessions = lake.read_published(spark, "gold.sessions", in_order.lake)
    visitors = lake.read_published(spark, "gold.visitors", in_order.lake)
    assert visitors.count() == sessions.select("site", "visitor_id").distinct().count()
    first = sessions.groupBy("site", "visitor_id").agg(F.min_by("session_id", "session_start").alias("first_session_id"))
    assert visitors.join(first, ["site", "visitor_id", "first_session_id"]).count() == visitors.count(), \
        "each visitor's first session is named"


@each_day
def test_engaged_time_equals_the_generators_truth(spark, in_order, landing, day):
    """Engaged time of each page view of the day, from its pings (every ping's delivery date ran)."""
    expected, _ = truth(landing, day)
    assert all((t["pings_delivered_by"] or day.isoformat()) <= RUN_DATES[-1].isoformat() for t in expected)
    views = lake.read_published(spark, "gold.page_views", in_order.lake).where(F.col("session_date") == lake.lit_date(day))
    per_session = views.groupBy("session_id").agg(
        F.min("ts").alias("start"), F.collect_list(F.coalesce("engaged_time_s", F.lit(-1.0))).alias("engaged")
    )
    got = {r["s"]: sorted(r["engaged"]) for r in per_session.select(F.date_format("start", FMT).alias("s"), "engaged").collect()}
    want = {t["session_start"]: sorted(-1.0 if e is None else e for e in t["engaged_s"]) for t in expected}
    assert got == want
    assert any(e > 5.0 for engaged in want.values() for e in engaged) and any(e == -1.0 for e in sum(want.values(), [])), \
        "the sample must hold page views with several pings and page views no tag measured"


def test_every_line_is_accounted_for(spark, in_order, landing):
    lines_per_file = {rel: n for summary in summaries(landing) for rel, n in summary["lines_per_file"].items()}
    for day in RUN_DATES:
        audit = {r["source_file"]: r for r in lake.read_published_range(spark, "silver.file_audit", in_order.lake, day, day).collect()}
        bronze = {}
        for name in ("bronze.weblog_lines", "bronze.tag_events"):
            for r in lake.read_published_range(spark, name, in_order.lake, day, day).groupBy("source_file").count().collect():
                bronze[r["source_file"]] = r["count"]
        parsed = {}
        for name in ("silver.weblog_hits", "silver.tag_events"):
            for r in lake.read_published_range(spark, name, in_order.lake, day, day).groupBy("source_file").count().collect():
                parsed[r["source_file"]] = r["count"]
        quarantined = collections.Counter(
            r["source_file"] for r in lake.read_published_range(spark, "silver.quarantine", in_order.lake, day, day).collect())
        assert set(audit) == set(bronze)
        for path, row in audit.items():
            assert row["lines"] == bronze[path], path
            assert row["parsed"] == parsed.get(path, 0), path
            assert row["quarantined"] == quarantined.get(path, 0), path
            assert row["lines"] == row["parsed"] + row["duplicates"] + row["quarantined"] + row["skipped"], path
        # bronze holds every line the generator wrote into the day's folder, and nothing else
        written = {rel: n for rel, n in lines_per_file.items() if f"/dt={day}/" in rel}
        assert len(written) == len(bronze), day
        for rel, count in written.items():
            matches = [p for p in bronze if p.endswith(rel)]
            assert matches and bronze[matches[0]] == count, rel


def dirty_lines_written(landing, dates) -> collections.Counter:
    """The generator's planted dirty lines by kind, in the files of the given delivery dates."""
    written: collections.Counter = collections.Counter()
    for summary in summaries(landing):
        for delivered, kinds in summary["malformed_by_delivery_date"].items():
            if delivered in {d.isoformat() for d in dates}:
                written.update(kinds)
    return written


def test_quarantine_reasons_match_the_dirty_lines_written(spark, in_order, landing):
    written = dirty_lines_written(landing, RUN_DATES)
    empty_lines = written.pop("empty_line")
    reasons = collections.Counter(r["reason"] for r in lake.read_published(spark, "silver.quarantine", in_order.lake).collect())
    assert reasons == written
    skipped = sum(r["skipped"] for r in lake.read_published(spark, "silver.file_audit", in_order.lake).collect())
    assert skipped == empty_lines


def test_duplicate_events_are_removed_exactly(spark, in_order, landing):
    audit = lake.read_published(spark, "silver.file_audit", in_order.lake).where(F.col("source") == "tag_event")
    duplicates = {r["dt"].isoformat(): r["n"] for r in audit.groupBy("dt").agg(F.sum("duplicates").alias("n")).collect()}
    # Every retry the generator filed on a date this lake ran, also the retries of events an
    # earlier date kept (the dates ran in order), and nothing else.
    written: collections.Counter = collections.Counter()
    for summary in summaries(landing):
        written.update(summary["events_duplicate_by_delivery_date"])
    assert duplicates == {day.isoformat(): written[day.isoformat()] for day in RUN_DATES}
    assert all(duplicates.values())
    events = lake.read_published(spark, "silver.tag_events", in_order.lake)
    assert events.groupBy("event_id").count().where("count > 1").count() == 0, "each event once in silver.tag_events"
    ids = lake.read_published(spark, "silver.hits", in_order.lake).groupBy("hit_id").count().where("count > 1").count()
    assert ids == 0


def test_no_raw_ip_or_email_reaches_silver_or_gold(spark, in_order, landing):
    raw_ips = set()
    for path in landing.rglob("*.log.gz"):
        raw_ips.update(line.split(" ", 1)[0] for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line)
    url_columns = {"path", "query", "referrer", "page_url", "entry_page", "exit_page"}
    for name, spec in all_tables().items():
        if spec.layer == "bronze" or name == "silver.quarantine":  # raw input by definition
            continue
        df = lake.read_published(spark, name, in_order.lake)
        text_columns = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
        urls = [c for c in text_columns if c in url_columns]
        if urls:
            blob = df.select(F.concat_ws(" ", *urls).alias("t"))
            assert blob.where(F.col("t").rlike(r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9.-]+\.[a-z]{2,}")).count() == 0, name
        values = {v for r in df.select(*text_columns).collect() for v in r if v}
        assert not (values & raw_ips), f"{name} holds raw client IPs"


def test_out_of_order_runs_converge(spark, out_of_order, in_order):
    """D+2 before D+1, then D+1 backfilled between its published neighbours, gives the
    same silver.hits and gold tables as the nightly order, without running anything again."""
    assert out_of_order == snapshot(spark, in_order, CONVERGING)
    assert all(out_of_order[name] for name in CONVERGING)


def test_a_run_records_every_gates_verdicts_in_one_commit(spark, in_order):
    """A run of every step in one process holds its gates' verdicts until they have all been
    reached and writes them to quality.validation_results in one commit, before publish (the DAG's
    tasks, one process each, write their own); every check is one row."""
    history = DeltaTable(all_tables()[pipeline.RESULTS].path(in_order.lake)).history()
    for day in RUN_DATES[1:]:
        commits = [c["operationParameters"]["predicate"] for c in history
                   if str(day) in c.get("operationParameters", {}).get("predicate", "")]
        assert commits == [f"run_date = '{day}' AND layer IN ('bronze', 'silver', 'gold')"], (day, commits)
    verdicts = lake.read_published(spark, pipeline.RESULTS, in_order.lake).where(F.col("run_date") > lake.lit_date(D))
    keys = [tuple(r) for r in verdicts.select("run_date", "layer", "table_name", "expectation", "arguments").collect()]
    assert len(keys) == len(set(keys)), "a check recorded twice"
    assert {(r[0], r[1]) for r in keys} == {(day, layer) for day in RUN_DATES[1:] for layer in pipeline.LAYERS}
    failed = {(r["run_date"], r["layer"]) for r in verdicts.where("severity = 'fail' AND NOT success").collect()}
    assert not failed, f"failed checks recorded for dates that were published: {failed}"


def test_missing_landing_files_is_a_clear_error(spark, landing, tmp_path):
    settings = make_settings(landing, tmp_path / "lake")
    with pytest.raises(MissingLandingFiles, match="no landing files for 2026-12-25"):
        pipeline.run(spark, settings, dt.date(2026, 12, 25), layers=("bronze",))
    code = cli.main(["run", "--date", "2026-12-25", "--raw", str(landing), "--lake", str(tmp_path / "lake")])
    assert code == cli.EXIT_MISSING_INPUT


def test_unreadable_gzip_is_a_clear_error_naming_the_file(spark, landing, tmp_path, capsys):
    raw = tmp_path / "raw"
    shutil.copytree(landing / "weblogs" / f"dt={D}", raw / "weblogs" / f"dt={D}")
    victim = next((raw / "weblogs" / f"dt={D}" / "web-01").glob("*.gz"))
    victim.write_bytes(victim.read_bytes()[:200])  # cut short, like an interrupted upload
    code = cli.main(["run", "--date", str(D), "--raw", str(raw), "--lake", str(tmp_path / "lake"), "--layer", "bronze"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert victim.name in err and "rerun this date" in err
    assert lake.read_published(spark, "bronze.weblog_lines", str(tmp_path / "lake")) is None, "nothing was published"

