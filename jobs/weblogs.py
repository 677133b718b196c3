"""Access-log lines -> typed, classified requests (silver.weblog_hits) or quarantine rows. Pure.

One regular expression pass per line: the pattern's groups are rewritten into one delimited
string (`regexp_replace`) and split, instead of one `regexp_extract` per field.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clicklake.jobs import classify, stay_lazy

# Apache/NCSA Combined: host ident user [time] "request" status bytes "referrer" "user agent".
# Common (no referrer/agent) is the same with the last two fields absent; extra trailing fields
# (nginx's "$http_x_forwarded_for" and the like) are allowed and ignored.
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMBINED_PATTERN = (
    r"^(\S+) \S+ (\S+) \[([^\]]+)\] " + _QUOTED + r" (\S+) (\S+)(?: " + _QUOTED + r" " + _QUOTED + r")?(?: .*)?$"
)
COMBINED_FIELDS = ("client", "user", "time", "request", "status", "bytes", "referrer", "user_agent")
COMBINED_TIME_FORMAT = "dd/MMM/yyyy:HH:mm:ss Z"

_MATCHED = "\u0002"
_SEP = "\u001f"

# More page requests than this from one client in one minute is not a person.
MAX_HUMAN_PAGES_PER_MINUTE = 30


def split_combined(line: Column) -> Column:
    """Array of COMBINED_FIELDS, or null when the line does not match the pattern."""
    clean = F.translate(line, _MATCHED + _SEP, "")
    replacement = _MATCHED + _SEP.join(f"${i}" for i in range(1, len(COMBINED_FIELDS) + 1))
    rewritten = F.regexp_replace(clean, COMBINED_PATTERN, replacement)
    return F.when(rewritten.startswith(_MATCHED), F.split(F.substring(rewritten, 2, 1 << 30), _SEP))


def _request_parts(request: Column) -> dict[str, Column]:
    """method, target, protocol of a request line; odd request lines keep what can be told."""
    parts = F.split(request, " ")
    n = F.size(parts)
    last = F.element_at(parts, -1)
    has_protocol = (n >= 3) & last.startswith("HTTP/")
    target = F.when(has_protocol, F.array_join(F.slice(parts, 2, n - 2), " ")).when(n == 2, parts.getItem(1))
    return {
        "method": F.when(n >= 2, parts.getItem(0)),
        "target": target,
        "protocol": F.when(has_protocol, last),
    }


def parse_combined(lines: DataFrame) -> DataFrame:
    """bronze.weblog_lines rows -> the same rows with typed fields and a `problem` reason code.

    `problem` is null for usable lines, 'skip' for empty and comment (#) lines, else a quarantine reason.
    """
    fields = split_combined(F.col("line"))
    with_fields = lines.withColumn("_f", fields)
    get = lambda name: with_fields["_f"].getItem(COMBINED_FIELDS.index(name))
    request = _request_parts(get("request"))
    status = get("status").try_cast("int")
    ts = F.try_to_timestamp(get("time"), F.lit(COMBINED_TIME_FORMAT))
    target = request["target"]
    path = F.when(target.isNotNull(), F.split(target, r"\?", 2).getItem(0))
    query = F.when(target.contains("?"), F.split(target, r"\?", 2).getItem(1))
    parsed = with_fields.select(
        "*",
        get("client").alias("client_raw"),
        ts.alias("ts"),
        request["method"].alias("method"),
        path.alias("path_raw"),
        classify.none_if_blank(query).alias("query_raw"),
        request["protocol"].alias("protocol"),
        status.alias("status"),
        F.when(get("bytes") != "-", get("bytes").try_cast("bigint")).alias("bytes"),
        classify.none_if_blank(get("referrer")).alias("referrer_raw"),
        classify.none_if_blank(get("user_agent")).alias("user_agent"),
    )
    problem = (
        F.when((F.trim(F.col("line")) == "") | F.col("line").startswith("#"), F.lit("skip"))
        .when(F.col("_f").isNull(), F.lit("unparseable_line"))
        .when(F.col("ts").isNull(), F.lit("bad_timestamp"))
        .when(F.col("status").isNull() | ~F.col("status").between(100, 599), F.lit("bad_status"))
    )
    return parsed.withColumn("problem", problem).withColumn("log_format", F.lit("combined")).drop("_f")


def date_window_problem(event_date: Column, delivered: Column, late_days: int) -> Column:
    """Quarantine reason for a record whose date lies outside what the delivery date may hold."""
    return (
        F.when(event_date < F.date_sub(delivered, late_days), F.lit("too_late"))
        .when(event_date > F.date_add(delivered, 1), F.lit("future_timestamp"))
    )


def classify_hits(parsed: DataFrame, settings_site: str, secret: str) -> DataFrame:
    """Parsed rows (problem is null) -> silver.weblog_hits columns plus user_agent for the UA join."""
    ts_date = F.to_date("ts")
    hits = parsed.select(
        "dt",
        F.lit(settings_site).alias("site"),
        F.sha2(F.concat_ws("#", "source_file", F.col("line_number").cast("string")), 256).substr(1, 32).alias("hit_id"),
        "ts",
        ts_date.alias("event_date"),
        "host",
        classify.anonymize_ip(F.col("client_raw")).alias("client_ip"),
        classify.visitor_key(F.col("client_raw"), F.col("user_agent"), secret).alias("visitor_key"),
        "method",
        classify.redact_pii(F.col("path_raw")).alias("path"),
        classify.redact_pii(F.col("query_raw")).alias("query"),
        "protocol",
        "status",
        "bytes",
        classify.redact_pii(F.col("referrer_raw")).alias("referrer"),
        "user_agent",
        "log_format",
        "source_file",
        "line_number",
    )
    # One projection for everything derived from path/query/referrer: chained withColumn calls
    # would each inline the redaction regexes again (CollapseProject), hundreds of times.
    derived = {"resource_type": classify.resource_type(F.col("path"))}
    derived.update(classify.campaign_columns(F.col("query"), F.col("referrer")))
    return hits.withColumns(derived)


def behavioural_bot_reasons(hits: DataFrame) -> DataFrame:
    """visitor_key -> behaviour_bot_reason: robots.txt fetchers and clients faster than a person."""
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


def finish_hits(hits: DataFrame, ua_dimension: DataFrame) -> DataFrame:
    """Add user-agent fields, bot flags and the page-view flag (SPEC 3)."""
    with_ua = classify.with_user_agent_fields(hits, ua_dimension)
    behaviour = behavioural_bot_reasons(hits)
    out = with_ua.join(behaviour, on="visitor_key", how="left")
    bot_reason = F.coalesce("ua_bot_reason", "behaviour_bot_reason")
    is_bot = bot_reason.isNotNull()
    is_page_view = (
        (F.col("method") == "GET")
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


def weblog_silver(lines: DataFrame, ua_dimension_of, site: str, secret: str, late_days: int, materialize=stay_lazy) -> dict[str, DataFrame]:
    """bronze.weblog_lines -> {"hits": silver.weblog_hits rows, "quarantine": ..., "parsed": all rows with problem}.

    `ua_dimension_of(df_with_user_agent)` builds the user-agent dimension (classify.user_agent_dimension).
    `materialize(df)` is called on the intermediate frames that several outputs read: computing
    them once keeps Spark from re-parsing, and from inlining the parse into every consumer.
    """
    parsed = parse_combined(lines)
    parsed = materialize(parsed.withColumn(
        "problem",
        F.coalesce("problem", date_window_problem(F.to_date("ts"), F.col("dt"), late_days)),
    ))
    hits = materialize(classify_hits(parsed.where(F.col("problem").isNull()), site, secret))
    hits = finish_hits(hits, ua_dimension_of(hits))
    rejected = parsed.where(F.col("problem").isNotNull() & (F.col("problem") != "skip"))
    return {"hits": hits, "quarantine": quarantine_rows(rejected, "weblog", "line"), "parsed": parsed}
