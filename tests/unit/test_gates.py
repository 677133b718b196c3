"""Quality gates: suites as data, parameters, volume floor and the reconciliation transforms."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from clicklake import gates, pipeline, reconcile
from clicklake.config import GatePolicy, Settings
from clicklake.jobs import classify
from clicklake.tables import all_tables

D = dt.date(2026, 11, 28)


def test_every_table_has_a_suite_and_every_suite_names_a_table():
    import importlib.resources as resources

    suites = {entry.name[: -len(".yml")] for entry in resources.files("clicklake.expectations").iterdir()
              if entry.name.endswith(".yml")}
    assert suites == set(all_tables()) - {pipeline.RESULTS} | {gates.RECONCILIATION}
    for name in suites:
        assert gates.suite_spec(name), f"{name} has an empty suite"


EMAIL_CASES = [
    # description, value, whether redaction finds an address in it
    ("an address", "/u/jane.doe@example.com/profile", True),
    ("an escaped address in a query", "q=me+you%40example.io&x=1", True),
    ("no local part", "/@example.com", False),
    ("no top-level domain", "user@localhost", False),
    ("a long path without any", "/blog/2026/" + "alpine-xenon-guide" * 20, False),
]


def test_the_privacy_checks_flag_what_redaction_would_change(spark):
    checked = [item["kwargs"]["regex"] for name in ("silver.weblog_hits", "silver.tag_events") for item in gates.suite_spec(name)
               if item["type"] == "expect_column_values_to_not_match_regex"]
    assert checked and set(checked) == {classify.EMAIL_FOUND_PATTERN}
    df = spark.createDataFrame([(c, v) for c, v, _ in EMAIL_CASES], "case string, value string")
    actual = df.select("case", F.col("value").rlike(classify.EMAIL_FOUND_PATTERN).alias("flagged"),
                       (classify.redact_pii(F.col("value")) != F.col("value")).alias("redacted"))
    expected = spark.createDataFrame([(c, e, e) for c, _, e in EMAIL_CASES], "case string, flagged boolean, redacted boolean")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


SUBSTITUTION_CASES = [
    ("a whole-string parameter keeps its type", "${max_quarantine_share}", 0.2),
    ("a parameter inside text is filled in as text", "before ${run_date}", "before 2026-11-28"),
    ("regex dollars stay as they are", "^a$", "^a$"),
    ("an unknown name stays for GX to reject", "${nope}", "${nope}"),
    ("lists and mappings are walked", {"v": ["${run_date}", 1]}, {"v": ["2026-11-28", 1]}),
]


@pytest.mark.parametrize("description, value, expected", SUBSTITUTION_CASES, ids=[c[0] for c in SUBSTITUTION_CASES])
def test_parameters_are_filled_into_suites(description, value, expected):
    assert gates._substitute(value, {"run_date": "2026-11-28", "max_quarantine_share": 0.2}) == expected


VOLUME_CASES = [
    ("no history: no floor", [], 0),
    ("two days are too few to judge", [1000, 1000], 0),
    ("half of the trailing average", [1000, 1200, 800], 500),
    ("a spike in the history raises the floor", [1000, 1000, 1000, 5000], 1000),
]


@pytest.mark.parametrize("description, daily, floor", VOLUME_CASES, ids=[c[0] for c in VOLUME_CASES])
def test_volume_floor(description, daily, floor):
    settings = Settings(raw="/r", lake="/l", visitor_hash_key="k", gates=GatePolicy())
    assert pipeline.volume_floor(daily, settings) == floor


def check_rows(spark, rows):
    return spark.createDataFrame(rows, "check string, scope string, expected bigint, observed bigint")


def test_bronze_reconciliation_counts_rows_per_file(spark):
    files = spark.createDataFrame([("a.gz", 3), ("b.gz", 2)], "source_file string, lines bigint")
    lines = spark.createDataFrame([("a.gz",)] * 3, "source_file string")
    events = spark.createDataFrame([("b.gz",)], "source_file string")
    got = reconcile.bronze_checks(files, lines, events)
    check = "bronze.landing_files lines = bronze rows of the file"
    assert_df_equality(got, check_rows(spark, [(check, "a.gz", 3, 3), (check, "b.gz", 2, 1)]),
                       ignore_row_order=True, ignore_nullable=True)


def test_silver_reconciliation_accounts_for_every_bronze_line(spark):
    one = "source_file string"
    bronze_lines = spark.createDataFrame([("w.gz",)] * 5, one)
    bronze_events = spark.createDataFrame([("e.gz",)] * 4, one)
    weblog_hits = spark.createDataFrame([("w.gz",)] * 3, one)  # 3 parsed + 1 quarantined + 1 skipped
    tag_events = spark.createDataFrame([("e.gz",)] * 2, one)  # 2 parsed + 1 duplicate: one line lost
    quarantine = spark.createDataFrame([("w.gz",)], one)
    audit = spark.createDataFrame([("w.gz", 5, 0, 1), ("e.gz", 4, 1, 0)],
                                  "source_file string, lines bigint, duplicates bigint, skipped bigint")
    got = reconcile.silver_checks(bronze_lines, bronze_events, weblog_hits, tag_events, quarantine, audit)
    sums, audited = "bronze lines = silver rows + duplicates + quarantined + skipped", "bronze lines = silver.file_audit lines"
    expected = check_rows(spark, [(sums, "w.gz", 5, 5), (sums, "e.gz", 4, 3), (audited, "w.gz", 5, 5), (audited, "e.gz", 4, 4)])
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_gold_reconciliation_follows_page_views_across_midnight(spark):
    start, end = D, D + dt.timedelta(days=1)
    t = dt.datetime
    # Session s1 starts on D and runs past midnight; s2 is on D+1. silver has the three views.
    hits = spark.createDataFrame([(D,), (end,), (end,)], "event_date date")
    page_views = spark.createDataFrame(
        [(D, "s1", t(2026, 11, 28, 23, 50)), (D, "s1", t(2026, 11, 29, 0, 5)), (end, "s2", t(2026, 11, 29, 9, 0))],
        "session_date date, session_id string, ts timestamp")
    sessions = spark.createDataFrame([(D, "s1", 2, True), (end, "s2", 1, False)],
                                     "session_date date, session_id string, pageviews bigint, converted boolean")
    # A KPI row after the range (a later date whose new visitors a backfill recounted) is not
    # compared with this run's sessions; its new visitors are compared with gold.visitors.
    later = end + dt.timedelta(days=3)
    kpis = spark.createDataFrame([(D, 1, 2, 1), (end, 1, 2, 0), (later, 5, 9, 2)],
                                 "date date, sessions bigint, pageviews bigint, new_visitors bigint")
    visitors = spark.createDataFrame([(D,), (later,)], "first_seen_date date")
    gold = {
        "gold.page_views": page_views, "gold.sessions": sessions, "gold.daily_kpis": kpis, "gold.visitors": visitors,
        "gold.page_daily": spark.createDataFrame([(D, 1, 1, 0), (D, 1, 0, 1), (end, 1, 1, 1)],
                                                 "date date, views bigint, entrances bigint, exits bigint"),
        # D: (entrance)->a, a->b, b->(exit); D+1 lost its exit move
        "gold.click_paths": spark.createDataFrame([(D, "(entrance)", 1), (D, "/a", 1), (D, "/b", 1), (end, "(entrance)", 1)],
                                                  "date date, from_page string, transitions bigint"),
        "gold.traffic_sources": spark.createDataFrame([(D, 1, 2, 1), (end, 1, 1, 0)],
                                                      "date date, sessions bigint, pageviews bigint, conversions bigint"),
        # D+1: more sessions at step 2 than at step 1: caught
        "gold.funnels": spark.createDataFrame([("x", D, "f", 1, 1), ("x", D, "f", 2, 1), ("x", end, "f", 1, 0), ("x", end, "f", 2, 1)],
                                              "site string, date date, funnel string, step int, sessions bigint"),
    }
    got = {(r["check"], r["scope"]): (r["expected"], r["observed"]) for r in
           reconcile.gold_checks(hits, gold, start, end).collect()}
    assert got[("gold.daily_kpis sessions = rows of gold.sessions", "2026-11-29")] == (1, 1)
    # the KPI row of D+1 claims 2 page views, its sessions hold 1: caught
    assert got[("gold.daily_kpis pageviews = sum of gold.sessions pageviews", "2026-11-29")] == (2, 1)
    assert got[("sum of gold.sessions pageviews = rows of gold.page_views", "2026-11-28")] == (2, 2)
    # by date of the view, not of the session: D+1 holds two silver and two gold views
    assert got[("silver.hits page views of the date = gold.page_views of the date", "2026-11-29")] == (2, 2)
    assert ("silver.hits page views of the date = gold.page_views of the date", "2026-11-28") not in got, \
        "the first date's views may belong to sessions of the day before, outside the range"
    for scope in ("2026-11-28", "2026-11-29"):
        assert got[("gold.page_daily views = sum of gold.sessions pageviews", scope)] in ((2, 2), (1, 1))
        assert got[("gold.page_daily entrances = rows of gold.sessions", scope)] == (1, 1)
        assert got[("gold.traffic_sources sessions = rows of gold.sessions", scope)] == (1, 1)
        assert got[("gold.click_paths moves from (entrance) = rows of gold.sessions", scope)] == (1, 1)
    assert got[("gold.traffic_sources conversions = converted gold.sessions", "2026-11-28")] == (1, 1)
    assert got[("gold.click_paths moves = gold.sessions pageviews + sessions", "2026-11-28")] == (3, 3)
    assert got[("gold.click_paths moves = gold.sessions pageviews + sessions", "2026-11-29")] == (2, 1)
    assert got[("gold.funnels sessions never grow from a step to the next", "2026-11-28")] == (0, 0)
    assert got[("gold.funnels sessions never grow from a step to the next", "2026-11-29")] == (0, 1)
    assert ("gold.daily_kpis sessions = rows of gold.sessions", later.isoformat()) not in got
    new = "gold.daily_kpis new_visitors = gold.visitors first seen that date"
    assert (got[(new, "2026-11-28")], got[(new, "2026-11-29")]) == ((1, 1), (0, 0))
    assert got[(new, later.isoformat())] == (2, 1), "a later date's count that disagrees with gold.visitors is caught"


def docs_pages(folder) -> dict[str, str]:
    """A Data Docs site's pages without what differs between two builds of the same results
    (element ids, build times in links)."""
    built = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\?d=\d{8}T\d{6}\.\d+Z")
    return {str(p.relative_to(folder)): built.sub("<built>", p.read_text()) for p in folder.rglob("*.html")}


def test_data_docs_show_each_check_as_gxs_own_views_do_and_compile_the_templates_once(spark, tmp_path, monkeypatch):
    """Our views (docs_views) render GX's pages unchanged, and only the first site of a process
    compiles GX's templates."""
    import jinja2

    from clicklake import docs_views

    check = "bronze.landing_files lines = bronze rows of the file"
    checks = check_rows(spark, [(check, "a.gz", 3, 3), (check, "b.gz", 2, 1)])
    gate = gates.Gate(str(tmp_path / "ours"))
    [result] = gate.validate(checks, gates.RECONCILIATION, {}, rows=2)
    assert not result.success and "1 of 2 checks differ" in result.observed
    assert gate.build_docs() == f"{tmp_path / 'ours'}/index.html"
    assert docs_views.COMPILED_TEMPLATES.templates_held() > 0, "the views compiled no template into the shared cache"

    # The same results through GX's default views, in the same context.
    gate.context.add_data_docs_site(site_name="gx_defaults", site_config={
        "class_name": "SiteBuilder", "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                                       "base_directory": str(tmp_path / "gx")},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
    gate.context.build_data_docs(site_names=["gx_defaults"])
    ours, theirs = docs_pages(tmp_path / "ours"), docs_pages(tmp_path / "gx")
    assert sorted(ours) == sorted(theirs) and len(ours) == 3, sorted(ours)  # index, suite, validation
    for page in ours:
        assert ours[page] == theirs[page].replace("gx_defaults", gates.Gate.SITE), page
    [validation] = [text for page, text in ours.items() if page.startswith("validations/")]
    assert "Status: Failed" in " ".join(re.sub(r"<[^>]+>", " ", validation).split())
    assert "'_validation_success_text': 'Failed', 'asset_name': 'quality.reconciliation'" in ours["index.html"]

    # A later gate's site reuses the compiled code.
    compiled, compile_template = [], jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda env, source, name=None, *a, **k: compiled.append(name)
                        or compile_template(env, source, name, *a, **k))
    later = gates.Gate(str(tmp_path / "later"))
    later.validate(checks, gates.RECONCILIATION, {}, rows=2)
    later.build_docs()
    assert len(docs_pages(tmp_path / "later")) == 3
    assert compiled == []
