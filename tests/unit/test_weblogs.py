"""Access-log parsing and classification, one table of cases per rule (description first)."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from clicklake.jobs import classify, logformats, weblogs

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
UTC = dt.timezone.utc


def parse_as_combined(lines):
    """parse_lines with the format fixed (detection has its own tests in test_logformats.py)."""
    if "line_number" not in lines.columns:
        lines = lines.withColumn("source_file", F.col("case")).withColumn("line_number", F.lit(1).cast("bigint"))
    return weblogs.parse_lines(lines, logformats.fixed_format(lines, "combined"))


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=None)


PARSE_CASES = [
    # description, line, (method, path, query, protocol, status, bytes, referrer, user_agent, ts) or problem
    ("combined line from a browser",
     f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET /products/a?x=1&y=2 HTTP/1.1" 200 1234 "https://www.google.com/" "{UA}"',
     ("GET", "/products/a", "x=1&y=2", "HTTP/1.1", 200, 1234, "https://www.google.com/", UA, "2026-11-28T10:00:01"), None),
    ("offset +0100 is converted to UTC",
     f'81.2.69.160 - - [28/Nov/2026:00:30:00 +0100] "GET / HTTP/1.1" 200 10 "-" "{UA}"',
     ("GET", "/", None, "HTTP/1.1", 200, 10, None, UA, "2026-11-27T23:30:00"), None),
    ("offset -0700 is converted to UTC",
     f'81.2.69.160 - - [28/Nov/2026:20:00:00 -0700] "GET / HTTP/1.1" 200 10 "-" "{UA}"',
     ("GET", "/", None, "HTTP/1.1", 200, 10, None, UA, "2026-11-29T03:00:00"), None),
    ("common format: no referrer, no user agent",
     '81.2.69.160 - frank [28/Nov/2026:10:00:01 +0000] "GET /a.html HTTP/1.0" 200 2326',
     ("GET", "/a.html", None, "HTTP/1.0", 200, 2326, None, None, "2026-11-28T10:00:01"), None),
    ("bytes '-' is null",
     f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 304 - "-" "{UA}"',
     ("GET", "/", None, "HTTP/1.1", 304, None, None, UA, "2026-11-28T10:00:01"), None),
    ("nginx extra field after the user agent is ignored",
     f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/2.0" 200 5 "-" "{UA}" "10.0.0.2, 10.0.0.1"',
     ("GET", "/", None, "HTTP/2.0", 200, 5, None, UA, "2026-11-28T10:00:01"), None),
    ("request '-' of a 408 keeps the line with no method or path",
     '::1 - - [28/Nov/2026:10:00:01 +0000] "-" 408 - "-" "-"',
     (None, None, None, None, 408, None, None, None, "2026-11-28T10:00:01"), None),
    ("escaped quote inside the user agent",
     '81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "Agent \\"quoted\\" 1.0"',
     ("GET", "/", None, "HTTP/1.1", 200, 5, None, 'Agent \\"quoted\\" 1.0', "2026-11-28T10:00:01"), None),
    ("space inside the path",
     f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET /a b HTTP/1.1" 404 5 "-" "{UA}"',
     ("GET", "/a b", None, "HTTP/1.1", 404, 5, None, UA, "2026-11-28T10:00:01"), None),
    ("line cut inside the request", '81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET /pro', None, "unparseable_line"),
    ("user agent with no closing quote is not read as a common line",
     '81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 (cut', None, "unparseable_line"),
    ("garbage", "\\x16\\x03\\x01 not a log line", None, "unparseable_line"),
    ("impossible date", f'81.2.69.160 - - [32/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "{UA}"', None, "bad_timestamp"),
    ("status outside 100-599", f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 999 5 "-" "{UA}"', None, "bad_status"),
    ("status that is not a number", f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" abc 5 "-" "{UA}"', None, "bad_status"),
    ("empty line is skipped", "", None, "skip"),
    ("blank line is skipped", "   ", None, "skip"),
    ("comment line is skipped", "# Request with invalid length should not error out", None, "skip"),
]


def test_parse_combined_cases(spark):
    lines = spark.createDataFrame([(c[0], c[1]) for c in PARSE_CASES], "case string, line string")
    parsed = parse_as_combined(lines)
    actual = parsed.select(
        "case", "method", F.col("path_raw").alias("path"), F.col("query_raw").alias("query"), "protocol", "status", "bytes",
        F.col("referrer_raw").alias("referrer"), "user_agent", "ts", "problem",
    )
    rows = []
    for case, _line, fields, problem in PARSE_CASES:
        if fields is None:
            # Unusable lines: only the reason matters; parsed fields are whatever the pattern gave.
            continue
        *values, when = fields
        rows.append((case, *values, ts(when), problem))
    expected = spark.createDataFrame(rows, actual.schema)
    usable = [c[0] for c in PARSE_CASES if c[2] is not None]
    assert_df_equality(actual.where(F.col("case").isin(usable)), expected, ignore_row_order=True, ignore_nullable=True)
    problems = {r["case"]: r["problem"] for r in actual.collect()}
    assert {c[0]: problems[c[0]] for c in PARSE_CASES if c[2] is None} == {c[0]: c[3] for c in PARSE_CASES if c[2] is None}


RESOURCE_CASES = [
    ("root is a page", "/", "page"),
    ("path without extension is a page", "/products/boots-12", "page"),
    ("html page", "/docs/intro.html", "page"),
    ("php page", "/index.php", "page"),
    ("trailing slash directory", "/blog/", "page"),
    ("dot in a directory name does not make an extension", "/v1.2/intro", "page"),
    ("stylesheet", "/static/site.4f2a.css", "asset"),
    ("upper-case image extension", "/img/PHOTO.JPG", "asset"),
    ("font", "/fonts/inter.woff2", "asset"),
    ("favicon", "/favicon.ico", "asset"),
    ("robots.txt", "/robots.txt", "asset"),
    ("pdf download", "/downloads/catalog.pdf", "download"),
    ("office document download", "/files/prices.xlsx", "download"),
    ("archive download", "/files/source.tar.gz", "download"),
    ("an extension with digits", "/releases/app.7z", "download"),
    ("api endpoint has no extension but is no page", "/api/v1/products", "other"),
    ("xml sitemap", "/sitemap.xml", "other"),
    ("a name ending in a dot has no extension", "/notes/draft.", "page"),
    ("an extension with a dash is no extension", "/notes/draft.v-2", "page"),
    ("an extension longer than eight characters is no extension", "/notes/file.abcdefghi", "page"),
    ("only the last dot of the last segment counts", "/a.pdf/report.final.PDF", "download"),
    ("missing path", None, "other"),
]


def test_resource_type_cases(spark):
    df = spark.createDataFrame([(c, p) for c, p, _ in RESOURCE_CASES], "case string, path string")
    actual = df.select("case", classify.resource_type(F.col("path")).alias("resource_type"))
    expected = spark.createDataFrame([(c, r) for c, _, r in RESOURCE_CASES], "case string, resource_type string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


BOT_CASES = [
    ("a desktop browser is human", UA, None),
    ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "ua:search_crawler:googlebot"),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "ua:search_crawler:bingbot"),
    ("GPTBot is an AI crawler", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "ua:ai_crawler:gptbot"),
    ("ClaudeBot is an AI crawler", "Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "ua:ai_crawler:claudebot"),
    ("CCBot", "CCBot/2.0 (https://commoncrawl.org/faq/)", "ua:ai_crawler:ccbot"),
    ("Bytespider", "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", "ua:ai_crawler:bytespider"),
    ("PerplexityBot", "Mozilla/5.0 (compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "ua:ai_crawler:perplexitybot"),
    ("AhrefsBot is an SEO tool", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "ua:seo_tool:ahrefsbot"),
    ("SemrushBot is an SEO tool", "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "ua:seo_tool:semrushbot"),
    ("uptime monitor", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "ua:monitoring:uptimerobot"),
    ("kubernetes probe", "kube-probe/1.29", "ua:monitoring:kube-probe"),
    ("headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "ua:headless_browser:headlesschrome"),
    ("curl", "curl/8.5.0", "ua:http_library:curl/"),
    ("python requests", "python-requests/2.32.3", "ua:http_library:python-requests"),
    ("Go http client", "Go-http-client/1.1", "ua:http_library:go-http-client"),
    ("link preview", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "ua:social_preview:facebookexternalhit"),
    ("unknown crawler by a generic word", "SomeNewCrawler/0.1 (+https://example.org)", "ua:generic_bot:crawler"),
    ("dash user agent", "-", "empty_user_agent"),
]


def test_user_agent_bot_reason_cases(spark):
    df = spark.createDataFrame([(c, ua) for c, ua, _ in BOT_CASES], "case string, user_agent string")
    actual = df.select("case", classify.ua_bot_reason(F.col("user_agent")).alias("reason"))
    expected = spark.createDataFrame([(c, r) for c, _, r in BOT_CASES], "case string, reason string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


IP_CASES = [
    ("IPv4 keeps the /24", "81.2.69.160", "81.2.69.0"),
    ("IPv4 already ending in .0", "81.2.69.0", "81.2.69.0"),
    ("no address", None, None),
    ("IPv6 keeps the /48", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
    ("compressed IPv6 is padded", "2001:db8::1", "2001:db8:0::"),
    ("leading zeros dropped", "2001:0db8:0001:0000::1", "2001:db8:1::"),
    ("IPv6 with a zone index", "fe80::1%eth0", "fe80:0:0::"),
    ("loopback IPv6 stays loopback", "::1", "::1"),
    ("a host name is not an address", "monitoring-server", None),
    ("unix socket client", "unix:", None),
    ("upper-case IPv6 is lowered", "2001:DB8:AC10:FE01::", "2001:db8:ac10::"),
    ("IPv6 compressed at the start", "::ffff:c000:280", "0:0:0::"),
    ("unspecified IPv6", "::", "0:0:0::"),
    ("a zero group keeps one zero", "2001:0:0db8::7", "2001:0:db8::"),
    ("a line break after an IPv6 address is not an address", "fe80::1\n", None),
]


def test_anonymize_ip_cases(spark):
    df = spark.createDataFrame([(c, ip) for c, ip, _ in IP_CASES], "case string, ip string")
    actual = df.select("case", classify.anonymize_ip(F.col("ip")).alias("client_ip"))
    expected = spark.createDataFrame([(c, r) for c, _, r in IP_CASES], "case string, client_ip string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_the_ipv4_pattern_runs_once_per_address(spark):
    # Not over a local relation, whose projection the optimizer would compute away.
    df = spark.range(1).select(classify.anonymize_ip(F.concat(F.lit("81.2.69."), F.col("id").cast("string"))).alias("client_ip"))
    plan = df._jdf.queryExecution().optimizedPlan().toString()
    assert plan.count(classify.IPV4_PATTERN) == 1


def test_the_ipv6_branch_stays_a_small_expression(spark):
    # Each mention of the zone-stripped address is code of its own in a fused stage; nine of them
    # (one per array lookup of a hextet) made the tag events' typing pass twice as slow.
    df = spark.range(1).select(classify.anonymize_ip(F.col("id").cast("string")).alias("client_ip"))
    plan = df._jdf.queryExecution().optimizedPlan().toString()
    assert plan.count("%.*$") <= 3


def test_forwarded_for_chains_keep_only_anonymized_addresses(spark):
    df = spark.createDataFrame([("203.0.113.7, 10.1.1.1,unknown, 2001:db8::1",), ("localhost",), (None,)], "xff string")
    got = [r[0] for r in df.select(classify.anonymize_ip_list(F.col("xff"))).collect()]
    assert got == ["203.0.113.0, 10.1.1.0, 2001:db8:0::", None, None]


COUNTRY_CASES = [
    # description, anonymized client_ip, country registered for its block (iptocc's pinned data)
    ("a US block", "8.8.8.0", "US"),
    ("a Japanese block", "1.0.16.0", "JP"),
    ("a British block", "81.2.69.0", "GB"),
    ("an IPv6 /48", "2001:4860:4860::", "US"),
    ("a private address", "10.0.0.0", None),
    ("the documentation range", "203.0.113.0", None),
    ("loopback", "::1", None),
]


def test_country_cases(spark):
    rows = spark.createDataFrame([(c, ip) for c, ip, _ in COUNTRY_CASES] + [("no address", None)], "case string, client_ip string")
    actual = classify.with_country(rows).select("case", "country")
    expected = spark.createDataFrame([(c, cc) for c, _, cc in COUNTRY_CASES] + [("no address", None)], "case string, country string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_countries_are_looked_up_once_per_distinct_address(spark):
    rows = spark.createDataFrame([("8.8.8.0",)] * 50 + [("1.0.16.0",)] * 50, "client_ip string")
    dimension = classify.country_dimension(rows)
    assert sorted(tuple(r) for r in dimension.collect()) == [("1.0.16.0", "JP"), ("8.8.8.0", "US")]


def test_the_country_dimension_is_broadcast_not_shuffled_with_the_rows(spark):
    """Left to the planner it was a sort-merge join: every wide row shuffled and sorted by address."""
    rows = spark.range(1000).selectExpr("concat('8.8.', cast(id % 7 as string), '.0') AS client_ip", "id")
    plan = classify.with_country(rows)._jdf.queryExecution().executedPlan().toString()
    assert "BroadcastHashJoin" in plan and "SortMergeJoin" not in plan, plan


PII_CASES = [
    ("plain e-mail in a query", "email=ann.lee@mail.example.org&ref=1", "email=[redacted-email]&ref=1"),
    ("percent-encoded @", "u=ann%40mail.example.org", "u=[redacted-email]"),
    ("e-mail in a path", "/unsubscribe/bo@example.com", "/unsubscribe/[redacted-email]"),
    ("nothing to redact", "q=winter+boots", "q=winter+boots"),
    ("an @ without an address is kept", "handle=@ann&x=1", "handle=@ann&x=1"),
    ("two addresses, one escaped", "a=x@y.example.com&b=z%40w.example.net", "a=[redacted-email]&b=[redacted-email]"),
]


def test_redact_pii_cases(spark):
    df = spark.createDataFrame([(c, v) for c, v, _ in PII_CASES], "case string, value string")
    actual = df.select("case", classify.redact_pii(F.col("value")).alias("value"))
    expected = spark.createDataFrame([(c, r) for c, _, r in PII_CASES], "case string, value string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


CAMPAIGN_CASES = [
    # description, query, referrer -> referrer_host, utm_source, utm_medium, utm_campaign, click_id_type
    ("utm fields are decoded and source/medium lower-cased", "utm_source=NewsLetter&utm_medium=Email&utm_campaign=Black%20Friday", None,
     (None, "newsletter", "email", "Black Friday", None)),
    ("plus means space in a campaign", "utm_campaign=winter+sale", None, (None, None, None, "winter sale", None)),
    ("gclid", "gclid=Cj0KCQ&x=1", "https://www.google.com/", ("www.google.com", None, None, None, "gclid")),
    ("msclkid", "msclkid=abc", None, (None, None, None, None, "msclkid")),
    ("referrer host is lower-cased, port and path dropped", None, "HTTPS://News.Example.NET:8443/a?b", ("news.example.net", None, None, None, None)),
    ("broken percent-encoding does not fail the row", "utm_source=%E0%A4%A", None, (None, None, None, None, None)),
]


def test_campaign_column_cases(spark):
    df = spark.createDataFrame([(c, q, r) for c, q, r, _ in CAMPAIGN_CASES], "case string, query string, referrer string")
    cols = classify.campaign_columns(F.coalesce(F.col("query"), F.lit("")), F.col("referrer"))
    actual = df.select("case", *[cols[k].alias(k) for k in ("referrer_host", "utm_source", "utm_medium", "utm_campaign", "click_id_type")])
    expected = spark.createDataFrame([(c, *e) for c, _, _, e in CAMPAIGN_CASES], actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def _line(ip, when, method, path, status, ua=UA):
    return f'{ip} - - [28/Nov/2026:{when} +0000] "{method} {path} HTTP/1.1" {status} 100 "-" "{ua}"'


PAGE_VIEW_CASES = [
    # description, line -> is_page_view, is_bot, bot_reason
    ("GET of a page with 200 is a page view", _line("81.2.69.1", "10:00:00", "GET", "/products/a", 200), (True, False, None)),
    ("304 of a page is a page view", _line("81.2.69.2", "10:00:00", "GET", "/", 304), (True, False, None)),
    ("POST is a hit, not a page view", _line("81.2.69.3", "10:00:00", "POST", "/cart/add", 302), (False, False, None)),
    ("HEAD is a hit, not a page view", _line("81.2.69.4", "10:00:00", "HEAD", "/", 200), (False, False, None)),
    ("redirect is not a page view", _line("81.2.69.5", "10:00:00", "GET", "/old", 301), (False, False, None)),
    ("404 is not a page view", _line("81.2.69.6", "10:00:00", "GET", "/missing", 404), (False, False, None)),
    ("500 is not a page view", _line("81.2.69.7", "10:00:00", "GET", "/checkout", 500), (False, False, None)),
    ("an image is an asset hit", _line("81.2.69.8", "10:00:00", "GET", "/img/a.png", 200), (False, False, None)),
    ("a pdf is a download hit", _line("81.2.69.9", "10:00:00", "GET", "/files/a.pdf", 200), (False, False, None)),
    ("a crawler's page view is a bot hit", _line("66.249.66.1", "10:00:00", "GET", "/", 200, "Mozilla/5.0 (compatible; Googlebot/2.1)"), (False, True, "ua:search_crawler:googlebot")),
    ("a browser user agent that fetched robots.txt is a bot", _line("45.134.1.1", "10:00:00", "GET", "/robots.txt", 200), (False, True, "robots_txt_fetch")),
    ("... and so are its page requests", _line("45.134.1.1", "10:00:05", "GET", "/products/b", 200), (False, True, "robots_txt_fetch")),
]
FAST_SCRAPER = [_line("45.134.9.9", f"11:00:{s:02d}", "GET", f"/p/{s}", 200) for s in range(weblogs.MAX_HUMAN_PAGES_PER_MINUTE + 1)]


def test_page_view_and_bot_cases(spark):
    rows = [(c, line) for c, line, _ in PAGE_VIEW_CASES] + [(f"scraper request {i}", line) for i, line in enumerate(FAST_SCRAPER)]
    lines = spark.createDataFrame(rows, "case string, line string").select(
        "case", "line", F.lit("2026-11-28").cast("date").alias("dt"), F.lit("web-01").alias("host"),
        F.lit("f").alias("source_file"), F.monotonically_increasing_id().alias("line_number"),
    )
    parsed = parse_as_combined(lines)
    hits = weblogs.classify_hits(parsed.where("problem is null").withColumn("source_file", F.col("case")), "www.example.com", "k")
    # Materialized as weblog_silver does: over the whole unmaterialized lineage Spark's optimizer
    # took ~30 s to plan finish_hits for these few rows (0.6 s from the kept rows).
    hits = hits.localCheckpoint(eager=True)
    final = weblogs.finish_hits(hits, classify.user_agent_dimension(hits), weblogs.behavioural_bot_reasons(hits))
    actual = final.select(F.col("source_file").alias("case"), "is_page_view", "is_bot", "bot_reason")
    expected_rows = [(c, *e) for c, _, e in PAGE_VIEW_CASES] + [(f"scraper request {i}", False, True, "request_rate") for i in range(len(FAST_SCRAPER))]
    expected = spark.createDataFrame(expected_rows, actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


BEHAVIOUR_COLUMN_CASES = [
    ("a page", _line("81.2.69.1", "10:00:00", "GET", "/products/a", 200)),
    ("robots.txt", _line("45.134.1.1", "10:00:00", "GET", "/robots.txt", 200)),
    ("an address in the path: redacted before its type is told", _line("81.2.69.2", "10:00:00", "GET", "/u/ann@example.com", 200)),
    ("an asset without a user agent", _line("81.2.69.3", "10:00:00", "GET", "/a.css", 200, "-")),
]


def test_behaviour_columns_are_the_classified_hits_columns(spark):
    """weblog_silver feeds the behavioural rules from behaviour_columns instead of the classified
    hits: the two must agree on every column the rules read."""
    lines = spark.createDataFrame(BEHAVIOUR_COLUMN_CASES, "case string, line string").select(
        "case", "line", F.lit("2026-11-28").cast("date").alias("dt"), F.lit("web-01").alias("host"))
    parsed = parse_as_combined(lines).where("problem is null").localCheckpoint(eager=True)
    columns = ["visitor_key", "ts", "path", "resource_type"]
    expected = weblogs.classify_hits(parsed, "www.example.com", "k").select(*columns)
    actual = weblogs.behaviour_columns(parsed, "k").select(*columns)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert expected.count() == len(BEHAVIOUR_COLUMN_CASES)
    assert ("/u/[redacted-email]", "page") in {(r["path"], r["resource_type"]) for r in actual.collect()}


@pytest.mark.parametrize(
    "ua, os_family, device_family, expected",
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148", "iOS", "iPhone", "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) Mobile/15E148", "iOS", "iPad", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0.0.0 Mobile Safari/537.36", "Android", "Pixel 8", "mobile"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X710) Chrome/131.0.0.0 Safari/537.36", "Android", "Samsung SM-X710", "tablet"),
        (UA, "Windows", "Other", "desktop"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", None, "Spider", "bot"),
        ("SmartTV/1.0", "Tizen", "Other", "other"),
    ],
    ids=["iphone is mobile", "ipad is tablet", "android phone is mobile", "android without Mobile is a tablet",
         "windows is desktop", "spider is bot", "unknown os is other"],
)
def test_device_type(ua, os_family, device_family, expected):
    assert classify.device_type_of(ua, os_family, device_family) == expected


def test_user_agent_dimension_parses_each_distinct_agent_once(spark):
    df = spark.createDataFrame([(UA,), (UA,), ("Mozilla/5.0 (compatible; Googlebot/2.1)",), (None,)], "user_agent string")
    dim = {r["user_agent"]: r for r in classify.user_agent_dimension(df).collect()}
    assert set(dim) == {UA, "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    assert (dim[UA]["browser"], dim[UA]["os"], dim[UA]["device_type"], dim[UA]["ua_bot_reason"]) == ("Chrome", "Windows", "desktop", None)
    assert dim["Mozilla/5.0 (compatible; Googlebot/2.1)"]["ua_bot_reason"] == "ua:search_crawler:googlebot"


RAW_KEPT_CASES = [
    ("a usable line", f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 10 "-" "{UA}"', None),
    ("a comment", "#Fields: date time c-ip", "skip"),
    ("a status outside 100-599", f'81.2.69.160 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 999 10 "-" "{UA}"', "bad_status"),
    ("a bad date", f'81.2.69.160 - - [31/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 10 "-" "{UA}"', "bad_timestamp"),
]


def test_the_parsed_rows_keep_their_line_only_where_the_quarantine_needs_it(spark):
    """The quarantine keeps the raw line of each rejected line; the parsed frame (materialized and
    read by several passes) carries a line only there, and each line is counted once either way."""
    lines = spark.createDataFrame([(c, line) for c, line, _ in RAW_KEPT_CASES], "source_file string, line string").select(
        "source_file", "line", F.lit(1).cast("long").alias("line_number"), F.lit("2026-11-28").cast("date").alias("dt"),
        F.lit("web-01").alias("host"))
    # Materialized as silver.build does: planning the whole lineage at once takes Spark ~40 s.
    out = weblogs.weblog_silver(lines, classify.user_agent_dimension, "www.example.com", "k", 3,
                                lambda df, what=None: df.localCheckpoint(eager=True), logformats.fixed_format(lines, "combined"))
    parsed = {r["source_file"]: (r["problem"], r["line"]) for r in out["parsed"].collect()}
    assert parsed == {c: (problem, line if problem not in (None, "skip") else None) for c, line, problem in RAW_KEPT_CASES}
    quarantined = {r["source_file"]: (r["reason"], r["raw"]) for r in out["quarantine"].collect()}
    assert quarantined == {c: (problem, line) for c, line, problem in RAW_KEPT_CASES if problem not in (None, "skip")}
    assert [r["source_file"] for r in out["hits"].collect()] == ["a usable line"]
