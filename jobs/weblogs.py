"""Access-log lines -> typed, classified requests (silver.weblog_hits) or quarantine rows. Pure.

Each file's format is detected from its first lines and each line is read by that format's one
regular expression (or one JSON parse, or one tokenizing pass for W3C files): see logformats.py.
Here the formats' shared raw fields are typed and checked.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clicklake.jobs import classify, logformats, stay_lazy

# More page requests than this from one client in one minute is not a person.
MAX_HUMAN_PAGES_PER_MINUTE = 30

# Formats whose records are not HTTP requests and so carry no status (streaming events).
STATUSLESS_FORMATS = ("cloudfront_rtmp",)


def _request_parts(parts: Column) -> dict[str, Column]:
    """method, target, protocol of a request line split at spaces; odd request lines keep what can be told."""
    n = F.size(parts)
    last = F.try_element_at(parts, F.lit(-1))
    has_protocol = (n >= 3) & last.startswith("HTTP/")
    target = F.when(has_protocol, F.array_join(F.slice(parts, 2, n - 2), " ")).when(n == 2, parts.getItem(1))
    return {
        "method": F.when((n >= 2) & (parts.getItem(0) != "-"), parts.getItem(0)),
        "target": target,
        "protocol": F.when(has_protocol, last),
    }


def parse_lines(lines: DataFrame, formats: DataFrame | None = None, custom: logformats.CustomFormat | None = None,
                families=None) -> DataFrame:
    """bronze.weblog_lines rows -> the same rows with typed fields, `log_format` and a `problem` code.

    `formats` is logformats.detect_formats(lines) (computed here when not given). `problem` is null
    for usable lines, 'skip' for empty, comment and TCP-only lines, else a quarantine reason.
    """
    if formats is None:
        formats = logformats.detect_formats(lines)
    raw = logformats.parse_raw(lines, formats, families, custom)
    # Each derived value is a column of its own before it is used several times: inlined, Spark
    # would evaluate it once per use (conditional branches are not shared).
    request = _request_parts(F.col("_request_parts"))
    raw = raw.withColumn("_request_parts", F.split("request", " ")).withColumns({
        "target": F.coalesce(F.col("target"), request["target"]),
        "method": F.coalesce(F.col("method"), request["method"]),
        "protocol": F.coalesce(F.col("protocol"), request["protocol"]),
    })
    target = F.col("target")
    # Load balancers, CDNs and proxies log absolute URLs: the host is the site, the rest the path.
    is_url = target.contains("://")
    path = F.when(is_url, F.coalesce(classify.url_path(target), F.lit("/"))).when(
        target.isNotNull(), F.split(target, r"\?", 2).getItem(0)
    )
    query = F.when(is_url, classify.url_query(target)).when(target.contains("?"), F.split(target, r"\?", 2).getItem(1))
    vhost = F.lower(F.col("vhost"))
    vhost = F.when(vhost.rlike(r":\d+$"), F.regexp_replace(vhost, r":\d+$", "")).otherwise(vhost)
    # Behind proxies and load balancers the visitor is the first address of X-Forwarded-For.
    first = lambda addresses: F.translate(F.trim(F.substring_index(addresses, ",", 1)), "[]", "")
    client = F.coalesce(classify.none_if_blank(first(F.col("x_forwarded_for"))), first(F.col("client_list")))
    status = F.col("status_text").try_cast("int")
    parsed = raw.select(
        *lines.columns,
        "log_format",
        classify.none_if_blank(client).alias("client_raw"),
        F.coalesce(classify.none_if_blank(vhost), F.when(is_url, classify.url_host(target))).alias("vhost"),
        "ts",
        "method",
        path.alias("path_raw"),
        classify.none_if_blank(query).alias("query_raw"),
        "protocol",
        status.alias("status"),
        F.when(F.col("bytes_text") != "-", F.col("bytes_text").try_cast("bigint")).alias("bytes"),
        classify.none_if_blank(F.col("referrer")).alias("referrer_raw"),
        classify.none_if_blank(F.col("user_agent")).alias("user_agent"),
        classify.none_if_blank(F.col("x_forwarded_for")).alias("x_forwarded_for"),
        "request_time_s",
        "family_problem",
    )
    status_ok = F.col("status").between(100, 599) | (
        F.col("status").isNull() & F.col("log_format").isin(*STATUSLESS_FORMATS)
    )
    problem = (
        F.when((F.trim(F.col("line")) == "") | F.col("line").startswith("#"), F.lit("skip"))
        .when(F.col("family_problem").isNotNull(), F.col("family_problem"))
        .when(F.col("ts").isNull(), F.lit("bad_timestamp"))
        .when(~F.coalesce(status_ok, F.lit(False)), F.lit("bad_status"))
    )
    return parsed.withColumn("problem", problem).drop("family_problem")


def is_quarantined(problem: Column | None = None) -> Column:
    """A parsed row the quarantine keeps: it has a problem, and not 'skip' (comments, blank lines)."""
    problem = F.col("problem") if problem is None else problem
    return problem.isNotNull() & (problem != "skip")


def raw_where_quarantined(raw_column: str) -> Column:
    """The raw line only where the quarantine keeps it, else null.
    The parsed frame is materialized, then read whole by several passes: in the 10M-record day the
    raw lines were 42% of the parsed access-log lines' bytes (537 MB -> 313 MB) and 39% of the
    parsed tag events' (3.5 GB -> 2.1 GB; 2026-12-01)."""
    return F.when(is_quarantined(), F.col(raw_column))


def date_window_problem(event_date: Column, delivered: Column, late_days: int) -> Column:
    """Quarantine reason for a record whose date lies outside what the delivery date may hold."""
    return (
        F.when(event_date < F.date_sub(delivered, late_days), F.lit("too_late"))
        .when(event_date > F.date_add(delivered, 1), F.lit("future_timestamp"))
    )


def _hit_visitor_key(secret: str) -> Column:
    return classify.visitor_key(F.col("client_raw"), F.col("user_agent"), secret)


def _hit_path() -> Column:
    return classify.redact_pii(F.col("path_raw"))


def _hit_client_ip() -> Column:
    return classify.anonymize_ip(F.col("client_raw"))


def classify_hits(parsed: DataFrame, settings_site: str, secret: str) -> DataFrame:
    """Parsed rows (problem is null) -> silver.weblog_hits columns plus user_agent for the UA join."""
    ts_date = F.to_date("ts")
    hits = parsed.select(
        "dt",
        F.coalesce(F.col("vhost"), F.lit(settings_site)).alias("site"),
        F.sha2(F.concat_ws("#", "source_file", F.col("line_number").cast("string")), 256).substr(1, 32).alias("hit_id"),
        "ts",
        ts_date.alias("event_date"),
        "host",
        _hit_client_ip().alias("client_ip"),
        _hit_visitor_key(secret).alias("visitor_key"),
        "method",
        _hit_path().alias("path"),
        classify.redact_pii(F.col("query_raw")).alias("query"),
        "protocol",
        "status",
        "bytes",
        classify.redact_pii(F.col("referrer_raw")).alias("referrer"),
        "user_agent",
        classify.anonymize_ip_list(F.col("x_forwarded_for")).alias("x_forwarded_for"),
        "request_time_s",
        "log_format",
        "source_file",
        "line_number",
    )
    # One projection for everything derived from path/query/referrer: chained withColumn calls
    # would each inline the redaction regexes again (CollapseProject), hundreds of times.
    derived = {"resource_type": classify.resource_type(F.col("path"))}
    derived.update(classify.campaign_columns(F.col("query"), F.col("referrer")))
    return hits.withColumns(derived)


def behaviour_columns(parsed: DataFrame, secret: str) -> DataFrame:
    """What behavioural_bot_reasons reads of classify_hits(parsed), computed alone from the parsed
    rows: visitor_key, ts, path and resource_type, by the same expressions."""
    return parsed.select(_hit_visitor_key(secret).alias("visitor_key"), "ts", _hit_path().alias("path")).withColumn(
        "resource_type", classify.resource_type(F.col("path")))


def behavioural_bot_reasons(hits: DataFrame) -> DataFrame:
    """visitor_key -> behaviour_bot_reason: robots.txt fetchers and clients faster than a person.
    `hits` needs visitor_key, ts, path and resource_type (classify_hits or behaviour_columns)."""
    robots = (
        hits.where(F.lower("path") == "/robots.txt")
        .select("visitor_key")
        .distinct()
        .withColumn("behaviour_bot_reason", F.lit("robots_txt_fetch"))
    )
    fast = (
        hits.where(F.col("resource_type") == "page")
        .groupBy("visitor_key", F.date_trunc("minute", "ts").alias("minute"))
        .count()
        .where(F.col("count") > MAX_HUMAN_PAGES_PER_MINUTE)
        .select("visitor_key")
        .distinct()
        .withColumn("behaviour_bot_reason", F.lit("request_rate"))
    )
    both = robots.unionByName(fast)
    return both.groupBy("visitor_key").agg(F.min("behaviour_bot_reason").alias("behaviour_bot_reason"))


def finish_hits(hits: DataFrame, ua_dimension: DataFrame, behaviour: DataFrame, addresses: DataFrame | None = None) -> DataFrame:
    """Add user-agent fields, country, bot flags and the page-view flag (SPEC 3).

    `behaviour` is behavioural_bot_reasons' output, `addresses` as in classify.with_country. The
    behaviour is broadcast: it holds only the visitors the rules catch (one short row each, far
    fewer than the hits), where joining it by visitor_key shuffled every wide hit (454 MB of 2M
    access-log lines)."""
    with_ua = classify.with_country(classify.with_user_agent_fields(hits, ua_dimension), addresses)
    out = with_ua.join(F.broadcast(behaviour), on="visitor_key", how="left")
    bot_reason = F.coalesce("ua_bot_reason", "behaviour_bot_reason")
    is_bot = bot_reason.isNotNull()
    # Formats that log no method (BunnyCDN) count as GET: CDNs and streams serve GETs.
    is_page_view = (
        (F.coalesce(F.col("method"), F.lit("GET")) == "GET")
        & (F.col("status").between(200, 299) | (F.col("status") == 304))
        & (F.col("resource_type") == "page")
        & ~is_bot
    )
    return out.withColumns(
        {
            "bot_reason": bot_reason,
            "is_bot": is_bot,
            "device_type": F.when(is_bot, F.lit("bot")).otherwise(F.col("device_type")),
            "is_page_view": is_page_view,
        }
    )


def quarantine_rows(rejected: DataFrame, source: str, raw_column: str) -> DataFrame:
    return rejected.select(
        "dt",
        F.lit(source).alias("source"),
        "source_file",
        "line_number",
        F.col(raw_column).alias("raw"),
        F.col("problem").alias("reason"),
    )


def weblog_silver(lines: DataFrame, ua_dimension_of, site: str, secret: str, late_days: int, materialize=stay_lazy,
                  formats: DataFrame | None = None, custom: logformats.CustomFormat | None = None,
                  families=None) -> dict[str, DataFrame]:
    """bronze.weblog_lines -> {"hits": silver.weblog_hits rows, "quarantine": ..., "parsed": all rows with problem
    (their line only on quarantined rows)}.

    `ua_dimension_of(df_with_user_agent)` builds the user-agent dimension (classify.user_agent_dimension).
    `materialize(df)` is called on the intermediate frames that several outputs read: computing
    them once keeps Spark from re-parsing, and from inlining the parse into every consumer.
    `formats`, `custom`, `families`: see parse_lines.
    """
    parsed = parse_lines(lines, formats, custom, families).withColumn(
        "problem",
        F.coalesce("problem", date_window_problem(F.to_date("ts"), F.col("dt"), late_days)),
    )
    parsed = materialize(parsed.withColumn("line", raw_where_quarantined("line")))
    usable = parsed.where(F.col("problem").isNull())
    # The hits are classified in one pass that nothing reads twice: the dimensions and the
    # behavioural rules come from the few parsed columns they need. Materialized hits for them
    # cost a serialization and a shuffle of every wide hit: parsing and classifying 2M
    # access-log lines took 44.9-50.9 s warm, 39.5-45.7 s so (alternating in one process,
    # identical output; 2026-12-02). Written to Parquet, as the pipeline does, the gain is smaller.
    hits = finish_hits(
        classify_hits(usable, site, secret),
        ua_dimension_of(usable.select("user_agent")),
        behavioural_bot_reasons(behaviour_columns(usable, secret)),
        addresses=usable.select(_hit_client_ip().alias("client_ip")),
    )
    rejected = parsed.where(is_quarantined())
    return {"hits": hits, "quarantine": quarantine_rows(rejected, "weblog", "line"), "parsed": parsed}
