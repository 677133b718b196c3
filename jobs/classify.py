"""Classification shared by access-log hits and tag events: pure column expressions and transforms.

Nothing here reads or writes; per-value Python (user-agent parsing) runs only on distinct user
agents and is joined back.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

# ---- resource type (SPEC 3) ------------------------------------------------------------------

PAGE_EXTENSIONS = ("html", "htm", "php", "asp", "aspx", "jsp", "shtml", "xhtml", "cfm")
ASSET_EXTENSIONS = (
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp", "tif", "tiff",
    "woff", "woff2", "ttf", "otf", "eot", "mp4", "webm", "ogg", "mp3", "wav", "m4a", "m4v", "mov", "flac", "vtt",
)
DOWNLOAD_EXTENSIONS = (
    "pdf", "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "tar", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
    "odt", "ods", "odp", "csv", "rtf", "epub", "exe", "msi", "dmg", "pkg", "deb", "rpm", "apk", "iso", "jar",
)
ASSET_PATHS = ("/robots.txt", "/favicon.ico", "/apple-touch-icon.png", "/site.webmanifest", "/manifest.json")
# Machine endpoints have no extension but are not pages.
NON_PAGE_PREFIXES = ("/api/", "/wp-json/", "/graphql", "/.well-known/", "/xmlrpc.php", "/wp-admin/admin-ajax.php")


# Extension -> resource type, one map lookup per path (as a CASE branch per kind, Spark worked
# the extension out again for each branch a path reached: resource_type of 2M access-log lines
# cost 1.0 s, now 0.6 s; 2026-12-01).
EXTENSION_TYPES = {"": "page", **dict.fromkeys(PAGE_EXTENSIONS, "page"), **dict.fromkeys(ASSET_EXTENSIONS, "asset"),
                   **dict.fromkeys(DOWNLOAD_EXTENSIONS, "download")}
EXTENSION_PATTERN = r"^[a-z0-9]{1,8}$"


def resource_type(path: Column) -> Column:
    lowered = F.lower(path)
    non_page = F.lit(False)
    for prefix in NON_PAGE_PREFIXES:
        non_page = non_page | lowered.startswith(prefix)
    # Found by splitting, not by a pattern anchored at the end: Java's regex tries an end anchor
    # from every position of the path.
    last_segment = F.substring_index(lowered, "/", -1)
    after_dot = F.when(last_segment.contains("."), F.substring_index(last_segment, ".", -1)).otherwise(F.lit(""))
    by_extension = F.create_map(*[F.lit(x) for pair in EXTENSION_TYPES.items() for x in pair])
    # Text after a dot that is no extension ("/v1.2-beta") makes a page, as no dot does.
    unknown = F.when(after_dot.rlike(EXTENSION_PATTERN), F.lit("other")).otherwise(F.lit("page"))
    return (
        F.when(path.isNull(), F.lit("other"))
        .when(lowered.isin(*ASSET_PATHS), F.lit("asset"))
        .when(non_page, F.lit("other"))
        .otherwise(F.coalesce(F.element_at(by_extension, after_dot), unknown))
    )


# ---- privacy (SPEC 4) ------------------------------------------------------------------------

EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
REDACTED_EMAIL = "[redacted-email]"
# Whether a value holds an address, for checks that ask only that (the gates): one character of
# the local part is enough. EMAIL_PATTERN's leading `+` makes a search rescan each run of
# address characters from every position in it, quadratic in the run's length; on 7M URLs that
# was the slowest check of the silver gate.
EMAIL_FOUND_PATTERN = r"[A-Za-z0-9._%+-](?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"


def redact_pii(value: Column) -> Column:
    # The pattern starts a match attempt at every character; only a value holding '@' or its
    # escape can match, and checking that first made silver's redaction of 500k hits 10x cheaper.
    may_hold_email = value.contains("@") | value.contains("%40")
    return F.when(may_hold_email, F.regexp_replace(value, EMAIL_PATTERN, REDACTED_EMAIL)).otherwise(value)


IPV4_PATTERN = r"^(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$"


def anonymize_ip(ip: Column) -> Column:
    """IPv4 -> /24 (last octet 0); IPv6 -> /48 (first three hextets, then ::); anything else -> null."""
    # Read once, outside any CASE WHEN: Spark does not share a value between a condition and its
    # branch, and would run the pattern twice for every IPv4 address.
    ipv4 = F.nullif(F.concat(F.regexp_extract(ip, IPV4_PATTERN, 1), F.lit(".0")), F.lit(".0"))
    v6 = F.lower(F.regexp_replace(ip, r"%.*$", ""))  # drop a zone index such as %eth0
    # Every mention of a value is generated as code of its own: the first three groups read by
    # three array lookups (each splitting v6 again) made the tag events' last pass 77 KB of Java
    # larger and twice as slow, though no IPv4 address runs this branch (2026-12-02). Here the
    # groups before "::" get ":0:0:0" appended (a missing group is 0) and one pattern takes three;
    # leading zeros go, and an empty group ("::1:2" starts with one) is 0.
    first_three = F.regexp_extract(F.concat(F.substring_index(v6, "::", 1), F.lit(":0:0:0")), r"^([^:]*:[^:]*:[^:]*)", 1)
    groups = F.regexp_replace(F.regexp_replace(first_three, r"(^|:)0+(?=[^:])", "$1"), r"(^|:)(?=:|$)", "$10")
    ipv6 = F.concat(groups, F.lit("::"))
    return F.coalesce(ipv4, F.when(v6.rlike(r"^[0-9a-f]*:[0-9a-f:]*\z"), F.when(v6 == "::1", F.lit("::1")).otherwise(ipv6)))


def anonymize_ip_list(addresses: Column) -> Column:
    """'a, b, c' -> the anonymized addresses, ', '-joined; entries that are not IPs are dropped."""
    # Lambdas keep the hits' classification out of whole-stage code generation, which measured
    # faster (2M access-log lines: 15.7-16.3 s against 21.1-27.0 s fused; README, Performance).
    each = F.transform(F.split(addresses, r",\s*"), lambda a: anonymize_ip(F.trim(a)))
    kept = F.filter(each, lambda a: a.isNotNull())
    return F.when(F.size(kept) > 0, F.array_join(kept, ", "))


def visitor_key(ip: Column, user_agent: Column, secret: str) -> Column:
    """Keyed hash of (raw IP, user agent): stable across days for one deployment key, not reversible."""
    return F.sha2(F.concat_ws("\u0001", F.lit(secret), F.coalesce(ip, F.lit("")), F.coalesce(user_agent, F.lit(""))), 256).substr(1, 32)


# ---- URLs and campaigns ----------------------------------------------------------------------

def none_if_blank(value: Column) -> Column:
    return F.when((value.isNull()) | (F.trim(value) == "") | (value == "-"), F.lit(None).cast("string")).otherwise(value)


def query_param(query: Column, name: str) -> Column:
    # Most queries hold no campaign parameter: the pattern (tried from every '&') runs only on
    # those that name it (706,366 tag events typed: 5.4 s -> 4.7 s with the click ids' likewise).
    raw = F.when(query.contains(f"{name}="), F.regexp_extract(query, rf"(?:^|&){name}=([^&#]*)", 1))
    return none_if_blank(F.try_url_decode(F.regexp_replace(raw, r"\+", " ")))


def url_host(url: Column) -> Column:
    return none_if_blank(F.lower(F.regexp_extract(url, r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)", 1)))


def url_path(url: Column) -> Column:
    return none_if_blank(F.regexp_extract(url, r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)", 1))


def url_query(url: Column) -> Column:
    return none_if_blank(F.regexp_extract(url, r"\?([^#]*)", 1))


def campaign_columns(query: Column, referrer: Column) -> dict[str, Column]:
    """utm_* fields, ad click id and referrer host, as the silver tables name them."""
    return {
        "referrer_host": url_host(referrer),
        "utm_source": F.lower(query_param(query, "utm_source")),
        "utm_medium": F.lower(query_param(query, "utm_medium")),
        "utm_campaign": query_param(query, "utm_campaign"),
        "utm_term": query_param(query, "utm_term"),
        "utm_content": query_param(query, "utm_content"),
        "click_id_type": (
            F.when(query.contains("gclid=") & query.rlike(r"(?:^|&)gclid="), F.lit("gclid"))
            .when(query.contains("msclkid=") & query.rlike(r"(?:^|&)msclkid="), F.lit("msclkid"))
            .when(query.contains("fbclid=") & query.rlike(r"(?:^|&)fbclid="), F.lit("fbclid"))
        ),
    }


# ---- bots and user agents --------------------------------------------------------------------

# (category, case-insensitive Java regex). First match wins; the reason records both, so a
# bots-only view can say which crawler did what. Keep the specific names before generic words.
BOT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("ai_crawler", r"GPTBot|ChatGPT-User|OAI-SearchBot|ClaudeBot|Claude-Web|anthropic-ai|PerplexityBot|Perplexity-User|CCBot|Bytespider|Amazonbot|Google-Extended|Applebot-Extended|cohere-ai|Diffbot|YouBot|meta-externalagent|ImagesiftBot|Timpibot"),
    ("search_crawler", r"Googlebot|Google-InspectionTool|GoogleOther|Storebot-Google|AdsBot-Google|Mediapartners-Google|bingbot|BingPreview|msnbot|Slurp|DuckDuckBot|Baiduspider|YandexBot|YandexImages|Yandex\.com/bots|Sogou|Exabot|SeznamBot|Applebot|PetalBot|Qwantify|naver\.me/bot|Yeti/"),
    ("seo_tool", r"AhrefsBot|SemrushBot|MJ12bot|DotBot|BLEXBot|Screaming Frog|rogerbot|SerpstatBot|DataForSeoBot|MegaIndex|seokicks|SiteAuditBot|Barkrowler"),
    ("social_preview", r"facebookexternalhit|facebookcatalog|Twitterbot|LinkedInBot|Slackbot|Discordbot|TelegramBot|WhatsApp|Pinterestbot|redditbot|Embedly|SkypeUriPreview"),
    ("monitoring", r"UptimeRobot|Pingdom|StatusCake|Site24x7|Datadog|NewRelicPinger|New Relic|Prometheus|Blackbox Exporter|kube-probe|ELB-HealthChecker|GoogleHC|Zabbix|Nagios|check_http|Uptime-Kuma|Better Uptime|Checkly|Catchpoint|monitis"),
    ("headless_browser", r"HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|webdriver|Cypress|SlimerJS|Splash"),
    ("http_library", r"^curl/|^Wget|python-requests|python-urllib|Python/\d|aiohttp|httpx|Go-http-client|^Java/|okhttp|Apache-HttpClient|axios/|node-fetch|undici|libwww-perl|LWP::|WWW-Mechanize|Scrapy|^Ruby|Faraday|PHP/|GuzzleHttp|Dart/|reqwest|^RestSharp|PostmanRuntime|insomnia|HTTPie"),
    ("generic_bot", r"bot\b|bot/|crawler|crawl|spider|scraper|fetcher|archiver|ia_archiver|Nutch|heritrix|^Mozilla/5\.0$"),
)


def ua_bot_reason(user_agent: Column) -> Column:
    """Bot reason from the user agent alone, or null. Apply to distinct user agents only."""
    expr = F.when(user_agent.isNull() | (F.trim(user_agent) == "") | (user_agent == "-"), F.lit("empty_user_agent"))
    for category, pattern in BOT_PATTERNS:
        matched = F.regexp_extract(user_agent, f"(?i)({pattern})", 1)
        expr = expr.when(matched != "", F.concat(F.lit(f"ua:{category}:"), F.lower(matched)))
    return expr


@lru_cache(maxsize=1)
def _ua_parser():
    from ua_parser import parse

    return parse


def device_type_of(ua: str | None, os_family: str | None, device_family: str | None) -> str:
    ua = ua or ""
    if device_family == "Spider":
        return "bot"
    if device_family == "iPad" or "Tablet" in ua or (os_family == "Android" and "Mobile" not in ua):
        return "tablet"
    if os_family in ("iOS", "Android") or "Mobi" in ua or device_family == "iPhone":
        return "mobile"
    if os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "FreeBSD", "Debian"):
        return "desktop"
    return "other"


def parse_user_agents(user_agents: pd.Series) -> pd.DataFrame:
    """browser, os, device_type for each user agent (pure Python; runs inside a pandas_udf)."""
    parse = _ua_parser()
    rows = []
    for ua in user_agents:
        if ua is None or ua == "":
            rows.append((None, None, "other"))
            continue
        result = parse(ua)
        browser = result.user_agent.family if result.user_agent else None
        os_family = result.os.family if result.os else None
        device = result.device.family if result.device else None
        rows.append((browser, os_family, device_type_of(ua, os_family, device)))
    return pd.DataFrame(rows, columns=["browser", "os", "device_type"])


_parse_ua_udf = F.pandas_udf(
    parse_user_agents,
    T.StructType([T.StructField(name, T.StringType()) for name in ("browser", "os", "device_type")]),
)


def user_agent_dimension(user_agents: DataFrame) -> DataFrame:
    """One row per distinct user agent: browser, os, device_type, ua_bot_reason.

    The input may repeat values; this deduplicates first, so the Python parser sees each once.
    """
    distinct = user_agents.select("user_agent").where(F.col("user_agent").isNotNull()).distinct()
    parsed = distinct.withColumn("parsed", _parse_ua_udf("user_agent"))
    return parsed.select(
        "user_agent",
        F.col("parsed.browser").alias("browser"),
        F.col("parsed.os").alias("os"),
        F.col("parsed.device_type").alias("device_type"),
        ua_bot_reason(F.col("user_agent")).alias("ua_bot_reason"),
    )


def with_user_agent_fields(df: DataFrame, dimension: DataFrame) -> DataFrame:
    """Join the user-agent dimension back; a missing user agent is a bot (empty_user_agent)."""
    joined = df.join(F.broadcast(dimension), on="user_agent", how="left")
    reason = F.coalesce(F.col("ua_bot_reason"), F.when(F.col("user_agent").isNull(), F.lit("empty_user_agent")))
    return joined.withColumns(
        {
            "ua_bot_reason": reason,
            "device_type": F.when(reason.isNotNull(), F.lit("bot")).otherwise(F.coalesce("device_type", F.lit("other"))),
        }
    )


# ---- countries -------------------------------------------------------------------------------

def countries_of_ips(addresses: pd.Series) -> pd.Series:
    """ISO 3166-1 alpha-2 country of each address (runs inside a pandas_udf).

    The iptocc wheel embeds the five Regional Internet Registries' delegation files (offline, no
    key); a block's country is the one it is registered to, which agrees with commercial geo
    databases for about 95% of addresses. RIRs delegate IPv4 in /24 or larger blocks and IPv6 in
    /48 or larger, so the anonymized addresses of silver give the same answer as the raw ones.
    """
    from iptocc import country_code

    values = [a if isinstance(a, str) else "" for a in addresses]
    return pd.Series(country_code(values), dtype=object)


_country_udf = F.pandas_udf(countries_of_ips, T.StringType())


def country_dimension(rows: DataFrame) -> DataFrame:
    """One row per distinct client_ip (anonymized): its country, or null (private, reserved, unknown)."""
    distinct = rows.select("client_ip").where(F.col("client_ip").isNotNull()).distinct()
    return distinct.withColumn("country", _country_udf("client_ip"))


def with_country(rows: DataFrame, addresses: DataFrame | None = None) -> DataFrame:
    """rows with client_ip -> the same rows with country (looked up once per distinct address).

    `addresses` (client_ip), when given, is what the dimension is built from instead of rows: any
    superset of rows' addresses gives the same answer, and a cheaper frame to compute than rows
    saves a pass (tag_events.tag_silver says why).

    The dimension is broadcast, as the user-agent one is: it holds one row per anonymized network
    (/24, /48), 36,257 on a day of 1M records, ~40 bytes each. Left to the planner, whose size
    estimate of a pandas_udf's output is the input's, it was a sort-merge join that shuffled and
    sorted every wide row: 126 s of task time on a day of 10M records, spilling 1.2 GB."""
    return rows.join(F.broadcast(country_dimension(rows if addresses is None else addresses)), on="client_ip", how="left")
