"""Benchmark: the whole pipeline for one generated day through `clicklake run` on the embedded S3
server, against a DuckDB yardstick of its core work on a local copy of the same files.

    make bench                  # ~2,000,000 raw records (90,000 visitors)
    make bench-full             # ~10,000,000 raw records (450,000 visitors)
    make bench-growth           # ~1M, ~5M and ~10M records, one after another: how cost grows
    make bench-skew             # ~1M records with hot keys (--hot-keys): does any task hold them?
    .venv/bin/python bench/pipeline_bench.py --visitors 20000

The day comes from the project's generator (written once under .cache/bench/, reused while the
arguments stay the same) and is uploaded to a benchmark S3 server of its own (data in
.cache/bench/s3, S3 on port 8533) as s3://clicklake/bench/raw; the lake s3://clicklake/bench/lake is
emptied first (a fresh store), so every run is a first run of the date. `clicklake run` runs as a child process
exactly as a user starts it; each line it prints at the end of a step (bronze computed, bronze
gate, ..., published) closes a stage: its seconds are the run's own, its peak RSS that of the
whole process tree (the JVM and Python workers included) during the stage.

The yardstick (DuckDB, all cores) does the core work on the same files: read both sources, parse
the access-log lines (one regular expression), the events (JSON), classify (bot and asset
patterns), sessionize (30 minutes of inactivity per visitor) and build the sessions table. It has
no quarantine, no user-agent parsing, no dedup across days, no gates and no Delta writes: it is
the floor one engine reaches on this machine, not the same product.

The run keeps Spark's event log (.cache/bench/eventlog-<size>), from which spark_events.py prints
where the time went by job and which stages' records were held by one task (skew).

The last line printed is one JSON object (of the largest day, with the growth figures when several
sizes ran). A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import spark_events
from measure import PeakRss
from parse_bench import DUCKDB_PATTERN as CLF  # the parse benchmark's yardstick pattern

REPO = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 28)
S3_PORT_OFFSET = 200  # apart from the demo's server (8333) and the tests' (8433)
S3_ENV = {
    "CLICKLAKE_S3_DATA": str(REPO / ".cache" / "bench" / "s3"),
    "CLICKLAKE_S3_PORT_OFFSET": str(S3_PORT_OFFSET),
    "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{8333 + S3_PORT_OFFSET}",
    "AWS_ACCESS_KEY_ID": "bench-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-local-only",
    "AWS_REGION": "us-east-1",
    "CLICKLAKE_VISITOR_HASH_KEY": "bench-visitor-key",
}
RAW, LAKE = "s3://clicklake/bench/raw", "s3://clicklake/bench/lake"
# The step lines `clicklake run` prints (clicklake/pipeline.py), each closing one stage.
STEP_LINE = re.compile(r"^(?:(?P<layer>bronze|silver|gold): (?P<what>computed|gate passed)|(?P<published>published)) .*? in (?P<s>\d+)s")
CORE_STAGES = ("bronze computed", "silver computed", "gold computed")

BOTS = "bot|crawl|spider|slurp|curl|wget|python|headless|uptime|monitor|http|java|go-http"
ASSETS = r"\.(css|js|mjs|map|png|jpe?g|gif|webp|svg|ico|woff2?|ttf|mp4)$"


# The generator holds a whole day in memory (~50 KB a visitor at its peak: 450,000 visitors in one
# piece took over 24 GiB and were killed). Larger days are generated in shards of independent
# visitors (seeds seed, seed + 1, ...), each shard's files named apart, as more web servers and
# collectors would write them; the summary adds up the shards' line counts.
SHARD_VISITORS = 150_000


def make_day(visitors: int, seed: int, hot_keys: bool = False) -> tuple[Path, dict]:
    out = REPO / ".cache" / "bench" / f"day-{visitors}-{seed}{'-hot' if hot_keys else ''}"
    summary_path = out / "_truth" / f"dt={DAY}" / "summary.json"
    if not summary_path.exists():
        from clicklake.generator import generate

        shutil.rmtree(out, ignore_errors=True)  # a generation cut short
        shards = -(-visitors // SHARD_VISITORS)
        if shards == 1:
            generate(DAY, str(out), visitors=visitors, seed=seed, hot_keys=hot_keys)
        else:
            merged = {"log_lines": 0, "event_lines": 0, "lines_per_file": {}, "shards": shards}
            for i in range(shards):
                part = out / f"_shard-{i}"
                shard = generate(DAY, str(part), visitors=visitors // shards + (i < visitors % shards), seed=seed + i, hot_keys=hot_keys)
                for name, lines in shard["lines_per_file"].items():
                    target = Path(name).with_name(f"s{i}-{Path(name).name}")
                    (out / target).parent.mkdir(parents=True, exist_ok=True)
                    (part / name).rename(out / target)
                    merged["lines_per_file"][str(target)] = lines
                merged["log_lines"] += shard["log_lines"]
                merged["event_lines"] += shard["event_lines"]
                shutil.rmtree(part)
            summary_path.parent.mkdir(parents=True, exist_ok=True)
            summary_path.write_text(json.dumps(merged, indent=2, sort_keys=True))
    return out, json.loads(summary_path.read_text())


def day_files(day_dir: Path) -> dict[str, list[Path]]:
    return {source: sorted((day_dir / source / f"dt={DAY}").rglob("*.gz")) for source in ("weblogs", "events")}


def s3_server(command: str, env: dict) -> None:
    done = subprocess.run([str(REPO / "infra" / "s3-local"), command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"infra/s3-local {command} failed:\n{done.stdout}{done.stderr}")


def empty_s3_server(env: dict) -> None:
    """The benchmark server restarted on an empty store, for each day measured. Deleting the last
    run's objects is not enough: SeaweedFS frees their space only when it vacuums its volumes, and
    after a few runs a 10M-record day found no writable volume left (HTTP 500 on its writes)."""
    s3_server("stop", env)
    shutil.rmtree(Path(S3_ENV["CLICKLAKE_S3_DATA"]) / "store", ignore_errors=True)
    s3_server("start", env)


def upload(day_dir: Path, files: dict[str, list[Path]]) -> None:
    """The day's landing files to s3://clicklake/bench/raw (the lake starts empty: empty_s3_server)."""
    from clicklake.config import S3Settings
    from clicklake.storage import s3_client, split_s3

    client = s3_client(S3Settings.from_env())
    bucket, raw_prefix = split_s3(RAW)
    for path in (p for paths in files.values() for p in paths):
        client.upload_file(str(path), bucket, f"{raw_prefix}/{path.relative_to(day_dir)}")


def run_pipeline(env: dict, log: Path) -> tuple[list[dict], float, int]:
    """`clicklake run` for the day: its stages (name, seconds, peak RSS), wall seconds, peak RSS."""
    command = [str(Path(sys.executable).with_name("clicklake")), "run", "--date", str(DAY), "--raw", RAW, "--lake", LAKE]
    stages = []
    with PeakRss() as rss, log.open("w") as out:
        started = last = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in child.stdout:
            out.write(line)
            out.flush()  # the log shows the run's progress while it runs
            step = STEP_LINE.match(line)
            if step:
                name = f"{step['layer']} {step['what']}" if step["layer"] else "publish"
                now = time.perf_counter()
                stages.append({"stage": name, "s": float(step["s"]), "wall_s": now - last, "peak_rss_mb": rss.take() // 2**20})
                last = now
        code = child.wait()
        wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"clicklake run failed ({code}); see {log}")
    # The rest: the JVM's start, the landing listing and what lies between the steps.
    accounted = sum(s["s"] for s in stages)
    stages.insert(0, {"stage": "start + between steps", "s": round(wall - accounted), "wall_s": None, "peak_rss_mb": None})
    return stages, wall, rss.overall // 2**20


def duckdb_core(files: dict[str, list[Path]]) -> int:
    """The yardstick's core work; returns the number of sessions it finds."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute("SET enable_progress_bar = false")
    logs = ", ".join(f"'{p}'" for p in files["weblogs"])
    events = ", ".join(f"'{p}'" for p in files["events"])
    query = f"""
        WITH lines AS (
            SELECT line FROM read_csv([{logs}], columns = {{'line': 'VARCHAR'}}, delim = E'\\x01', quote = '', escape = '',
                                      header = false, auto_detect = false, compression = 'gzip')
        ), fields AS MATERIALIZED (
            SELECT regexp_extract(line, $clf, ['client', 'user', 'time', 'request', 'status', 'bytes', 'referrer', 'agent']) AS m
            FROM lines
        ), log_hits AS (
            SELECT md5(m.client || '|' || m.agent) AS visitor, try_strptime(m.time, '%d/%b/%Y:%H:%M:%S %z') AS ts,
                   split_part(split_part(m.request, ' ', 2), '?', 1) AS path, m.agent AS agent,
                   TRY_CAST(m.status AS INTEGER) AS status
            FROM fields
        ), tag_hits AS (
            SELECT DISTINCT ON (event_id) anonymous_id AS visitor, TRY_CAST(created_at AS TIMESTAMPTZ) AS ts,
                   regexp_extract(page_url, '^[a-z]+://[^/]+([^?#]*)', 1) AS path, user_agent AS agent, 200 AS status
            FROM read_ndjson([{events}], columns = {{'event_id': 'VARCHAR', 'event_type': 'VARCHAR', 'created_at': 'VARCHAR',
                                                    'anonymous_id': 'VARCHAR', 'page_url': 'VARCHAR', 'user_agent': 'VARCHAR'}},
                             compression = 'gzip', ignore_errors = true)
            WHERE event_type = 'page_view' AND event_id IS NOT NULL
        ), pages AS (
            SELECT * FROM (SELECT * FROM log_hits UNION ALL SELECT * FROM tag_hits)
            WHERE ts IS NOT NULL AND status BETWEEN 200 AND 399 AND visitor IS NOT NULL
              AND NOT regexp_matches(lower(path), $assets) AND NOT regexp_matches(lower(agent), $bots)
        ), marked AS (
            SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY visitor ORDER BY ts) <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS starts
            FROM pages
        ), numbered AS (
            SELECT *, sum(starts) OVER (PARTITION BY visitor ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session_no FROM marked
        ), sessions AS (
            SELECT visitor, session_no, min(ts) AS started, max(ts) AS ended, count(*) AS pageviews,
                   arg_min(path, ts) AS landing_page, arg_max(path, ts) AS exit_page
            FROM numbered GROUP BY visitor, session_no
        )
        SELECT count(*), sum(hash(visitor, started, ended, pageviews, landing_page, exit_page) % 1000) FROM sessions
    """
    return con.execute(query, {"clf": CLF, "assets": ASSETS, "bots": BOTS}).fetchone()[0]


def measure(visitors: int, seed: int, env: dict, hot_keys: bool = False) -> dict:
    """One generated day through `clicklake run` and the yardstick; prints its table, returns its figures."""
    t = time.perf_counter()
    day_dir, summary = make_day(visitors, seed, hot_keys)
    files = day_files(day_dir)
    # The delivery date's own records: what `clicklake run --date` reads.
    records = sum(n for path, n in summary["lines_per_file"].items() if f"/dt={DAY}/" in path)
    size_mb = sum(p.stat().st_size for paths in files.values() for p in paths) / 2**20
    print(f"input: {records:,} raw records ({summary['log_lines']:,} log lines, {summary['event_lines']:,} events over all "
          f"delivery dates), {size_mb:.0f} MiB gzip in {sum(map(len, files.values()))} files; "
          f"{time.perf_counter() - t:.0f} s to prepare", flush=True)

    t = time.perf_counter()
    empty_s3_server(env)
    upload(day_dir, files)
    print(f"uploaded to {RAW} in {time.perf_counter() - t:.0f} s", flush=True)

    with PeakRss() as rss:
        t = time.perf_counter()
        duck_sessions = duckdb_core(files)
        duck_s = time.perf_counter() - t
    duck_rss = rss.overall // 2**20
    print(f"duckdb core: {duck_sessions:,} sessions in {duck_s:.1f} s", flush=True)

    name = f"{visitors}{'-hot' if hot_keys else ''}"
    log = REPO / ".cache" / "bench" / f"run-{name}.log"
    events = REPO / ".cache" / "bench" / f"eventlog-{name}"
    shutil.rmtree(events, ignore_errors=True)
    submit_args = spark_events.submit_args(events, env.get("PYSPARK_SUBMIT_ARGS", ""))
    stages, pipeline_s, peak_rss = run_pipeline({**env, "PYSPARK_SUBMIT_ARGS": submit_args}, log)

    print(f"\n{'stage':28s} {'seconds':>8s} {'records/s':>10s} {'peak RSS MB':>12s}")
    for s in stages:
        speed = f"{records / s['s']:10,.0f}" if s["s"] else f"{'-':>10s}"
        rss_text = f"{s['peak_rss_mb']:12,d}" if s["peak_rss_mb"] is not None else f"{'-':>12s}"
        print(f"{s['stage']:28s} {s['s']:8.0f} {speed} {rss_text}")
    print(f"{'whole run (wall)':28s} {pipeline_s:8.0f} {records / pipeline_s:10,.0f} {peak_rss:12,d}")
    print(f"{'duckdb core (yardstick)':28s} {duck_s:8.1f} {records / duck_s:10,.0f} {duck_rss:12,d}")
    print(f"run log: {log}; Spark event log: {events}", flush=True)
    events_report = spark_events.report(events)
    core_spark_s = sum(s["s"] for s in stages if s["stage"] in CORE_STAGES)
    return {
        "hot_keys": hot_keys,
        "records": records,
        "visitors": visitors,
        "pipeline_s": round(pipeline_s, 1),
        "records_per_s": round(records / pipeline_s),
        "core_spark_s": core_spark_s,
        "core_duckdb_s": round(duck_s, 1),
        "ratio_vs_duckdb": round(core_spark_s / duck_s, 2),
        "peak_rss_mb": peak_rss,
        "stages_s": {s["stage"]: s["s"] for s in stages},
        "cores": os.cpu_count(),
        "skewed_stages": len(events_report["skewed_stages"]),
        "worst_stage_skew": events_report["worst_stage_skew"],
        "job_seconds_by_description": events_report["job_seconds_by_description"],
    }


def growth(runs: list[dict]) -> dict:
    """How cost grows with the day's size: seconds per million records at each size, and the
    exponent k of seconds ~ records^k between the smallest and the largest (1 = linear)."""
    import math

    small, large = runs[0], runs[-1]

    def exponent_of(seconds: str) -> float:
        return math.log(large[seconds] / small[seconds]) / math.log(large["records"] / small["records"])

    exponent, core_exponent = exponent_of("pipeline_s"), exponent_of("core_spark_s")
    print(f"\n{'records':>12s} {'pipeline s':>11s} {'s per 1M':>9s} {'core s':>7s} {'duckdb s':>9s} {'peak RSS MB':>12s}")
    for r in runs:
        print(f"{r['records']:12,d} {r['pipeline_s']:11.0f} {r['pipeline_s'] / r['records'] * 1e6:9.1f} "
              f"{r['core_spark_s']:7.0f} {r['core_duckdb_s']:9.1f} {r['peak_rss_mb']:12,d}")
    print(f"cost grows as records^{exponent:.2f} (whole run), records^{core_exponent:.2f} (core stages); 1.00 is linear")
    return {"growth_exponent": round(exponent, 2), "core_growth_exponent": round(core_exponent, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, nargs="+", default=[90_000],
                    help="visitors of the generated day (~22 raw records each); several sizes: a growth series")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hot-keys", action="store_true",
                    help="a day with hot keys: a tenth of the visitors behind one NAT address, a scraper farm on one "
                         "address sending a fifth of the log lines (generator.py, hot_keys)")
    args = ap.parse_args()

    env = {**os.environ, **S3_ENV}
    os.environ.update(S3_ENV)
    try:
        runs = [measure(visitors, args.seed, env, args.hot_keys) for visitors in sorted(args.visitors)]
    finally:
        s3_server("stop", env)
    result = runs[-1]
    if len(runs) > 1:
        result = {**result, **growth(runs), "series": [{k: r[k] for k in ("records", "pipeline_s", "core_spark_s", "core_duckdb_s",
                                                                            "peak_rss_mb")} for r in runs]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
