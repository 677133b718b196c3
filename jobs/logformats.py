"""Access-log formats: each landing file's format is detected from its first lines, then every line
of the file is parsed by its format family's one pattern into one set of fields. Pure transforms.

Families (one parser each) and the format names detection gives within them:

| family      | formats                                                                                 |
|-------------|-----------------------------------------------------------------------------------------|
| clf         | common, combined, common_vhost, vhost_combined, nginx_xff (client lists), gandi,        |
|             | icecast2, traefik (Traefik's CLF flavour), ovh                                          |
| ssl_request | ssl_request (Apache mod_ssl's request log: time, client, TLS version, cipher, request)  |
| elb         | elb (AWS classic ELB), alb (AWS Application Load Balancer)                              |
| s3          | s3 (S3 server access log)                                                               |
| haproxy     | haproxy (HTTP log inside a syslog line)                                                 |
| bunny       | bunny (BunnyCDN, pipe-separated)                                                        |
| json        | nginx_json, caddy_json, traefik_json                                                    |
| w3c         | iis, iis_advanced, iis_headerless, cloudfront_web, cloudfront_rtmp, netscaler,          |
|             | shoutcast, incapsula, w3c (any other file with #Fields headers)                         |
| custom      | custom: a user's regular expression with named groups, and its time format              |

Every family yields the same raw fields (`RAW_FIELDS`, strings except `ts`), so typing, checks and
classification downstream are shared. A line a family cannot read gets `problem`
'unparseable_line' (or 'field_count_mismatch', 'bad_json'); a file no format recognises gets
'unknown_format' on each line, so nothing is dropped without a reason.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

# ---- the catalog -----------------------------------------------------------------------------

# name -> family. Order matters twice: detection prefers earlier names on equal votes, and
# `parse-log --format` lists them in this order.
FORMATS: dict[str, str] = {
    "combined": "clf", "common": "clf", "vhost_combined": "clf", "common_vhost": "clf", "nginx_xff": "clf",
    "gandi": "clf", "icecast2": "clf", "traefik": "clf", "ovh": "clf",
    "ssl_request": "ssl_request",
    "elb": "elb", "alb": "elb",
    "s3": "s3",
    "haproxy": "haproxy",
    "bunny": "bunny",
    "nginx_json": "json", "caddy_json": "json", "traefik_json": "json",
    "iis": "w3c", "iis_advanced": "w3c", "iis_headerless": "w3c", "cloudfront_web": "w3c", "cloudfront_rtmp": "w3c",
    "netscaler": "w3c", "shoutcast": "w3c", "incapsula": "w3c", "w3c": "w3c",
    "custom": "custom",
}

RAW_FIELDS = (
    "vhost", "client_list", "user", "ts", "request", "method", "target", "protocol", "status_text", "bytes_text",
    "referrer", "user_agent", "x_forwarded_for", "request_time_s", "family_problem",
)

# Fields a custom pattern may name (Python `(?P<name>...)` or Java `(?<name>...)` groups).
CUSTOM_GROUPS = ("vhost", "client", "user", "time", "request", "method", "target", "protocol", "status", "bytes",
                 "referrer", "user_agent", "x_forwarded_for")


@dataclass(frozen=True)
class CustomFormat:
    """A user-supplied line pattern: named groups from CUSTOM_GROUPS, `time` read with `time_format`
    (Spark datetime pattern; the offset, if any, belongs in the pattern, else the time is UTC)."""

    pattern: str
    time_format: str

    def java_pattern_and_groups(self) -> tuple[str, tuple[str, ...]]:
        python_style = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", self.pattern)
        try:
            compiled = re.compile(python_style)
        except re.error as exc:
            raise ValueError(f"custom log pattern does not compile: {exc}") from exc
        names = tuple(sorted(compiled.groupindex, key=compiled.groupindex.get))
        unknown = sorted(set(names) - set(CUSTOM_GROUPS))
        if unknown or "time" not in names or not ({"request", "target"} & set(names)):
            raise ValueError(
                f"custom log pattern groups must include time and request (or target), from {', '.join(CUSTOM_GROUPS)}; "
                f"unknown: {', '.join(unknown) or 'none'}"
            )
        # Java numbers unnamed groups as Python does, and its group names allow no '_'.
        java = re.sub(r"\(\?P<[A-Za-z_]\w*>", "(", python_style)
        return java, tuple((name, compiled.groupindex[name]) for name in names)


# ---- detection -------------------------------------------------------------------------------

DETECT_LINES = 50  # first lines of a file that vote; W3C headers may follow a few directives

# A quoted field with backslash escapes, written as an unrolled loop: Java's regex engine runs
# a character class loop far faster than an alternation per character (measured 2.7x on CLF lines).
_Q = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_QG = r'"([^"\\]*(?:\\.[^"\\]*)*)"'  # the same, its content as a group
_CLF_HEAD = r"^(.+?) (\S+) (\S+) \[[^\]]+\] "
# Per line: (name, regex) tried in order; a file takes the most frequent name among its lines.
_LINE_SIGNATURES = (
    ("w3c:cloudfront_rtmp", r"^#Fields:.*\bx-event\b"),
    ("w3c:cloudfront_web", r"^#Fields:.*\bx-edge-location\b"),
    ("w3c:w3c", r"^#Fields:"),
    ("w3c:iis_advanced", r"^#Software: IIS Advanced Logging"),
    ("w3c:iis", r"^#Software: Microsoft Internet Information Services"),
    ("w3c:netscaler", r"^#Software: Netscaler"),
    ("w3c:shoutcast", r"^#Software: SHOUTcast"),
    ("w3c:incapsula", r"^#Software: Incapsula"),
    ("traefik_json", r'^\{.*"ClientHost"'),
    ("caddy_json", r'^\{.*"request":\{'),
    ("nginx_json", r"^\{"),
    ("gandi", r"^\S+ \S+ \S+ \S+ \[[^\]]+\] \(\d+ s\) " + _Q),
    ("traefik", _CLF_HEAD + _Q + r" \d{3} \S+ " + _Q + " " + _Q + r" \d+ " + _Q + " " + _Q + r" \d+ms$"),
    ("icecast2", _CLF_HEAD + _Q + r" \d{3} \S+ " + _Q + " " + _Q + r" \d+$"),
    ("ovh", r"^\S+ [A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,} \S+ \[[^\]]+\] " + _Q),
    ("nginx_xff", r'^(?:\S+ )?"?[0-9A-Fa-f.:]+, .*? \S+ \S+ \[[^\]]+\] ' + _Q),
    ("vhost_combined", r"^\S+ \S+ \S+ \S+ \[[^\]]+\] " + _Q + r" \S+ \S+ " + _Q + " " + _Q),
    ("common_vhost", r"^\S+ \S+ \S+ \S+ \[[^\]]+\] " + _Q + r" \S+ \S+$"),
    ("combined", r"^\S+ \S+ \S+ \[[^\]]+\] " + _Q + r" \S+ \S+ " + _Q + " " + _Q),
    ("common", r"^\S+ \S+ \S+ \[[^\]]+\] " + _Q + r" \S+ \S+$"),
    ("ssl_request", r"^\[[^\]]+\] \S+ \S+ \S+ " + _Q + r" \S+$"),
    ("alb", r"^(?:https?|h2|wss?|grpcs?) \d{4}-\d\d-\d\dT\S+ \S+ \S+:\d+ "),
    ("elb", r"^\d{4}-\d\d-\d\dT\S+Z \S+ \S+:\d+ "),
    ("s3", r"^[0-9a-f]{64} \S+ \[[^\]]+\] "),
    ("haproxy", r"^\w{3} +\d+ [\d:]+ \S+ haproxy\[\d+\]: "),
    ("bunny", r"^[A-Z]+\|\d{3}\|\d{13}\|"),
    ("iis_headerless", r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d W3SVC\d+ "),
)


def _signature(line: Column) -> Column:
    expr = None
    for name, regex in _LINE_SIGNATURES:
        expr = (F.when(line.rlike(regex), F.lit(name)) if expr is None else expr.when(line.rlike(regex), F.lit(name)))
    return expr


def fixed_format(lines: DataFrame, name: str) -> DataFrame:
    """detect_formats' output for a format chosen by the user: every file of `lines` in `name`."""
    if name not in FORMATS:
        raise ValueError(f"unknown log format {name!r}; known: {', '.join(FORMATS)}")
    return lines.select("source_file").distinct().select(
        "source_file", F.lit(name).alias("log_format"), F.lit(FORMATS[name]).alias("family")
    )


def detect_formats(lines: DataFrame, overrides: tuple[tuple[str, str], ...] = ()) -> DataFrame:
    """bronze.weblog_lines rows -> one row per file: source_file, log_format, family.

    The first DETECT_LINES non-blank lines of each file vote with their signature; any W3C header
    makes the file W3C (its #Software or #Fields name the variant). `overrides` are (host prefix,
    format) pairs: a file whose landing folder starts with the prefix takes that format unvoted.
    Files nothing recognises get log_format 'unknown'.
    """
    head = lines.where((F.col("line_number") <= DETECT_LINES) & (F.trim("line") != ""))
    if "host" not in lines.columns:
        lines = lines.withColumn("host", F.lit(None).cast("string"))
        head = head.withColumn("host", F.lit(None).cast("string"))
    voted = (
        head.select("source_file", "host", _signature(F.col("line")).alias("signature"))
        .where(F.col("signature").isNotNull())
        .groupBy("source_file", "host", "signature").count()
    )
    is_w3c = F.col("signature").startswith("w3c:")
    priority = F.array_position(F.array(*[F.lit(n) for n, _ in _LINE_SIGNATURES]), F.col("signature"))
    rank = Window.partitionBy("source_file").orderBy(
        is_w3c.desc(), (F.col("signature") != "w3c:w3c").desc(), F.col("count").desc(), priority
    )
    best = voted.withColumn("_rank", F.row_number().over(rank)).where("_rank = 1")
    files = lines.select("source_file", "host").distinct().join(
        best.select("source_file", F.regexp_replace("signature", "^w3c:", "").alias("log_format")), "source_file", "left"
    )
    chosen = F.coalesce(F.col("log_format"), F.lit("unknown"))
    for prefix, name in reversed(overrides):
        chosen = F.when(F.col("host").startswith(prefix), F.lit(name)).otherwise(chosen)
    family = F.try_element_at(F.create_map(*[F.lit(x) for kv in FORMATS.items() for x in kv]), chosen)
    return files.select("source_file", chosen.alias("log_format"), F.coalesce(family, F.lit("unknown")).alias("family"))


# ---- shared helpers --------------------------------------------------------------------------

_MATCHED = "\u0002"
_SEP = "\u001f"


def regex_fields(lines: DataFrame, pattern: str, groups: int) -> DataFrame:
    """`lines` with `_f`: an array of the pattern's groups 1..groups, or null when `_line` does
    not match. One regex pass: the groups are rewritten into one delimited string and split, not
    extracted one by one. The rewritten string is a column of its own because the match check and
    the split both read it: inlined, Spark evaluated the regex twice per line (6.4 s instead of
    3.5 s for 2M lines)."""
    replacement = _MATCHED + _SEP + _SEP.join(f"${i}" for i in range(1, groups + 1))
    rewritten = F.col("_rewritten")
    return (
        lines.withColumn("_rewritten", F.regexp_replace("_line", pattern, replacement))
        .withColumn("_f", F.when(rewritten.startswith(_MATCHED), F.slice(F.split(rewritten, _SEP), 2, groups)))
        .drop("_rewritten")
    )


_DROPPED_CHARACTERS = "\r\u200b\ufeff" + _MATCHED + _SEP


def clean_line(line: Column) -> Column:
    """Drop characters no format uses that break matching: CR of CRLF files, zero-width spaces,
    and this module's own delimiters. translate rebuilds every line character by character (as
    costly as the parse itself): only lines that hold one of them pay for it."""
    holds_any = functools.reduce(operator.or_, [line.contains(c) for c in _DROPPED_CHARACTERS])
    return F.when(holds_any, F.translate(line, _DROPPED_CHARACTERS, "")).otherwise(line)


def _none_if_dash(value: Column) -> Column:
    return F.when((F.trim(value) != "") & (value != "-"), value)


def _raw(**given: Column) -> list[Column]:
    """The RAW_FIELDS columns: what a family gives, typed nulls for the rest."""
    cols = []
    for name in RAW_FIELDS:
        kind = "timestamp" if name == "ts" else "double" if name == "request_time_s" else "string"
        cols.append((given[name] if name in given else F.lit(None)).cast(kind).alias(name))
    return cols


def _seconds(text: Column, divisor: float = 1.0) -> Column:
    value = F.when(text.rlike(r"^-?\d+(\.\d+)?$"), text.cast("double") / divisor)
    return F.when(value >= 0, value)  # load balancers write -1 when no backend answered


CLF_TIME_FORMAT = "dd/MMM/yyyy:HH:mm:ss Z"


def _clf_time(text: Column) -> Column:
    return F.try_to_timestamp(text, F.lit(CLF_TIME_FORMAT))


# ---- families --------------------------------------------------------------------------------

# vhost/client list, ident, user, [time], optional Gandi "(0 s)", "request", status, bytes,
# optional "referrer" "user agent", then anything (nginx's "$http_x_forwarded_for", Icecast's
# seconds, Traefik's request count, router, backend and duration). A quote right after the bytes
# must open a complete referrer/agent pair: a line cut inside its user agent is not "common".
CLF_PATTERN = (
    r"^(.+?) (\S+) (\S+) \[([^\]]+)\] (?:\(\d+ s\) )?" + _QG + r" (\S+) (\S+)"
    r"(?: " + _QG + " " + _QG + r')?((?<=") .*|(?: [^"].*)?)$'
)


def parse_clf(lines: DataFrame) -> DataFrame:
    lines = regex_fields(lines, CLF_PATTERN, 10)
    f = F.col("_f")
    lines = lines.withColumn("_parts", F.split(f.getItem(0), " "))
    prefix = f.getItem(0)
    # A prefix is "client", "vhost client", a proxy list "a, b, c", "a, b c", or any of these after
    # a vhost; quoted lists drop their quotes. A first token ending in ',' or a quote is a list.
    parts = F.col("_parts")
    has_vhost = (F.size(parts) >= 2) & ~prefix.startswith('"') & ~F.try_element_at(parts, F.lit(1)).endswith(",")
    clients = F.when(has_vhost, F.array_join(F.slice(parts, 2, 1 << 20), " ")).otherwise(prefix)
    # Most prefixes hold one address: only lists pay for splitting (translate and the lambda are
    # slow per line). The lambda stays for a second reason: it keeps this projection out of
    # whole-stage code generation, which measured faster (joined by a pattern instead, same
    # output, 2M lines parsed in 24-27 s against 17-21 s).
    is_list = clients.contains(",") | clients.contains('"') | clients.contains(" ")
    addresses = F.filter(F.split(F.translate(clients, '",', "  "), " "), lambda a: a != "")
    vhost = F.when(F.col("log_format") == "ovh", f.getItem(1)).when(has_vhost, F.try_element_at(parts, F.lit(1)))
    rest = f.getItem(9)
    traefik_ms = F.when(rest.endswith("ms"), F.regexp_extract(rest, r" (\d+)ms$", 1))
    return lines.select(
        "*",
        *_raw(
            vhost=vhost,
            client_list=F.when(is_list, F.array_join(addresses, ", ")).otherwise(clients),
            user=_none_if_dash(f.getItem(2)),
            ts=_clf_time(f.getItem(3)),
            request=f.getItem(4),
            status_text=f.getItem(5),
            bytes_text=f.getItem(6),
            referrer=f.getItem(7),
            user_agent=f.getItem(8),
            x_forwarded_for=F.when(is_list & (F.size(addresses) > 1), F.array_join(addresses, ", ")),
            request_time_s=_seconds(traefik_ms, 1000.0),
            family_problem=F.when(f.isNull(), F.lit("unparseable_line")),
        ),
    )


SSL_REQUEST_PATTERN = r'^\[([^\]]+)\] (\S+) (\S+) (\S+) "([^"\\]*(?:\\.[^"\\]*)*)" (\S+)$'


def parse_ssl_request(lines: DataFrame) -> DataFrame:
    """mod_ssl's request log carries no status; a logged request was answered, so it counts as 200."""
    lines = regex_fields(lines, SSL_REQUEST_PATTERN, 6)
    f = F.col("_f")
    return lines.select(
        "*",
        *_raw(
            client_list=f.getItem(1), ts=_clf_time(f.getItem(0)), request=F.regexp_replace(f.getItem(4), "&amp;", "&"),
            status_text=F.when(f.isNotNull(), F.lit("200")), bytes_text=f.getItem(5),
            family_problem=F.when(f.isNull(), F.lit("unparseable_line")),
        ),
    )


# [type] time name client:port backend:port t_request t_backend t_response elb_status
# backend_status received sent "request" "user agent" (then TLS and ALB fields, ignored).
ELB_PATTERN = (
    r"^(?:(?:https?|h2|wss?|grpcs?) )?(\d{4}-\d\d-\d\dT\S+) \S+ (\S+):\d+ \S+ (\S+) (\S+) (\S+) (\S+) \S+ \S+ (\S+) "
    r'"([^"]*)" "([^"]*)"(?: .*)?$'
)


def parse_elb(lines: DataFrame) -> DataFrame:
    lines = regex_fields(lines, ELB_PATTERN, 9)
    f = F.col("_f")
    request = f.getItem(7)
    t_request, t_backend, t_response = (_seconds(f.getItem(i)) for i in (2, 3, 4))
    # TCP listeners log connections with no HTTP request: "- - - " and status "-". Not a hit.
    tcp_only = (F.trim(request) == "- - -") & (f.getItem(5) == "-")
    return lines.select(
        "*",
        *_raw(
            client_list=F.translate(f.getItem(1), "[]", ""),
            ts=F.try_to_timestamp(f.getItem(0)),
            request=request,
            status_text=f.getItem(5),
            bytes_text=f.getItem(6),
            user_agent=f.getItem(8),
            request_time_s=t_request + t_backend + t_response,
            family_problem=F.when(f.isNull(), F.lit("unparseable_line")).when(tcp_only, F.lit("skip")),
        ),
    )


# owner bucket [time] remote requester request_id operation key "request" status error bytes
# object_size total_ms turnaround_ms "referrer" "user agent" ...
S3_PATTERN = (
    r'^\S+ (\S+) \[([^\]]+)\] (\S+) \S+ \S+ \S+ \S+ "([^"\\]*(?:\\.[^"\\]*)*)" (\S+) \S+ (\S+) \S+ (\S+) \S+ '
    + _QG + " " + _QG + r"(?: .*)?$"
)


def parse_s3(lines: DataFrame) -> DataFrame:
    lines = regex_fields(lines, S3_PATTERN, 9)
    f = F.col("_f")
    return lines.select(
        "*",
        *_raw(
            vhost=f.getItem(0), client_list=f.getItem(2), ts=_clf_time(f.getItem(1)), request=f.getItem(3),
            status_text=f.getItem(4), bytes_text=f.getItem(5), request_time_s=_seconds(f.getItem(6), 1000.0),
            referrer=f.getItem(7), user_agent=f.getItem(8),
            family_problem=F.when(f.isNull(), F.lit("unparseable_line")),
        ),
    )


# syslog head, client:port [accept date] frontend backend/server Tq/Tw/Tc/Tr/Tt status bytes ... "request"
HAPROXY_PATTERN = (
    r"^\w{3} +\d+ [\d:]+ \S+ haproxy\[\d+\]: (\S+):\d+ \[([^\]]+)\] \S+ \S+ [-\d]+/[-\d]+/[-\d]+/[-\d]+/\+?(\d+) "
    r'(\d+) \+?(\d+) .*"([^"\\]*(?:\\.[^"\\]*)*)"$'
)


def parse_haproxy(lines: DataFrame) -> DataFrame:
    """HAProxy writes the accept time without an offset; it is read as UTC (run HAProxy in UTC)."""
    lines = regex_fields(lines, HAPROXY_PATTERN, 6)
    f = F.col("_f")
    return lines.select(
        "*",
        *_raw(
            client_list=f.getItem(0), ts=F.try_to_timestamp(f.getItem(1), F.lit("dd/MMM/yyyy:HH:mm:ss.SSS")),
            request_time_s=_seconds(f.getItem(2), 1000.0), status_text=f.getItem(3), bytes_text=f.getItem(4),
            request=f.getItem(5), family_problem=F.when(f.isNull(), F.lit("unparseable_line")),
        ),
    )


def parse_bunny(lines: DataFrame) -> DataFrame:
    """cache|status|epoch ms|bytes|zone|ip|referrer|url|edge|user agent|request id|country.
    BunnyCDN logs no method and no protocol: `method` stays null (counted as GET for page views)."""
    lines = lines.withColumn("_f", F.split(F.col("_line"), r"\|"))
    f = F.col("_f")
    g = lambda i: F.try_element_at(f, F.lit(i + 1))
    ok = (F.size(f) >= 10) & g(2).rlike(r"^\d{10,13}$")
    return lines.select(
        "*",
        *_raw(
            status_text=g(1), ts=F.when(ok, F.timestamp_millis(g(2).cast("bigint"))),
            bytes_text=g(3), client_list=g(5), referrer=g(6), target=g(7),
            user_agent=g(9), family_problem=F.when(~ok, F.lit("unparseable_line")),
        ),
    )


_HEADERS = T.MapType(T.StringType(), T.ArrayType(T.StringType()))
JSON_SCHEMA = T.StructType([
    # nginx (Matomo's documented log_format)
    T.StructField("ip", T.StringType()), T.StructField("host", T.StringType()), T.StructField("path", T.StringType()),
    T.StructField("status", T.StringType()), T.StructField("referrer", T.StringType()),
    T.StructField("user_agent", T.StringType()), T.StructField("length", T.StringType()),
    T.StructField("generation_time_milli", T.StringType()), T.StructField("date", T.StringType()),
    # Caddy
    T.StructField("ts", T.StringType()), T.StructField("size", T.StringType()), T.StructField("duration", T.StringType()),
    T.StructField("user_id", T.StringType()),
    T.StructField("request", T.StructType([
        T.StructField("remote_ip", T.StringType()), T.StructField("client_ip", T.StringType()),
        T.StructField("proto", T.StringType()), T.StructField("method", T.StringType()),
        T.StructField("host", T.StringType()), T.StructField("uri", T.StringType()), T.StructField("headers", _HEADERS),
    ])),
    # Traefik
    T.StructField("ClientHost", T.StringType()), T.StructField("ClientUsername", T.StringType()),
    T.StructField("request_User-Agent", T.StringType()), T.StructField("request_Referer", T.StringType()),
    T.StructField("request_X-Forwarded-For", T.StringType()),
    T.StructField("DownstreamStatus", T.StringType()), T.StructField("DownstreamContentSize", T.StringType()),
    T.StructField("Duration", T.StringType()), T.StructField("RequestHost", T.StringType()),
    T.StructField("RequestMethod", T.StringType()), T.StructField("RequestPath", T.StringType()),
    T.StructField("RequestProtocol", T.StringType()), T.StructField("StartUTC", T.StringType()),
])


# Field names Spark would resolve as one (it resolves case-insensitively): renamed by position.
_JSON_RENAMED = T.StructType([
    T.StructField("traefik_duration" if f.name == "Duration" else f.name, f.dataType) for f in JSON_SCHEMA.fields
])


def parse_json(lines: DataFrame) -> DataFrame:
    """One from_json per line with the union of the three layouts; each field takes whichever is set."""
    lines = lines.withColumn("_j", F.from_json(F.col("_line"), JSON_SCHEMA, {"mode": "PERMISSIVE"}).cast(_JSON_RENAMED))
    j = F.col("_j")
    req = j["request"]
    header = lambda name: F.try_element_at(F.try_element_at(req["headers"], F.lit(name)), F.lit(1))
    caddy_ts = F.timestamp_micros((j["ts"].cast("double") * 1_000_000).cast("bigint"))
    fmt = F.col("log_format")
    return lines.select(
        "*",
        *_raw(
            vhost=F.coalesce(req["host"], j["RequestHost"], j["host"]),
            client_list=F.coalesce(req["client_ip"], req["remote_ip"], j["ClientHost"], j["ip"]),
            user=_none_if_dash(F.coalesce(j["user_id"], j["ClientUsername"])),
            ts=F.when(fmt == "caddy_json", caddy_ts).otherwise(F.try_to_timestamp(F.coalesce(j["StartUTC"], j["date"]))),
            method=F.coalesce(req["method"], j["RequestMethod"]),
            target=F.coalesce(req["uri"], j["RequestPath"], j["path"]),
            protocol=F.coalesce(req["proto"], j["RequestProtocol"]),
            status_text=F.coalesce(j["status"], j["DownstreamStatus"]),
            bytes_text=F.coalesce(j["size"], j["DownstreamContentSize"], j["length"]),
            referrer=F.coalesce(header("Referer"), j["request_Referer"], j["referrer"]),
            user_agent=F.coalesce(header("User-Agent"), j["request_User-Agent"], j["user_agent"]),
            x_forwarded_for=F.coalesce(header("X-Forwarded-For"), j["request_X-Forwarded-For"]),
            request_time_s=F.coalesce(_seconds(j["duration"]), _seconds(j["traefik_duration"], 1e9),
                                      _seconds(j["generation_time_milli"], 1000.0)),
            family_problem=F.when(j.isNull() | ~F.col("_line").startswith("{"), F.lit("bad_json")),
        ),
    )


# W3C extended: the fields of each line are named by the file's #Fields header.
W3C_NAMES = {
    "client_list": ("c-ip",),
    "vhost": ("cs-host", "cs(host)", "x-host-header"),
    "user": ("cs-username",),
    "method": ("cs-method", "x-event"),
    "stem": ("cs-uri-stem", "cs-uri"),
    "query": ("cs-uri-query",),
    "protocol": ("cs-version", "cs-protocol-version"),
    "status_text": ("sc-status", "c-status"),
    "bytes_text": ("sc-bytes",),
    "referrer": ("cs(referer)", "cs(referrer)", "c-referrer"),
    "user_agent": ("cs(user-agent)", "c-user-agent"),
    "x_forwarded_for": ("x-forwarded-for", "s-xff", "x-originating-ip"),
    "time_taken": ("time-taken",),
    "time_taken_ms": ("timetakenms",),
    "date": ("date", "date-local"),
    "time": ("time", "time-local"),
}
# IIS's default W3C field set, for files delivered without their headers (log shipping that strips
# '#' lines); the same set followed by X-Forwarded-For is the common "enhanced logging" variant.
IIS_DEFAULT_FIELDS = (
    "date time s-sitename s-computername s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs-version "
    "cs(user-agent) cs(cookie) cs(referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken"
).split()
_W3C_TOKEN = r'"[^"]*"|\S+'


def _w3c_tokens(text: Column) -> Column:
    """Whitespace-separated fields; a quoted field (Incapsula, IIS Advanced) may hold spaces."""
    tokens = F.regexp_extract_all(text, F.lit(_W3C_TOKEN), 0)
    return F.transform(tokens, lambda t: F.when(t.startswith('"'), F.regexp_replace(t, r'^"|"$', "")).otherwise(t))


def parse_w3c(lines: DataFrame) -> DataFrame:
    """Each data line is read with the nearest #Fields header before it that has as many fields as
    the line (IIS rewrites headers mid-file, and lines can follow an earlier header's layout), else
    the first such header after it; header-less IIS files use IIS's default field set."""
    line = F.col("_line")
    # Markdown auto-linking mangles IPs and numbers as "[x](http://x)" or "[x](tel:x)": unwrap.
    unlinked = F.when(line.contains("]("), F.regexp_replace(line, r"\[([^\]\s]*)\]\((?:https?|tel|mailto):[^)\s]*\)", "$1")).otherwise(line)
    headers = (
        lines.where(line.startswith("#Fields:"))
        .select("source_file", F.struct(
            F.col("line_number").alias("at"),
            F.transform(F.split(F.trim(F.substring(line, 9, 1 << 20)), r"\s+"), lambda n: F.lower(n)).alias("names"),
        ).alias("h"))
        .groupBy("source_file").agg(F.array_sort(F.collect_list("h")).alias("_headers"))
    )
    defaults = F.array(
        F.struct(F.lit(0).cast("bigint").alias("at"), F.array(*[F.lit(n) for n in IIS_DEFAULT_FIELDS]).alias("names")),
        F.struct(F.lit(0).cast("bigint").alias("at"), F.array(*[F.lit(n) for n in IIS_DEFAULT_FIELDS + ["x-forwarded-for"]]).alias("names")),
    )
    data = lines.join(F.broadcast(headers), "source_file", "left").withColumn(
        "_headers", F.coalesce("_headers", defaults)
    ).withColumn("_values", _w3c_tokens(unlinked))
    n = F.size("_values")
    fits = F.filter("_headers", lambda h: F.size(h["names"]) == n)
    before = F.filter(fits, lambda h: h["at"] < F.col("line_number"))
    chosen = F.when(F.size(before) > 0, F.try_element_at(before, F.lit(-1))).otherwise(F.try_element_at(fits, F.lit(1)))
    data = data.withColumn("_names", chosen["names"])

    def get(key: str) -> Column:
        found = None
        for name in W3C_NAMES[key]:
            idx = F.array_position("_names", name)
            value = F.when(idx > 0, F.try_element_at(F.col("_values"), idx.cast("int")))
            found = value if found is None else F.coalesce(found, value)
        return _none_if_dash(found)

    def decoded(value: Column) -> Column:
        # IIS writes spaces as '+'; CloudFront percent-encodes, twice for user agents ("%2520").
        once = F.try_url_decode(value)
        return F.when(once.contains("%"), F.coalesce(F.try_url_decode(once), once)).otherwise(once)

    stem, query = get("stem"), get("query")
    # Incapsula's cs-uri is "host/path" with no scheme.
    stem = F.when(F.col("log_format") == "incapsula", F.concat(F.lit("http://"), stem)).otherwise(stem)
    target = F.when(query.isNotNull(), F.concat_ws("?", stem, query)).otherwise(stem)
    taken = get("time_taken")
    time_taken = F.when(F.col("log_format").isin("cloudfront_web", "cloudfront_rtmp"), _seconds(taken)).otherwise(_seconds(taken, 1000.0))
    status = get("status_text")
    is_data = ~line.startswith("#") & (F.trim(line) != "")
    return data.select(
        *lines.columns,
        *_raw(
            vhost=get("vhost"),
            client_list=get("client_list"),
            user=get("user"),
            ts=F.try_to_timestamp(F.concat_ws(" ", get("date"), get("time"))),
            method=F.upper(get("method")),
            target=target,
            protocol=get("protocol"),
            # CloudFront RTMP events (connect, play, stop) have no HTTP status.
            status_text=status,
            bytes_text=get("bytes_text"),
            referrer=decoded(get("referrer")),
            user_agent=decoded(get("user_agent")),
            x_forwarded_for=get("x_forwarded_for"),
            request_time_s=F.coalesce(time_taken, _seconds(get("time_taken_ms"), 1000.0)),
            family_problem=F.when(is_data & F.col("_names").isNull(), F.lit("field_count_mismatch")),
        ),
    )


def parse_custom(lines: DataFrame, custom: CustomFormat | None) -> DataFrame:
    if custom is None:
        return lines.select("*", *_raw(family_problem=F.lit("no_custom_pattern")))
    pattern, groups = custom.java_pattern_and_groups()
    replacement_groups = max(number for _, number in groups)
    lines = regex_fields(lines, pattern, replacement_groups)
    f = F.col("_f")
    by_name = {name: f.getItem(number - 1) for name, number in groups}
    given = {
        "vhost": by_name.get("vhost"), "client_list": by_name.get("client"), "user": by_name.get("user"),
        "request": by_name.get("request"), "method": by_name.get("method"), "target": by_name.get("target"),
        "protocol": by_name.get("protocol"), "status_text": by_name.get("status"), "bytes_text": by_name.get("bytes"),
        "referrer": by_name.get("referrer"), "user_agent": by_name.get("user_agent"),
        "x_forwarded_for": by_name.get("x_forwarded_for"),
        "ts": F.try_to_timestamp(by_name["time"], F.lit(custom.time_format)),
        "family_problem": F.when(f.isNull(), F.lit("unparseable_line")),
    }
    return lines.select("*", *_raw(**{k: v for k, v in given.items() if v is not None}))


PARSERS = {
    "clf": parse_clf, "ssl_request": parse_ssl_request, "elb": parse_elb, "s3": parse_s3, "haproxy": parse_haproxy,
    "bunny": parse_bunny, "json": parse_json, "w3c": parse_w3c,
}


def parse_raw(lines: DataFrame, detected: DataFrame, families=None, custom: CustomFormat | None = None) -> DataFrame:
    """bronze.weblog_lines rows + detect_formats rows -> the rows with log_format and RAW_FIELDS.

    Only the branches of `families` are planned (by default the families `detected` holds, learnt
    with one small job: every unused branch would otherwise lengthen planning and code generation
    of every later step); each branch reads only its files' lines, so each line meets one pattern.
    """
    if families is None:
        families = [r["family"] for r in detected.select("family").distinct().collect()]
    tagged = lines.join(F.broadcast(detected), "source_file", "left").withColumn("_line", clean_line(F.col("line")))
    tagged = tagged.withColumn("log_format", F.coalesce("log_format", F.lit("unknown"))).withColumn(
        "family", F.coalesce("family", F.lit("unknown"))
    )
    wanted = sorted(set(families)) or ["clf"]
    parts = []
    for family in wanted:
        subset = tagged.where(F.col("family") == family)
        if family == "custom":
            part = parse_custom(subset, custom)
        elif family in PARSERS:
            part = PARSERS[family](subset)
        else:
            part = subset.select("*", *_raw(family_problem=F.lit("unknown_format")))
        parts.append(part.select(*subset.columns, *RAW_FIELDS))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out.drop("_line", "family")
