"""clicklake convert-snowplow: Snowplow atomic CSV and enriched TSV -> landing NDJSON, bad rows reported."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from clicklake import cli, snowplow

WEB_PAGE = "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0"


def enriched(**fields) -> str:
    values = {name: "" for name in snowplow.ENRICHED_FIELDS}
    values.update(
        event="page_view", event_name="page_view", event_id="e1", collector_tstamp="2021-03-02 15:55:18.542",
        dvce_created_tstamp="2021-03-02 15:55:18.466", dvce_sent_tstamp="2021-03-02 15:55:18.469", domain_userid="d1",
        page_url="https://example.com/a", useragent="Mozilla/5.0", user_ipaddress="203.0.113.9", app_id="site",
        dvce_screenwidth="1440", dvce_screenheight="900",
        contexts=json.dumps({"schema": CONTEXTS, "data": [{"schema": WEB_PAGE, "data": {"id": "pv1"}}]}),
    )
    values.update(fields)
    return "\t".join(values[name] for name in snowplow.ENRICHED_FIELDS)


def unknown_context() -> str:
    return json.dumps({"schema": CONTEXTS, "data": [{"schema": "iglu:org.schema/some_unknown_name/jsonschema/1-0-0", "data": {}}]})


# (description, line of an enriched TSV file, reason of the bad row or None when converted/skipped)
TSV_CASES = [
    ("a page view with its web_page context", enriched(), None),
    ("a comment line is skipped", "// valid event", "skipped"),
    ("a blank line is skipped", "", "skipped"),
    ("trailing fields missing", "\t".join(enriched().split("\t")[:129]), "short_row:129/131"),
    ("one field too many", enriched() + "\tx", "long_row:132/131"),
    ("no event_id", enriched(event_id=""), "missing_field:event_id"),
    ("no collector time", enriched(collector_tstamp=""), "missing_field:collector_tstamp"),
    ("a collector time that is not a time", enriched(collector_tstamp="yesterday"), "bad_timestamp:collector_tstamp"),
    ("a context that is not JSON", enriched(contexts="{not json"), "bad_json:contexts"),
    ("a context of an unknown schema", enriched(derived_contexts=unknown_context()),
     "unknown_schema:iglu:org.schema/some_unknown_name/jsonschema/1-0-0"),
    ("a self-describing event of an unknown schema",
     enriched(event="unstruct", event_name="my_event",
              unstruct_event=json.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                                         "data": {"schema": "iglu:com.acme/my_event/jsonschema/1-0-0", "data": {}}})),
     "unknown_schema:iglu:com.acme/my_event/jsonschema/1-0-0"),
]


@pytest.mark.parametrize("description, line, outcome", TSV_CASES, ids=[c[0] for c in TSV_CASES])
def test_enriched_tsv_lines(tmp_path, description, line, outcome):
    source = tmp_path / "events.tsv"
    source.write_text(line + "\n")
    report = snowplow.convert(source, str(tmp_path / "landing"))
    assert report.lines == 1
    if outcome is None:
        assert (report.converted, report.skipped, dict(report.bad)) == (1, 0, {}), description
    elif outcome == "skipped":
        assert (report.converted, report.skipped, dict(report.bad)) == (0, 1, {}), description
    else:
        assert (report.converted, dict(report.bad)) == (0, {outcome: 1}), description
        bad = [json.loads(x) for x in (tmp_path / "landing" / "_bad" / "events.bad.ndjson").read_text().splitlines()]
        assert bad == [{"line": 1, "reason": outcome, "text": line}], "a bad row is written out with its reason"


def landed(root, day: str) -> list[dict]:
    files = sorted((root / "events" / f"dt={day}").glob("*.ndjson.gz"))
    return [json.loads(x) for f in files for x in gzip.decompress(f.read_bytes()).decode().splitlines()]


def test_an_enriched_page_view_becomes_a_tag_event(tmp_path):
    (tmp_path / "in.tsv").write_text(enriched(user_id="u7", br_viewwidth="1200", br_viewheight="700", geo_country="NL") + "\n")
    snowplow.convert(tmp_path / "in.tsv", str(tmp_path))
    [event] = landed(tmp_path, "2021-03-02")
    assert {k: event[k] for k in ("event_id", "event_type", "created_at", "sent_at", "received_at", "anonymous_id", "user_id",
                                  "page_view_id", "page_url", "ip", "screen", "viewport")} == {
        "event_id": "e1", "event_type": "page_view", "created_at": "2021-03-02T15:55:18.466Z",
        "sent_at": "2021-03-02T15:55:18.469Z", "received_at": "2021-03-02T15:55:18.542Z", "anonymous_id": "d1",
        "user_id": "u7", "page_view_id": "pv1", "page_url": "https://example.com/a", "ip": "203.0.113.9",
        "screen": "1440x900", "viewport": "1200x700"}
    assert (event["properties"]["geo_country"], event["properties"]["app_id"]) == ("NL", "site"), \
        "fields without a clicklake column are kept in properties"


def test_other_events_are_custom_and_nanoseconds_are_cut_to_microseconds(tmp_path):
    line = enriched(event="struct", event_name="event", collector_tstamp="2021-10-14 13:54:40.027000001",
                    dvce_created_tstamp="", dvce_sent_tstamp="", domain_userid="", network_userid="n1")
    (tmp_path / "in.tsv").write_text(line + "\n")
    snowplow.convert(tmp_path / "in.tsv", str(tmp_path))
    [event] = landed(tmp_path, "2021-10-14")
    assert (event["event_type"], event["properties"]["snowplow_event"]) == ("custom", "event")
    assert (event["received_at"], event["created_at"], event["sent_at"]) == ("2021-10-14T13:54:40.027000Z", None, None)
    assert event["anonymous_id"] == "n1", "without the tracker's cookie, the collector's cookie identifies the browser"


def test_an_extra_iglu_schema_is_accepted(tmp_path):
    (tmp_path / "in.tsv").write_text(enriched(derived_contexts=unknown_context()) + "\n")
    report = snowplow.convert(tmp_path / "in.tsv", str(tmp_path), extra_schemas=("org.schema/some_unknown_name",))
    assert (report.converted, dict(report.bad)) == (1, {})


def atomic_csv(rows: list[dict]) -> str:
    header = ["event_id", "event_name", "collector_tstamp", "dvce_created_tstamp", "dvce_sent_tstamp", "domain_userid",
              "page_url", snowplow.WEB_PAGE_CSV_COLUMN]
    text = io.StringIO()
    writer = csv.DictWriter(text, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def test_atomic_csv_with_crlf_and_a_short_row(tmp_path):
    good = {"event_id": "e1", "event_name": "page_ping", "collector_tstamp": "2021-03-01 23:59:59.900",
            "dvce_created_tstamp": "2021-03-01 23:59:59.800", "dvce_sent_tstamp": "2021-03-01 23:59:59.850",
            "domain_userid": "d1", "page_url": "https://example.com/a", snowplow.WEB_PAGE_CSV_COLUMN: '[{"id":"pv9"}]'}
    text = atomic_csv([good, dict(good, event_id="e2", collector_tstamp="2021-03-02 00:00:00.100")]) + "e3,page_view\r\n"
    (tmp_path / "events.csv").write_text(text, newline="")
    code = cli.main(["convert-snowplow", str(tmp_path / "events.csv"), "--out", str(tmp_path / "landing")])
    assert code == cli.EXIT_BAD_INPUT, "bad rows make the command fail after converting the good ones"
    assert [e["event_id"] for e in landed(tmp_path / "landing", "2021-03-01")] == ["e1"], "a landing date is the collector's date"
    [late] = landed(tmp_path / "landing", "2021-03-02")
    assert (late["event_id"], late["event_type"], late["page_view_id"]) == ("e2", "page_ping", "pv9")
    bad = json.loads((tmp_path / "landing" / "_bad" / "events.bad.ndjson").read_text())
    assert (bad["line"], bad["reason"]) == (4, "short_row:2/8")


def test_an_empty_file_converts_nothing_and_reports_no_line(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    report = snowplow.convert(tmp_path / "empty.csv", str(tmp_path / "landing"), fmt="csv")
    assert report.as_dict()["lines"] == 0 and not (tmp_path / "landing").exists()
