"""Snowplow events -> clicklake landing files (`clicklake convert-snowplow IN --out DIR`).

Sites already running Snowplow trackers keep them: their events, as the atomic events table
exported to CSV (with a header, contexts as one column per schema, as dbt-snowplow-web's seeds) or
as enriched TSV (131 tab-separated fields, contexts as self-describing JSON), become NDJSON lines of
schemas/tag_event.v1.schema.json under `<DIR>/events/dt=<collector date>/`.

Nothing is dropped silently. Each input line ends up as exactly one of:
- converted: one landing line;
- skipped: blank lines and `//` or `#` comment lines (counted);
- bad: written to `<DIR>/_bad/<input name>.bad.ndjson` with its line number, reason and text:
  a row with the wrong number of fields (`short_row:N/131`, `long_row:N/131`), no event_id or
  collector time (`missing_field:...`), a timestamp that is not one (`bad_timestamp:...`), a
  context or self-describing event that is not valid JSON (`bad_json:...`) or whose schema the
  converter does not know (`unknown_schema:iglu:...`, see IGLU_SCHEMAS and --iglu-schema).

Field mapping (README "Snowplow"): event_name page_view/page_ping/link_click keep their type,
every other event is `custom` with its name in properties.snowplow_event; created_at, sent_at,
received_at <- dvce_created_tstamp, dvce_sent_tstamp, collector_tstamp (so the pipeline derives
Snowplow's derived_tstamp); anonymous_id <- domain_userid, else network_userid (the collector's
cookie); page_view_id <- the web_page context's id; ip <- user_ipaddress; screen and viewport
<- dvce_screen*/br_view*; every other non-empty field is kept in properties under its Snowplow name.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ENRICHED_FIELDS = tuple("""
app_id platform etl_tstamp collector_tstamp dvce_created_tstamp event event_id txn_id name_tracker v_tracker v_collector
v_etl user_id user_ipaddress user_fingerprint domain_userid domain_sessionidx network_userid geo_country geo_region geo_city
geo_zipcode geo_latitude geo_longitude geo_region_name ip_isp ip_organization ip_domain ip_netspeed page_url page_title
page_referrer page_urlscheme page_urlhost page_urlport page_urlpath page_urlquery page_urlfragment refr_urlscheme refr_urlhost
refr_urlport refr_urlpath refr_urlquery refr_urlfragment refr_medium refr_source refr_term mkt_medium mkt_source mkt_term
mkt_content mkt_campaign contexts se_category se_action se_label se_property se_value unstruct_event tr_orderid tr_affiliation
tr_total tr_tax tr_shipping tr_city tr_state tr_country ti_orderid ti_sku ti_name ti_category ti_price ti_quantity
pp_xoffset_min pp_xoffset_max pp_yoffset_min pp_yoffset_max useragent br_name br_family br_version br_type br_renderengine
br_lang br_features_pdf br_features_flash br_features_java br_features_director br_features_quicktime br_features_realplayer
br_features_windowsmedia br_features_gears br_features_silverlight br_cookies br_colordepth br_viewwidth br_viewheight os_name
os_family os_manufacturer os_timezone dvce_type dvce_ismobile dvce_screenwidth dvce_screenheight doc_charset doc_width
doc_height tr_currency tr_total_base tr_tax_base tr_shipping_base ti_currency ti_price_base base_currency geo_timezone
mkt_clickid mkt_network etl_tags dvce_sent_tstamp refr_domain_userid refr_dvce_tstamp derived_contexts domain_sessionid
derived_tstamp event_vendor event_name event_format event_version event_fingerprint true_tstamp
""".split())

# Iglu schemas (vendor/name) the converter resolves: Iglu Central's web schemas that trackers and
# enrichments attach. An event naming any other schema is a bad row, as Snowplow's own validation
# would make it; add your company's schemas with --iglu-schema vendor/name.
IGLU_SCHEMAS = frozenset("""
com.snowplowanalytics.snowplow/contexts com.snowplowanalytics.snowplow/unstruct_event
com.snowplowanalytics.snowplow/web_page com.snowplowanalytics.snowplow/client_session
com.snowplowanalytics.snowplow/ua_parser_context com.snowplowanalytics.snowplow/geolocation_context
com.snowplowanalytics.snowplow/desktop_context com.snowplowanalytics.snowplow/mobile_context
com.snowplowanalytics.snowplow/link_click com.snowplowanalytics.snowplow/change_form
com.snowplowanalytics.snowplow/submit_form com.snowplowanalytics.snowplow/focus_form
com.snowplowanalytics.snowplow/site_search com.snowplowanalytics.snowplow/timing
com.snowplowanalytics.snowplow/application_error com.snowplowanalytics.snowplow/screen_view
com.snowplowanalytics.snowplow/consent_document com.snowplowanalytics.snowplow/consent_withdrawn
com.snowplowanalytics.snowplow/consent_preferences com.snowplowanalytics.snowplow/cmp_visible
com.snowplowanalytics.snowplow/add_to_cart com.snowplowanalytics.snowplow/remove_from_cart
com.snowplowanalytics.snowplow/social_interaction com.snowplowanalytics.snowplow.enrichments/pii
com.iab.snowplow/spiders_and_robots nl.basjes/yauaa_context org.w3/PerformanceTiming org.ietf/http_cookie
org.ietf/http_header org.schema/WebPage com.google.analytics/cookies com.google.analytics/private
com.google.analytics/measurement_protocol_hit com.segment/screen com.optimizely/state com.optimizely/variation
com.optimizely/visitor com.optimizely/experiment com.optimizely.optimizelyx/summary
com.mparticle.snowplow/session_context com.mparticle.snowplow/pushregistration_event
""".split())

IGLU_URI = re.compile(r"^iglu:([a-zA-Z0-9_.-]+)/([a-zA-Z0-9_-]+)/jsonschema/\d+-\d+-\d+$")
EVENT_TYPES = {"page_view": "page_view", "page_ping": "page_ping", "link_click": "link_click"}
MAPPED = {
    "event_id", "event", "event_name", "collector_tstamp", "dvce_created_tstamp", "dvce_sent_tstamp", "domain_userid",
    "user_id", "page_url", "page_title", "page_referrer", "useragent", "user_ipaddress", "dvce_screenwidth",
    "dvce_screenheight", "br_viewwidth", "br_viewheight", "name_tracker", "v_tracker",
}
WEB_PAGE_CSV_COLUMN = "contexts_com_snowplowanalytics_snowplow_web_page_1_0_0"


class BadRow(ValueError):
    """A line that cannot become an event; the message is its reason."""


@dataclass
class Report:
    lines: int = 0
    converted: int = 0
    skipped: int = 0
    bad: collections.Counter = field(default_factory=collections.Counter)
    dates: collections.Counter = field(default_factory=collections.Counter)

    def as_dict(self) -> dict:
        return {"lines": self.lines, "converted": self.converted, "skipped": self.skipped, "bad": sum(self.bad.values()),
                "bad_reasons": dict(sorted(self.bad.items())), "events_per_date": dict(sorted(self.dates.items()))}


def _timestamp(row: dict, name: str) -> str | None:
    """Snowplow 'YYYY-MM-DD HH:MM:SS[.fffffffff]' (UTC) -> ISO 8601 with Z, microseconds at most."""
    value = (row.get(name) or "").strip()
    if not value:
        return None
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?:Z|\+00:?00)?", value)
    if not match:
        raise BadRow(f"bad_timestamp:{name}")
    day, time, fraction = match.groups()
    try:
        dt.datetime.fromisoformat(f"{day}T{time}")
    except ValueError:
        raise BadRow(f"bad_timestamp:{name}") from None
    return f"{day}T{time}" + (f".{fraction[:6]}" if fraction else "") + "Z"


def _json(text: str, column: str):
    try:
        return json.loads(text)
    except ValueError:
        raise BadRow(f"bad_json:{column}") from None


def _check_schemas(value, known: frozenset[str]) -> None:
    """Every `schema` in a self-describing JSON (nested) must be an Iglu URI the converter knows."""
    if isinstance(value, dict):
        schema = value.get("schema")
        if isinstance(schema, str):
            match = IGLU_URI.match(schema)
            if not match or f"{match.group(1)}/{match.group(2)}" not in known:
                raise BadRow(f"unknown_schema:{schema}")
        for child in value.values():
            _check_schemas(child, known)
    elif isinstance(value, list):
        for child in value:
            _check_schemas(child, known)


def _page_view_id_enriched(row: dict, known: frozenset[str]) -> str | None:
    page_view_id = None
    for column in ("contexts", "derived_contexts", "unstruct_event"):
        text = (row.get(column) or "").strip()
        if not text:
            continue
        document = _json(text, column)
        _check_schemas(document, known)
        if column == "contexts":
            for entry in document.get("data") or []:
                if "/web_page/" in str(entry.get("schema", "")) and isinstance(entry.get("data"), dict):
                    page_view_id = entry["data"].get("id") or page_view_id
    return page_view_id


def _page_view_id_csv(row: dict) -> str | None:
    text = (row.get(WEB_PAGE_CSV_COLUMN) or "").strip()
    if not text:
        return None
    entries = _json(text, WEB_PAGE_CSV_COLUMN)
    if isinstance(entries, dict):
        entries = [entries]
    ids = [e.get("id") for e in entries if isinstance(e, dict) and e.get("id")]
    return ids[0] if ids else None


def _size(row: dict, width: str, height: str) -> str | None:
    w, h = (row.get(width) or "").strip(), (row.get(height) or "").strip()
    return f"{w}x{h}" if w.isdigit() and h.isdigit() else None


def to_event(row: dict, page_view_id: str | None) -> dict:
    """One Snowplow atomic row (field name -> text) -> one clicklake tag event."""
    for name in ("event_id", "collector_tstamp"):
        if not (row.get(name) or "").strip():
            raise BadRow(f"missing_field:{name}")
    name = (row.get("event_name") or row.get("event") or "").strip()
    received = _timestamp(row, "collector_tstamp")
    properties = {k: v for k, v in row.items() if k not in MAPPED and v not in (None, "")}
    if name not in EVENT_TYPES:
        properties["snowplow_event"] = name

    def blank(key: str) -> str | None:
        return (row.get(key) or "").strip() or None

    return {
        "event_id": row["event_id"].strip(),
        "event_type": EVENT_TYPES.get(name, "custom"),
        "created_at": _timestamp(row, "dvce_created_tstamp"),
        "sent_at": _timestamp(row, "dvce_sent_tstamp"),
        "received_at": received,
        "anonymous_id": blank("domain_userid") or blank("network_userid"),
        "user_id": blank("user_id"),
        "page_view_id": page_view_id,
        "page_url": blank("page_url"),
        "page_title": blank("page_title"),
        "referrer": blank("page_referrer"),
        "user_agent": blank("useragent"),
        "ip": blank("user_ipaddress"),
        "screen": _size(row, "dvce_screenwidth", "dvce_screenheight"),
        "viewport": _size(row, "br_viewwidth", "br_viewheight"),
        "tracker": blank("name_tracker"),
        "tracker_version": blank("v_tracker"),
        "properties": properties,
    }


def _is_skipped(line: str) -> bool:
    text = line.strip().lstrip("\ufeff")
    return not text or text.startswith("//") or text.startswith("#")


def _open_text(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", encoding="utf-8", errors="replace", newline="")


def _event_of(values: list[str], names, page_view_id_of) -> dict | BadRow:
    """One row's values under the format's field names -> its event, or the reason it is bad."""
    try:
        if len(values) != len(names):
            kind = "short_row" if len(values) < len(names) else "long_row"
            raise BadRow(f"{kind}:{len(values)}/{len(names)}")
        row = dict(zip(names, values))
        return to_event(row, page_view_id_of(row))
    except BadRow as bad:
        return bad


def read_rows(path: Path, fmt: str, known: frozenset[str]):
    """Yield (line number, raw text, event or BadRow or None for a skipped line) per input line."""
    with _open_text(path) as handle:
        if fmt == "tsv":
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\r\n")
                skipped = _is_skipped(line)
                yield number, line, None if skipped else _event_of(line.split("\t"), ENRICHED_FIELDS,
                                                                    lambda row: _page_view_id_enriched(row, known))
        else:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return
            yield 1, ",".join(header), None
            for values in reader:
                skipped = not values or (len(values) == 1 and _is_skipped(values[0]))
                yield reader.line_num, ",".join(values), None if skipped else _event_of(values, header, _page_view_id_csv)


def detect_format(path: Path) -> str:
    """csv (a header naming event_id) or tsv (enriched events)."""
    with _open_text(path) as handle:
        for line in handle:
            if _is_skipped(line):
                continue
            return "csv" if "event_id" in line.rstrip("\r\n").split(",") else "tsv"
    return "tsv"


def convert(path: str | Path, out: str, fmt: str = "auto", extra_schemas: tuple[str, ...] = (), s3=None) -> Report:
    """Convert one file; write landing files and the bad rows under `out` (folder or s3:// URI)."""
    from clicklake.storage import open_location

    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    known = IGLU_SCHEMAS | frozenset(extra_schemas)
    report = Report()
    by_date: dict[str, list[str]] = collections.defaultdict(list)
    bad_lines: list[str] = []
    for number, text, result in read_rows(path, fmt, known):
        report.lines += 1
        if result is None:
            report.skipped += 1
        elif isinstance(result, BadRow):
            report.bad[str(result)] += 1
            bad_lines.append(json.dumps({"line": number, "reason": str(result), "text": text}, ensure_ascii=False))
        else:
            day = result["received_at"][:10]
            by_date[day].append(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
            report.converted += 1
            report.dates[day] += 1
    sink = open_location(out, s3)
    stem = re.sub(r"\.(csv|tsv|txt)(\.gz)?$", "", path.name)
    for day, lines in sorted(by_date.items()):
        data = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)
        sink.put(f"events/dt={day}/snowplow-{stem}.ndjson.gz", data)
    if bad_lines:
        sink.put(f"_bad/{stem}.bad.ndjson", ("\n".join(bad_lines) + "\n").encode("utf-8"))
    return report

