"""The generator: deterministic, realistic in the proportions the issue asks for, and honest truth."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json

import pytest

from clicklake import generator

D = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def day():
    gen = generator.DayGenerator(D, visitors=2000, seed=3)
    files, truth, summary = gen.run()
    return gen, files, truth, summary


def log_lines(files):
    for path, data in files.items():
        if path.startswith("weblogs/"):
            yield from gzip.decompress(data).decode().splitlines()


def test_same_seed_same_bytes_other_seed_other_bytes(day):
    _, files, _, _ = day
    again, _, _ = generator.DayGenerator(D, visitors=2000, seed=3).run()
    other, _, _ = generator.DayGenerator(D, visitors=2000, seed=4).run()
    assert again == files
    assert other != files


def test_landing_layout(day):
    _, files, _, _ = day
    for path in files:
        assert path.startswith(("weblogs/dt=", "events/dt="))
        if path.startswith("weblogs/"):
            _, dt_part, host, name = path.split("/")
            assert host in generator.HOSTS and name.endswith(".log.gz")
        else:
            assert path.endswith(".ndjson.gz")
    assert any(p.startswith(f"events/dt={D + dt.timedelta(days=1)}") for p in files), "late events land in tomorrow's files"


def test_traffic_mix(day):
    _, files, truth, summary = day
    lines = [line for line in log_lines(files) if line]
    paths = [line.split('"')[1].split(" ")[1] for line in lines if line.count('"') >= 6 and " " in line.split('"')[1]]
    assets = sum(p.split("?")[0].rsplit(".", 1)[-1] in ("css", "js", "png", "jpg", "webp", "ico", "woff2") for p in paths)
    bots = sum(any(k in line for k in ("bot", "Bot", "curl/", "python-requests", "UptimeRobot", "HeadlessChrome", "45.134.")) for line in lines)
    assert 0.25 <= assets / len(lines) <= 0.40
    assert 0.05 <= bots / len(lines) <= 0.12
    assert any(" 404 " in line for line in lines) and any(" 502 " in line for line in lines)
    assert any(".pdf " in line for line in lines) and any('"POST ' in line for line in lines)
    assert any("+0100]" in line for line in lines), "one host logs local time"
    channels = collections.Counter(t["channel"] for t in truth)
    assert set(channels) == {"Direct", "Organic Search", "Organic Social", "Referral", "Email", "Paid Search", "Display", "Paid Social", "Affiliates"}
    per_visitor = collections.Counter(t["visitor"] for t in truth)
    assert max(per_visitor.values()) >= 2, "some visitors come back the same day"
    assert any(t["crosses_midnight"] for t in truth)
    shared_ip = collections.defaultdict(set)
    for t in truth:
        shared_ip[t["ip"]].add(t["user_agent"])
    assert any(len(uas) > 1 for uas in shared_ip.values()), "two visitors behind one NAT"
    assert summary["events_duplicate"] > 0
    assert summary["malformed"]["unparseable_line"] >= 1 and summary["malformed"]["malformed_json"] == 1
    by_date = sum((collections.Counter(kinds) for kinds in summary["malformed_by_delivery_date"].values()), collections.Counter())
    assert by_date == summary["malformed"] and len(summary["malformed_by_delivery_date"]) == 2, \
        "the dirty lines of the day's files and of its tail in tomorrow's files, counted per delivery date"


def test_truth_sessions_are_separable_by_the_30_minute_rule(day):
    _, _, truth, _ = day
    by_visitor = collections.defaultdict(list)
    for t in truth:
        by_visitor[t["visitor"]].append((t["session_start"], t["session_end"]))
    for sessions in by_visitor.values():
        sessions.sort()
        for (_, end), (start, _) in zip(sessions, sessions[1:]):
            gap = dt.datetime.fromisoformat(start.replace("Z", "+00:00")) - dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
            assert gap > dt.timedelta(minutes=30)


def test_visitors_of_consecutive_days_never_meet_across_midnight():
    _, today, _ = generator.DayGenerator(D, visitors=300, seed=5).run()
    _, tomorrow, _ = generator.DayGenerator(D + dt.timedelta(days=1), visitors=300, seed=5).run()
    returning = {t["visitor"] for t in today} & {t["visitor"] for t in tomorrow}
    assert returning, "the population is shared across days"
    for t in today:
        if t["visitor"] in returning:
            assert t["session_end"] < f"{D}T23:00", "a returning visitor's day ends an hour before midnight"


def test_events_are_valid_json_with_the_schema_fields(day):
    _, files, _, summary = day
    required = {"event_id", "event_type", "received_at", "anonymous_id"}
    problems = collections.Counter()
    for path, data in files.items():
        if path.startswith("events/"):
            for line in gzip.decompress(data).decode().splitlines():
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    problems["malformed_json"] += 1
                    continue
                if not required <= event.keys():
                    problems["missing_field"] += 1
                elif event["event_type"] not in ("page_view", "page_ping", "link_click"):
                    problems["unknown_event_type"] += 1
                elif not event["received_at"][:4].isdigit():
                    problems["bad_time"] += 1
    assert problems == {"malformed_json": 1, "missing_field": 1, "unknown_event_type": 1, "bad_time": 1}
    assert sum(v for k, v in summary["malformed"].items() if k in generator.INVALID_EVENT_KINDS) == 4


def test_hot_keys_add_a_scraper_farm_and_a_crowd_behind_one_address_to_the_same_day(day):
    """bench-skew's day: a fifth of the log lines from one address, a tenth of the visitors behind
    another; without hot_keys neither address appears."""
    gen = day[0]
    hot = generator.DayGenerator(D, visitors=2000, seed=3, hot_keys=True)
    _, _, hot_summary = hot.run()
    by_address = collections.Counter(r.ip for r in hot.log_records)
    assert by_address[generator.SCRAPER_FARM_IP] / len(hot.log_records) == pytest.approx(0.2, abs=0.01)
    assert generator.SCRAPER_FARM_IP not in {r.ip for r in gen.log_records}
    behind_nat = {s.visitor.index for s in hot.sessions if s.visitor.ip == generator.NAT_GATEWAY_IP}
    assert 0.08 < len(behind_nat) / hot_summary["visitors"] < 0.12
    assert generator.NAT_GATEWAY_IP not in {r.ip for r in gen.log_records}
