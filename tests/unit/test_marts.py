"""The gold marts (page_daily, click_paths, top_paths, traffic_sources, funnels) and the funnels
file, as tables of cases."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from test_sessions import gold_categories, hit, hits_df

from clicklake.config import ConfigError
from clicklake.funnels import Funnel, Step, glob_regex, load_funnels, parse_funnels
from clicklake.jobs import marts, sessions
from clicklake.tables import conform

DAY = dt.date(2026, 11, 28)
SITE = "www.example.com"
PURCHASE = parse_funnels("""
funnels:
  - name: purchase
    conversion: true
    steps:
      - {name: product, path: "/products/*"}
      - {name: cart, path: /cart}
      - {name: checkout, path: /checkout}
""", "test")[0]

FUNNEL_CASES = [
    # description, pages in order -> steps of the purchase funnel reached
    ("all steps in order", ["/products/a", "/cart", "/checkout"], 3),
    ("other pages between the steps still count", ["/products/a", "/blog/x", "/cart", "/", "/checkout"], 3),
    ("a step before the previous one does not count", ["/cart", "/products/a", "/checkout"], 1),
    ("later steps without the first reach nothing", ["/cart", "/checkout"], 0),
    ("a glob matches the whole path: /products is not /products/*", ["/products", "/cart"], 0),
    ("the first step repeated, then the next", ["/products/a", "/products/b", "/cart"], 2),
    ("a step is not reached twice", ["/products/a", "/cart", "/cart", "/products/b"], 2),
    ("a single page view", ["/products/a"], 1),
]


def test_funnel_steps_reached_cases(spark):
    df = spark.createDataFrame([(d, p) for d, p, _ in FUNNEL_CASES], "case string, pages array<string>")
    actual = df.select("case", marts.steps_reached(F.col("pages"), PURCHASE).alias("reached"))
    expected = spark.createDataFrame([(d, n) for d, _, n in FUNNEL_CASES], actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_regex_steps_match_the_whole_path(spark):
    funnel = Funnel("docs", (Step("any doc", "^(?:/docs/[a-z]+\\.html)$"), Step("pricing", glob_regex("/pricing"))))
    df = spark.createDataFrame([(["/docs/x.html", "/pricing"],), (["/docs/x.html.bak", "/pricing"],)], "pages array<string>")
    assert [r[0] for r in df.select(marts.steps_reached(F.col("pages"), funnel)).collect()] == [2, 0]


GLOB_CASES = [
    ("/products/*", "/products/boots-1", True),
    ("/products/*", "/products", False),
    ("/products/*", "/products/a/b", True),  # * crosses slashes
    ("/cart", "/cart", True),
    ("/cart", "/cart/old", False),
    ("/docs/a.html", "/docs/aXhtml", False),  # the dot is literal
    ("/blog/*-guide", "/blog/2026/alpine-cedar-guide", True),
]


@pytest.mark.parametrize("glob,path,matches", GLOB_CASES)
def test_glob_to_regex(glob, path, matches):
    import re

    assert bool(re.match(glob_regex(glob), path)) is matches


BAD_FUNNEL_FILES = [
    ("not YAML", "funnels: [", "not valid YAML"),
    ("no funnels list", "steps: []", "top-level 'funnels:' list"),
    ("a funnel without steps", "funnels: [{name: a}]", "non-empty 'steps:' list"),
    ("a step with path and regex", "funnels: [{name: a, steps: [{name: s, path: /a, regex: /a}]}]", "exactly one of path"),
    ("a step without name", "funnels: [{name: a, steps: [{path: /a}]}]", "exactly one of path"),
    ("an invalid regex", "funnels: [{name: a, steps: [{name: s, regex: '/a('}]}]", "invalid regex"),
    ("a name used twice", "funnels: [{name: a, steps: [{name: s, path: /a}]}, {name: a, steps: [{name: s, path: /b}]}]", "used twice"),
]


@pytest.mark.parametrize("description,text,message", BAD_FUNNEL_FILES, ids=[c[0] for c in BAD_FUNNEL_FILES])
def test_bad_funnel_files_are_clear_errors(description, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_funnels(text, "funnels.yml")


def test_the_packaged_funnels_and_a_missing_file(tmp_path):
    assert [f.name for f in load_funnels()] == ["purchase", "blog_to_product"]
    with pytest.raises(ConfigError, match="not a file"):
        load_funnels(str(tmp_path / "nope.yml"))


# Three sessions of two visitors: a converts in a first visit, then returns from a newsletter
# 40 minutes later (past the 30-minute timeout); b bounces on a product page.
VISITS = [
    ("a", 0, "/"), ("a", 1, "/products/boots", {"engaged_time_s": 35.0}), ("a", 3, "/cart"), ("a", 4, "/checkout"),
    ("b", 2, "/products/boots", {"engaged_time_s": 5.0}),
    ("a", 44, "/blog/winter", {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "bf"}),
    ("a", 46, "/products/boots"),
]


@pytest.fixture(scope="module")
def built(spark):
    rows = [hit(v[0], v[1], v[2], hit_id=f"{v[0]}{v[1]}", **(v[3] if len(v) > 3 else {})) for v in VISITS]
    page_views = sessions.sessionize(hits_df(spark, rows), 30, 24).localCheckpoint()
    funnels = (PURCHASE, load_funnels()[1])
    session_rows = marts.with_funnels(sessions.sessions_from_page_views(page_views, gold_categories(spark)), funnels)
    return page_views, session_rows.localCheckpoint(), funnels


def expect(spark, name, rows):
    from clicklake.tables import table

    return spark.createDataFrame(rows, table(name).schema)


def check(spark, actual, name, rows):
    assert_df_equality(conform(actual, name), expect(spark, name, rows), ignore_row_order=True, ignore_nullable=True,
                       ignore_metadata=True)


def test_sessions_converted_when_the_conversion_funnel_completes(built):
    _, session_rows, _ = built
    got = {(r["visitor_id"], r["entry_page"]): (r["converted"], list(r["funnel_steps"])) for r in session_rows.collect()}
    assert got == {("a", "/"): (True, [3, 0]), ("b", "/products/boots"): (False, [1, 0]),
                   ("a", "/blog/winter"): (False, [1, 2])}


def test_page_daily(spark, built):
    page_views, _, _ = built
    check(spark, marts.page_daily(page_views), "gold.page_daily", [
        # date, site, page, views, visitors, entrances, exits, bounces, avg time on page, avg engaged time
        (DAY, SITE, "/", 1, 1, 1, 0, 0, 60.0, None),
        # b's view is an exit (no time), a's 2 min and the last an exit; two of three views were measured by a tag
        (DAY, SITE, "/products/boots", 3, 2, 1, 2, 1, 120.0, 20.0),
        (DAY, SITE, "/cart", 1, 1, 0, 0, 0, 60.0, None),
        (DAY, SITE, "/checkout", 1, 1, 0, 1, 0, None, None),
        (DAY, SITE, "/blog/winter", 1, 1, 1, 0, 0, 120.0, None),
    ])


def test_click_paths_with_entrance_and_exit(spark, built):
    _, session_rows, _ = built
    check(spark, marts.click_paths(session_rows), "gold.click_paths", [
        (DAY, SITE, "(entrance)", "/", 1), (DAY, SITE, "/", "/products/boots", 1), (DAY, SITE, "/products/boots", "/cart", 1),
        (DAY, SITE, "/cart", "/checkout", 1), (DAY, SITE, "/checkout", "(exit)", 1),
        (DAY, SITE, "(entrance)", "/products/boots", 1), (DAY, SITE, "/products/boots", "(exit)", 2),
        (DAY, SITE, "(entrance)", "/blog/winter", 1), (DAY, SITE, "/blog/winter", "/products/boots", 1),
    ])


def test_top_paths_rank_and_keep(spark, built):
    _, session_rows, _ = built
    check(spark, marts.top_paths(session_rows, keep=2), "gold.top_paths", [
        # all three paths once: ties go by the path text, and only two are kept
        (DAY, SITE, 1, "/ > /products/boots > /cart > /checkout", 1, 1),
        (DAY, SITE, 2, "/blog/winter > /products/boots", 1, 1),
    ])


def test_top_paths_cut_long_sessions(spark):
    pages = [f"/p{i}" for i in range(12)]
    df = spark.createDataFrame([(SITE, DAY, "v", pages)], "site string, session_date date, visitor_id string, pages array<string>")
    assert marts.top_paths(df, 5).collect()[0]["path"] == " > ".join(pages[:10]) + " > ..."


def test_traffic_sources(spark, built):
    _, session_rows, _ = built
    check(spark, marts.traffic_sources(session_rows), "gold.traffic_sources", [
        # date, site, channel, source, medium, campaign, sessions, visitors, bounces, pageviews, conversions
        (DAY, SITE, "Direct", "(direct)", "(none)", "(not set)", 2, 2, 1, 5, 1),
        (DAY, SITE, "Email", "newsletter", "email", "bf", 1, 1, 0, 2, 0),
    ])


def test_funnels_have_a_row_per_step_also_at_zero(spark, built):
    _, session_rows, funnels = built
    check(spark, marts.funnel_steps(session_rows, funnels), "gold.funnels", [
        (DAY, SITE, "purchase", 1, "product", 3), (DAY, SITE, "purchase", 2, "cart", 1), (DAY, SITE, "purchase", 3, "checkout", 1),
        (DAY, SITE, "blog_to_product", 1, "blog post", 1), (DAY, SITE, "blog_to_product", 2, "product", 1),
    ])


def test_no_funnels_configured(spark, built):
    _, session_rows, _ = built
    no_funnels = marts.with_funnels(session_rows.drop("funnel_steps", "converted"), ())
    assert no_funnels.where("converted").count() == 0
    assert marts.funnel_steps(no_funnels, ()).count() == 0
